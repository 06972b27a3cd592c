"""DynamoDB as the :class:`~foleycache.core.ports.VersionRegistry`: one small partition.

``VERSIONS``/``SERVING`` holds the stable version the archival run last saw;
``VERSIONS``/``RETIRED#{v}`` one item per retired version, with the sweep's progress.
A handful of items, read with one Query: nothing is scanned.
"""

from __future__ import annotations

from typing import Any

from foleycache.adapters.dynamodb_items import StorageErrors, put_if_absent
from foleycache.cache import names
from foleycache.core.ports import RetiredVersion

_RETIRED = "RETIRED#"


class DynamoVersionRegistry:
    def __init__(self, client: Any, table: str) -> None:
        self.client = StorageErrors(client)
        self.table = table

    def _key(self, sort_key: str) -> dict[str, Any]:
        return {"pk": {"S": names.VERSIONS_ITEM}, "sk": {"S": sort_key}}

    def serving(self) -> str | None:
        item = self.client.get_item(
            TableName=self.table, Key=self._key(names.SERVING_SORT_KEY)
        ).get("Item")
        return str(item["version"]["S"]) if item else None

    def set_serving(self, version: str) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={**self._key(names.SERVING_SORT_KEY), "version": {"S": version}},
        )

    def retire(self, version: str, day: str, sweep_from: str) -> bool:
        return put_if_absent(
            self.client,
            self.table,
            {
                **self._key(names.retired_version_sort_key(version)),
                "version": {"S": version},
                "retired_on": {"S": day},
                "swept_to": {"S": sweep_from},
            },
        )

    def restore(self, version: str) -> None:
        self.client.delete_item(
            TableName=self.table, Key=self._key(names.retired_version_sort_key(version))
        )

    def retired(self) -> list[RetiredVersion]:
        resp = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :retired)",
            ExpressionAttributeValues={
                ":pk": {"S": names.VERSIONS_ITEM},
                ":retired": {"S": _RETIRED},
            },
        )
        return [
            RetiredVersion(
                str(item["version"]["S"]),
                str(item["retired_on"]["S"]),
                str(item["swept_to"]["S"]),
            )
            for item in resp.get("Items", [])
        ]

    def set_swept_to(self, version: str, day: str) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=self._key(names.retired_version_sort_key(version)),
            UpdateExpression="SET swept_to = :day",
            ExpressionAttributeValues={":day": {"S": day}},
        )
