"""DynamoDB as :class:`~foleycache.core.ports.PendingRuns`: which task waits for which run.

One item per run, created conditionally (a retried start of the same job finds it and
only moves the task token), read when the notification arrives and deleted only once it
is handled, so a notification whose handling failed is handled again on redelivery.
Items carry ``ttl`` so a run whose notification was lost is reaped.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from foleycache.adapters.dynamodb_items import StorageErrors, is_condition_failure, put_if_absent
from foleycache.cache import names
from foleycache.core.ports import PendingRun

_SK = "RUN"
_REAP_AFTER_S = 2 * 86_400


class DynamoPendingRuns:
    def __init__(self, client: Any, table: str, now: Any) -> None:
        self.client = StorageErrors(client)
        self.table = table
        self.now = now

    def _key(self, inference_id: str) -> dict[str, Any]:
        return {"pk": {"S": names.pending_run_item(inference_id)}, "sk": {"S": _SK}}

    def put(self, run: PendingRun) -> bool:
        return put_if_absent(
            self.client,
            self.table,
            {
                **self._key(run.inference_id),
                "task_token": {"S": run.task_token},
                "job_id": {"S": run.job_id},
                "state": {"S": json.dumps(run.state)},
                "ttl": {"N": str(int(self.now()) + _REAP_AFTER_S)},
            },
        )

    def replace_token(self, inference_id: str, task_token: str, job_id: str) -> bool:
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(inference_id),
                UpdateExpression="SET task_token = :t",
                ConditionExpression="job_id = :j",  # only a retry of the same job
                ExpressionAttributeValues={":t": {"S": task_token}, ":j": {"S": job_id}},
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def get(self, inference_id: str) -> PendingRun | None:
        item = self.client.get_item(
            TableName=self.table, Key=self._key(inference_id), ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return PendingRun(
            inference_id,
            str(item["task_token"]["S"]),
            json.loads(item["state"]["S"]),
            str(item.get("job_id", {}).get("S", "")),
        )

    def delete(self, inference_id: str) -> None:
        self.client.delete_item(TableName=self.table, Key=self._key(inference_id))
