"""The committed OpenAPI document is the one the code generates, and it says what the API does.

Regenerate after changing a route or model:
``.venv/bin/python -m foleycache.local.api_server openapi --write``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "docs" / "openapi.json"


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    # A fresh interpreter with no stack or AWS settings: the document depends on the code only.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    for name in ("UPLOADS_BUCKET", "CACHE_BUCKET", "TABLE_NAME", "MODEL_VERSION", "REDIS_URL"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "foleycache.local.api_server", "openapi"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def test_the_committed_document_is_the_generated_one(generated: dict[str, Any]) -> None:
    committed = json.loads(COMMITTED.read_text())
    assert committed == generated, (
        "docs/openapi.json differs from the code; regenerate it with "
        "`.venv/bin/python -m foleycache.local.api_server openapi --write`"
    )


def test_it_documents_the_v1_resources_and_no_unversioned_route(generated: dict[str, Any]) -> None:
    operations = {
        (method.upper(), path) for path, item in generated["paths"].items() for method in item
    }
    assert operations == {
        ("POST", "/v1/uploads"),
        ("POST", "/v1/jobs"),
        ("GET", "/v1/jobs"),
        ("GET", "/v1/jobs/{job_id}"),
        ("GET", "/v1/jobs/{job_id}/outputs"),
        ("GET", "/v1/openapi.json"),
    }


def test_every_error_answer_is_the_one_error_format(generated: dict[str, Any]) -> None:
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for path, item in generated["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == error, (method, path, status)
            assert {"422", "500"} <= set(operation["responses"]), (method, path)
    assert generated["components"]["schemas"]["ErrorBody"]["required"] == ["error", "code"]


def test_a_submission_answers_200_at_once_or_202_queued(generated: dict[str, Any]) -> None:
    responses = generated["paths"]["/v1/jobs"]["post"]["responses"]
    assert {"200", "202", "404", "409"} <= set(responses)
    headers = {p["name"].lower() for p in generated["paths"]["/v1/jobs"]["post"]["parameters"]}
    assert "idempotency-key" in headers
