"""Python values <-> DynamoDB attribute values (floats travel as Decimal)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

_ser = TypeSerializer()
_de = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    return json.loads(json.dumps(value), parse_float=Decimal)


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_from_dynamo(v) for v in value]
    return value


def serialize(value: Any) -> dict[str, Any]:
    attr: dict[str, Any] = _ser.serialize(_to_dynamo(value))
    return attr


def serialize_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: serialize(v) for k, v in item.items()}


def deserialize_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _from_dynamo(_de.deserialize(v)) for k, v in item.items()}


def is_condition_failure(exc: ClientError) -> bool:
    """DynamoDB's "the condition said no": a protocol answer, never an error."""
    return bool(exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")
