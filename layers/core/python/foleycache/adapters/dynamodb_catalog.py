"""DynamoDB as the :class:`~foleycache.core.ports.Catalog`.

Hit tracking writes at most twice per entry per day: the entry's
``last_hit`` is updated only if it is not already today (a conditional
write), and only then is the entry added to that day's partition. The
archival job reads exactly one day's partition, 90 days back, instead of
scanning every entry.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from foleycache.adapters.dynamodb_items import StorageErrors, is_condition_failure
from foleycache.cache import names

_DAY_ITEM_TTL_S = 120 * 86_400


def _day_epoch(day: str) -> int:
    return (date.fromisoformat(day) - date(1970, 1, 1)).days * 86_400


class DynamoCatalog:
    def __init__(self, client: Any, table: str) -> None:
        self.client = StorageErrors(client)
        self.table = table

    def exact_get(self, scope: str) -> str | None:
        resp = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": names.exact_item(scope)}, "sk": {"S": "X"}}
        )
        item = resp.get("Item")
        return str(item["record"]["S"]) if item else None

    def exact_put(self, scope: str, record: str) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={"pk": {"S": names.exact_item(scope)}, "sk": {"S": "X"}, "record": {"S": record}},
        )

    def touch(self, entry_id: str, day: str) -> bool:
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": names.entry_item(entry_id)}, "sk": {"S": "E"}},
                UpdateExpression="SET last_hit = :day, archived = :no",
                ConditionExpression="attribute_not_exists(last_hit) OR last_hit <> :day",
                ExpressionAttributeValues={":day": {"S": day}, ":no": {"BOOL": False}},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        self.client.put_item(
            TableName=self.table,
            Item={
                "pk": {"S": names.hit_day_item(day)},
                "sk": {"S": entry_id},
                "ttl": {"N": str(_day_epoch(day) + _DAY_ITEM_TTL_S)},
            },
        )
        return True

    def hit_on(self, day: str) -> list[str]:
        out: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": names.hit_day_item(day)}},
        }
        while True:
            resp = self.client.query(**kwargs)
            out.extend(item["sk"]["S"] for item in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return out
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def last_hit(self, entry_id: str) -> tuple[str, bool] | None:
        resp = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": names.entry_item(entry_id)}, "sk": {"S": "E"}}
        )
        item = resp.get("Item")
        if not item:
            return None
        return str(item["last_hit"]["S"]), bool(item.get("archived", {}).get("BOOL", False))

    def set_archived(self, entry_id: str, archived: bool) -> None:
        self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": names.entry_item(entry_id)}, "sk": {"S": "E"}},
            UpdateExpression="SET archived = :a",
            ExpressionAttributeValues={":a": {"BOOL": archived}},
        )

    def archived_through(self) -> str | None:
        resp = self.client.get_item(
            TableName=self.table,
            Key={"pk": {"S": names.archival_watermark_item()}, "sk": {"S": "W"}},
            ConsistentRead=True,
        )
        item = resp.get("Item")
        return str(item["day"]["S"]) if item else None

    def set_archived_through(self, day: str) -> None:
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": names.archival_watermark_item()}, "sk": {"S": "W"}},
                UpdateExpression="SET #day = :day",
                ConditionExpression="attribute_not_exists(#day) OR #day < :day",
                ExpressionAttributeNames={"#day": "day"},
                ExpressionAttributeValues={":day": {"S": day}},
            )
        except ClientError as exc:
            if not is_condition_failure(exc):
                raise
