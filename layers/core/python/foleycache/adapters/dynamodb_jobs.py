"""DynamoDB as the :class:`~foleycache.core.ports.JobStore` (one item per job).

A job submitted through the API has an owner (the caller's IAM principal). Its item
then also carries ``owner_pk`` (the owner) and ``owner_sk`` (creation time, then the
job id), the keys of the table's sparse ``ByOwner`` index (``template.yaml``), which
lists one caller's jobs newest first. Items without an owner (plain S3 drops, leases,
cache bookkeeping) are not in the index at all.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import asdict, fields
from typing import Any

from botocore.exceptions import ClientError

from foleycache.adapters.dynamodb_items import (
    StorageErrors,
    deserialize_item,
    is_condition_failure,
    put_if_absent,
    serialize,
    serialize_item,
)
from foleycache.cache import names
from foleycache.core.job import JobRecord, JobStatus, is_job_id

_SK = "JOB"
_FIELDS = {f.name for f in fields(JobRecord)}
_JOB_TTL_S = 90 * 86_400
#: The sparse index of API jobs by owner (template.yaml, FoleyTable).
OWNER_INDEX = "ByOwner"
_OWNER_PK = "owner_pk"
_OWNER_SK = "owner_sk"
_CURSOR_KEYS = ("pk", "sk", _OWNER_PK, _OWNER_SK)
#: Pages read for one listing call when a status filter leaves them thin.
_MAX_PAGES = 8


def owner_sort_key(created_at: float, job_id: str) -> str:
    """Creation time, fixed width so that text order is time order, then the id."""
    return f"{created_at:020.6f}#{job_id}"


class InvalidCursor(ValueError):
    """A listing cursor that this store did not hand out (or not to this owner)."""


def _encode_cursor(key: dict[str, Any]) -> str:
    plain = {name: key[name]["S"] for name in _CURSOR_KEYS}
    text = json.dumps(plain, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def _decode_cursor(cursor: str, owner: str) -> dict[str, Any]:
    """The ExclusiveStartKey a cursor stands for; checked so that nothing malformed, and
    nothing of another owner's, reaches DynamoDB."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        plain = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor("the cursor is not one this API returned") from exc
    if not isinstance(plain, dict) or sorted(plain) != sorted(_CURSOR_KEYS):
        raise InvalidCursor("the cursor is not one this API returned")
    if not all(isinstance(v, str) and 0 < len(v) <= 1024 for v in plain.values()):
        raise InvalidCursor("the cursor is not one this API returned")
    job_id = plain[_OWNER_SK].rpartition("#")[2]
    if (
        plain[_OWNER_PK] != owner
        or plain["sk"] != _SK
        or plain["pk"] != names.job_item(job_id)
        or not is_job_id(job_id)
    ):
        raise InvalidCursor("the cursor belongs to another listing")
    return {name: {"S": plain[name]} for name in _CURSOR_KEYS}


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
        if job.owner:  # an index key may not be empty: ownerless jobs stay out of the index
            body[_OWNER_PK] = job.owner
            body[_OWNER_SK] = owner_sort_key(job.created_at, job.job_id)
        return put_if_absent(
            self.client, self.table, {**self._key(job.job_id), **serialize_item(body)}
        )

    def get(self, job_id: str) -> JobRecord | None:
        resp = self.client.get_item(
            TableName=self.table, Key=self._key(job_id), ConsistentRead=True
        )
        if "Item" not in resp:
            return None
        return _record(resp["Item"])

    def scan_all(self) -> Iterator[JobRecord]:
        """Every job record, by a table scan: for the local stack's ``foleycache jobs list``
        (a deployment lists by owner, through the ByOwner index)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "begins_with(pk, :job)",
            "ExpressionAttributeValues": {":job": {"S": names.job_item("")}},
        }
        while True:
            resp = self.client.scan(**kwargs)
            yield from (_record(item) for item in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                return
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    @staticmethod
    def decode_cursor(owner: str, cursor: str) -> dict[str, Any]:
        """Where a listing resumes; raises :class:`InvalidCursor` (a ``ValueError``) for
        anything this store did not hand to ``owner``, before any call to DynamoDB."""
        return _decode_cursor(cursor, owner)

    def list_by_owner(
        self, owner: str, status: JobStatus | None, limit: int, start: dict[str, Any] | None
    ) -> tuple[list[JobRecord], str | None]:
        """One page of ``owner``'s jobs, newest first, and the cursor of the next page.

        ``start`` comes from :meth:`decode_cursor`. A status filter is applied by
        DynamoDB after reading (``Limit`` counts items read), so thin pages are read on,
        up to a few; a page may then hold fewer than ``limit`` jobs and still have a
        cursor.
        """
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": OWNER_INDEX,
            "KeyConditionExpression": "#o = :o",
            "ExpressionAttributeNames": {"#o": _OWNER_PK},
            "ExpressionAttributeValues": {":o": {"S": owner}},
            "ScanIndexForward": False,
        }
        if status is not None:
            query["FilterExpression"] = "#s = :s"
            query["ExpressionAttributeNames"]["#s"] = "status"
            query["ExpressionAttributeValues"][":s"] = {"S": status.value}
        found: list[dict[str, Any]] = []
        for _ in range(_MAX_PAGES):
            page_size = limit - len(found) if status is None else max(limit, 50)
            resp = self.client.query(
                **query, Limit=page_size, **({"ExclusiveStartKey": start} if start else {})
            )
            items: list[dict[str, Any]] = resp.get("Items", [])
            room = limit - len(found)
            found += items[:room]
            start = resp.get("LastEvaluatedKey")
            if len(items) > room:  # the page held more than fits: resume after the last kept
                return [_record(i) for i in found], _encode_cursor(found[-1])
            if start is None or len(found) == limit:
                break
        return [_record(i) for i in found], _encode_cursor(start) if start else None

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


def _record(raw: dict[str, Any]) -> JobRecord:
    item = deserialize_item(raw)
    body = {k: v for k, v in item.items() if k in _FIELDS}
    body["status"] = JobStatus(body["status"])
    return JobRecord(**body)
