"""DynamoDB as the :class:`~foleycache.core.ports.JobStore` (one item per job)."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from botocore.exceptions import ClientError

from foleycache.adapters.dynamodb_items import (
    StorageErrors,
    deserialize_item,
    is_condition_failure,
    serialize,
    serialize_item,
)
from foleycache.cache import names
from foleycache.core.job import JobRecord, JobStatus

_SK = "JOB"
_FIELDS = {f.name for f in fields(JobRecord)}
_JOB_TTL_S = 90 * 86_400


class DynamoJobStore:
    def __init__(self, client: Any, table: str) -> None:
        self.client = StorageErrors(client)
        self.table = table

    @staticmethod
    def _key(job_id: str) -> dict[str, Any]:
        return {"pk": {"S": names.job_item(job_id)}, "sk": {"S": _SK}}

    def create(self, job: JobRecord) -> bool:
        body = asdict(job)
        body["status"] = job.status.value
        body["ttl"] = int(job.created_at) + _JOB_TTL_S
        try:
            self.client.put_item(
                TableName=self.table,
                Item={**self._key(job.job_id), **serialize_item(body)},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def get(self, job_id: str) -> JobRecord | None:
        resp = self.client.get_item(
            TableName=self.table, Key=self._key(job_id), ConsistentRead=True
        )
        if "Item" not in resp:
            return None
        item = deserialize_item(resp["Item"])
        body = {k: v for k, v in item.items() if k in _FIELDS}
        body["status"] = JobStatus(body["status"])
        return JobRecord(**body)

    def update(self, job_id: str, **values: Any) -> None:
        unknown = set(values) - _FIELDS
        if unknown:
            raise ValueError(f"unknown job fields: {sorted(unknown)}")
        attr_names = {f"#f{i}": name for i, name in enumerate(values)}
        exprs = {f":v{i}": serialize(value) for i, value in enumerate(values.values())}
        self.client.update_item(
            TableName=self.table,
            Key=self._key(job_id),
            UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(values))),
            ExpressionAttributeNames=attr_names,
            ExpressionAttributeValues=exprs,
            ConditionExpression="attribute_exists(pk)",
        )

    def record_timing(self, job_id: str, stage: str, ms: float) -> None:
        self.client.update_item(
            TableName=self.table,
            Key=self._key(job_id),
            UpdateExpression="SET timings_ms.#s = :ms",
            ExpressionAttributeNames={"#s": stage},
            ExpressionAttributeValues={":ms": serialize(ms)},
        )

    def transition(
        self, job_id: str, from_status: JobStatus, to_status: JobStatus, stage: str
    ) -> bool:
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._key(job_id),
                UpdateExpression="SET #status = :to, #stage = :stage",
                ConditionExpression="#status = :from",
                ExpressionAttributeNames={"#status": "status", "#stage": "stage"},
                ExpressionAttributeValues={
                    ":to": {"S": to_status.value},
                    ":from": {"S": from_status.value},
                    ":stage": {"S": stage},
                },
            )
        except ClientError as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True
