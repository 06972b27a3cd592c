"""Resource definitions read from ``template.yaml`` itself.

The local stack and the tests build their DynamoDB table from the deployed
template's own definition, so a key, attribute or billing change in the
template reaches them without a second copy that could drift.

Guarantees: short-form intrinsics (``!Ref``, ``!GetAtt``, ``!Sub``, ...) load
as their long-form mappings (``{"Ref": ...}``, ``{"Fn::GetAtt": [...]}``), so
the result is the template as CloudFormation sees it; nothing is evaluated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

#: Short-form tags whose long form is not ``Fn::<tag>``.
_LONG_FORM_NAMES = {"Ref": "Ref", "Condition": "Condition"}

#: DynamoDB CreateTable arguments that the template's table properties map to one-to-one.
_TABLE_ARGUMENTS = (
    "KeySchema",
    "AttributeDefinitions",
    "BillingMode",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "ProvisionedThroughput",
    "StreamSpecification",
)


class _CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    """A safe loader that also understands CloudFormation's short-form tags."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    name = _LONG_FORM_NAMES.get(tag_suffix, f"Fn::{tag_suffix}")
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            # "Resource.Attribute" in short form is ["Resource", "Attribute"] in long form
            # (attributes may themselves contain dots: Endpoint.Address).
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no fourth node kind
        raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}")
    return {name: value}


_CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path | str) -> dict[str, Any]:
    """The template at ``path`` as a plain dict, intrinsics in long form."""
    with Path(path).open(encoding="utf-8") as handle:
        loaded = yaml.load(handle, Loader=_CloudFormationLoader)
    if not isinstance(loaded, dict) or "Resources" not in loaded:
        raise ValueError(f"{path} is not a CloudFormation template (no Resources)")
    return loaded


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for every resource of ``resource_type``."""
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == resource_type
    }


def _the_table_properties(template: dict[str, Any]) -> dict[str, Any]:
    """The single table's properties: more or fewer tables is an error, not a guess."""
    tables = resources_of_type(template, "AWS::DynamoDB::Table")
    if len(tables) != 1:
        raise ValueError(f"expected exactly one AWS::DynamoDB::Table, found {sorted(tables)}")
    (table,) = tables.values()
    properties: dict[str, Any] = table["Properties"]
    return properties


def table_spec(template: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for DynamoDB ``create_table`` (all but ``TableName``)."""
    properties = _the_table_properties(template)
    return {name: properties[name] for name in _TABLE_ARGUMENTS if name in properties}


def table_ttl_attribute(template: dict[str, Any]) -> str | None:
    """The table's TTL attribute, or None when TTL is not enabled.

    Separate from :func:`table_spec` because TTL is a second API call
    (``update_time_to_live``), not a ``create_table`` argument.
    """
    ttl = _the_table_properties(template).get("TimeToLiveSpecification") or {}
    return str(ttl["AttributeName"]) if ttl.get("Enabled") else None
