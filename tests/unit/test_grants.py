"""The roles the template deploys, read after SAM's own transform: narrow grants only.

Whether each grant is *enough* is proven by running the pipeline with moto enforcing
these roles (tests/e2e/test_deployed_artefacts.py); here, that none is too broad.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from foleycache.local.sam_transform import resources_of_type, transformed

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def roles() -> dict[str, dict[str, Any]]:
    return resources_of_type(transformed(REPO, {"Stage": "test"}), "AWS::IAM::Role")


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for policy in role["Properties"].get("Policies", []):
        statements = policy["PolicyDocument"]["Statement"]
        found += statements if isinstance(statements, list) else [statements]
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_every_function_has_its_own_role(roles: dict[str, dict[str, Any]]) -> None:
    functions = {r.removesuffix("Role") for r in roles if r.endswith("FunctionRole")}
    assert len(functions) == 12


#: Actions IAM authorizes on no resource but "*" (a task token is the capability).
NO_RESOURCE_LEVEL = {"states:SendTaskSuccess", "states:SendTaskFailure"}


def test_no_function_is_granted_a_wildcard_action(roles: dict[str, dict[str, Any]]) -> None:
    for name, role in roles.items():
        if not name.endswith("FunctionRole"):
            continue
        for statement in _statements(role):
            actions = set(_as_list(statement["Action"]))
            for action in actions:
                assert "*" not in action, (name, action)
            if statement.get("Resource") in ("*", ["*"]):
                assert actions <= NO_RESOURCE_LEVEL, (name, statement)


def test_s3_grants_name_a_prefix_never_a_whole_bucket_of_objects(
    roles: dict[str, dict[str, Any]],
) -> None:
    for name, role in roles.items():
        if not name.endswith("FunctionRole"):
            continue
        for statement in _statements(role):
            object_actions = [a for a in _as_list(statement["Action"]) if a.startswith("s3:")]
            if not object_actions or object_actions == ["s3:ListBucket"]:
                continue
            for resource in _as_list(statement["Resource"]):
                text = str(resource)
                assert not text.rstrip("}'\"]").endswith("}/*"), (name, resource)


def test_no_function_may_change_bucket_lifecycle_or_delete_objects(
    roles: dict[str, dict[str, Any]],
) -> None:
    for name, role in roles.items():
        for statement in _statements(role):
            for action in _as_list(statement["Action"]):
                assert action not in {"s3:PutLifecycleConfiguration", "s3:DeleteObject"}, name


def _actions(role: dict[str, Any]) -> set[str]:
    return {a for st in _statements(role) for a in _as_list(st["Action"])}


def test_invalidation_may_only_list_and_tag_the_cache(roles: dict[str, dict[str, Any]]) -> None:
    """It reclaims space by tagging for the lifecycle rule: it never deletes an object,
    and touches neither the table nor the uploads."""
    role = roles["InvalidateFunctionRole"]
    granted = _actions(role) - {"sqs:SendMessage"}
    assert granted == {"s3:ListBucket", "s3:PutObjectTagging"}
    for statement in _statements(role):
        if "s3:PutObjectTagging" in _as_list(statement["Action"]):
            assert all("/cache/*" in str(r) for r in _as_list(statement["Resource"]))


def test_a_failed_archival_run_lands_in_its_own_queue(roles: dict[str, dict[str, Any]]) -> None:
    sends = [
        st for st in _statements(roles["ArchiveFunctionRole"]) if "sqs:SendMessage" in st["Action"]
    ]
    assert sends and all("ArchiveFailureQueue" in str(st["Resource"]) for st in sends)
