"""What every DynamoDB adapter shares: attribute values (floats travel as Decimal), the
condition-failure check, and the one place where DynamoDB faults become
:class:`~foleycache.core.errors.StorageUnavailable`, so Step Functions retries them."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from foleycache.core.errors import StorageUnavailable

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


def put_if_absent(client: Any, table: str, item: dict[str, Any]) -> bool:
    """Write ``item`` unless an item with its key exists; False where one does."""
    try:
        client.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    except ClientError as exc:
        if is_condition_failure(exc):
            return False
        raise
    return True


#: Throttling and service-side faults: a retry can succeed.
_TRANSIENT_CODES = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}
_NETWORK = (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError)


def _transient(exc: ClientError) -> bool:
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return exc.response.get("Error", {}).get("Code") in _TRANSIENT_CODES or status >= 500


class StorageErrors:
    """A DynamoDB client whose throttling, 5xx and network faults raise
    ``StorageUnavailable``; every other answer (a failed condition included) is unchanged."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except ClientError as exc:
                if _transient(exc):
                    raise StorageUnavailable(f"DynamoDB {name}: {exc}") from exc
                raise
            except _NETWORK as exc:
                raise StorageUnavailable(f"DynamoDB {name}: {exc}") from exc

        return call
