"""DynamoDB conditional writes as the :class:`~foleycache.core.lease.LeaseStore`.

Each method is one conditional request; ``ConditionalCheckFailedException``
is the protocol's "no", never an error. Expiry is checked in the condition
(TTL deletion lags), and the item also carries ``ttl`` so DynamoDB reaps
abandoned leases eventually.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from foleycache.adapters.dynamodb_items import StorageErrors, deserialize_item, is_condition_failure
from foleycache.core.lease import LeaseRecord

_SK = "LEASE"
_REAP_AFTER_S = 3600


class DynamoLeaseStore:
    def __init__(self, client: Any, table: str) -> None:
        self.client = StorageErrors(client)
        self.table = table

    def _key(self, key: str) -> dict[str, Any]:
        return {"pk": {"S": key}, "sk": {"S": _SK}}

    def put_if_free(self, record: LeaseRecord, now: float) -> LeaseRecord | None:
        try:
            resp = self.client.put_item(
                TableName=self.table,
                Item={
                    **self._key(record.key),
                    "owner": {"S": record.owner},  # the holder's secret token
                    "expires_at": {"N": repr(record.expires_at)},  # when others may take over
                    "ttl": {"N": str(int(record.expires_at) + _REAP_AFTER_S)},  # reaping only
                },
                # free = never taken, or its holder's time is up
                ConditionExpression="attribute_not_exists(pk) OR expires_at <= :now",
                ExpressionAttributeValues={":now": {"N": repr(now)}},
                ReturnValues="ALL_OLD",  # an expired lease replaced: a takeover
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
            old = deserialize_item(exc.response.get("Item", {}))
            return LeaseRecord(
                record.key, str(old.get("owner", "")), float(old.get("expires_at", 0))
            )
        replaced = deserialize_item(resp.get("Attributes", {}))
        if not replaced:
            return None
        return LeaseRecord(
            record.key, str(replaced.get("owner", "")), float(replaced.get("expires_at", 0))
        )

    def delete_if_owner(self, key: str, owner: str) -> list[str] | None:
        try:
            resp = self.client.delete_item(
                TableName=self.table,
                Key=self._key(key),
                ConditionExpression="#owner = :owner",  # never delete a successor's lease
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
                ReturnValues="ALL_OLD",  # the waiters to resume, in the same request
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return None
            raise
        return sorted(resp.get("Attributes", {}).get("waiters", {}).get("SS", []))

    def add_waiter(self, key: str, waiter: str, now: float) -> bool:
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(key),
                UpdateExpression="ADD waiters :w",
                # only behind a live holder: a released or expired lease has nobody to wait for
                ConditionExpression="attribute_exists(pk) AND expires_at > :now",
                ExpressionAttributeValues={":w": {"SS": [waiter]}, ":now": {"N": repr(now)}},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True
