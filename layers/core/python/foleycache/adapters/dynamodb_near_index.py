"""The durable near-duplicate index in DynamoDB: one item per bucket with a string set.

A lookup is ``ceil(buckets / 100)`` BatchGetItem calls (one for the default
67-bucket layout), however many fingerprints are stored.
"""

from __future__ import annotations

from typing import Any

from foleycache.adapters.dynamodb_items import StorageErrors
from foleycache.cache import names

_SK = "IX"
_BATCH = 100


class DynamoNearIndex:
    def __init__(self, client: Any, table: str) -> None:
        self.client = StorageErrors(client)
        self.table = table

    @staticmethod
    def _key(scope: str, bucket: str) -> dict[str, Any]:
        return {"pk": {"S": names.index_bucket_item(scope, bucket)}, "sk": {"S": _SK}}

    def _update(self, scope: str, buckets: list[str], member: str, op: str) -> None:
        for bucket in buckets:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(scope, bucket),
                UpdateExpression=f"{op} fps :m",
                ExpressionAttributeValues={":m": {"SS": [member]}},
            )

    def add(self, scope: str, buckets: list[str], member: str) -> None:
        self._update(scope, buckets, member, "ADD")

    def remove(self, scope: str, buckets: list[str], member: str) -> None:
        self._update(scope, buckets, member, "DELETE")

    def members(self, scope: str, buckets: list[str]) -> set[str]:
        found: set[str] = set()
        unique = list(dict.fromkeys(buckets))
        for start in range(0, len(unique), _BATCH):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [self._key(scope, b) for b in unique[start : start + _BATCH]],
                    "ProjectionExpression": "fps",
                }
            }
            while request:
                resp = self.client.batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self.table, []):
                    found.update(item.get("fps", {}).get("SS", []))
                request = resp.get("UnprocessedKeys") or {}
        return found
