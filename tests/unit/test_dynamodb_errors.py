"""DynamoDB faults reach Step Functions as StorageUnavailable (retried); answers do not."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.stub import Stubber

from foleycache.adapters.dynamodb_jobs import DynamoJobStore
from foleycache.adapters.dynamodb_leases import DynamoLeaseStore
from foleycache.core.errors import StorageUnavailable
from foleycache.core.lease import LeaseRecord


def _client() -> Any:
    return boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ProvisionedThroughputExceededException", 400),
        ("ThrottlingException", 400),
        ("RequestLimitExceeded", 400),
        ("InternalServerError", 500),
        ("ServiceUnavailable", 503),
    ],
)
def test_throttling_and_5xx_are_storage_unavailable(code: str, status: int) -> None:
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error("get_item", service_error_code=code, http_status_code=status)
        with pytest.raises(StorageUnavailable) as raised:
            DynamoJobStore(client, "t").get("job-1")
    assert raised.value.retryable
    assert isinstance(raised.value.__cause__, ClientError)


def test_a_timeout_is_storage_unavailable() -> None:
    client = _client()

    def timeout(**_: Any) -> None:
        raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    client.meta.events.register("before-send.dynamodb.GetItem", timeout)
    with pytest.raises(StorageUnavailable):
        DynamoJobStore(client, "t").get("job-1")


def test_a_failed_condition_is_still_the_protocols_answer() -> None:
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error(
            "put_item",
            service_error_code="ConditionalCheckFailedException",
            http_status_code=400,
            response_meta={},
            modeled_fields={"Item": {"owner": {"S": "other"}, "expires_at": {"N": "99"}}},
        )
        holder = DynamoLeaseStore(client, "t").put_if_free(LeaseRecord("k", "me", 50.0), 10.0)
    assert holder == LeaseRecord("k", "other", 99.0)


def test_a_request_error_is_not_retried_as_unavailable() -> None:
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error("get_item", service_error_code="ValidationException")
        with pytest.raises(ClientError):
            DynamoJobStore(client, "t").get("job-1")
