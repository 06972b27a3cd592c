"""Plain S3 drops on the real local stack: the S3 event starts the job, with the prompt
from a sidecar written first; a drop with no prompt (and no DEFAULT_PROMPT) fails at once
with a job record that says so.

Why a sidecar and not the object's metadata here: moto delivers the notification inside
the PUT, before it stores the metadata (see ``pipeline.ingest.drop_prompt``), so a drop's
``prompt`` metadata works on AWS only; the sidecar works on both.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from foleycache.local.stack import StackInfo
from foleycache.pipeline.ingest import SIDECAR_SUFFIX

pytestmark = pytest.mark.integration


def job_for(stack: StackInfo, key: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """The job record of the drop at ``key`` (its id derives from the S3 event)."""
    client = boto3.client("dynamodb")
    deadline = time.monotonic() + timeout_s
    while True:
        items = client.scan(
            TableName=stack.env["TABLE_NAME"],
            FilterExpression="sk = :job AND #k = :key",
            ExpressionAttributeNames={"#k": "key"},
            ExpressionAttributeValues={":job": {"S": "JOB"}, ":key": {"S": key}},
        )["Items"]
        if items:
            assert len(items) == 1, items
            de = TypeDeserializer()
            return {k: de.deserialize(v) for k, v in items[0].items()}
        assert time.monotonic() < deadline, f"no job for {key}"
        time.sleep(0.2)


def wait_done(stack: StackInfo, key: str, timeout_s: float = 300.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job = job_for(stack, key)
        if job["status"] in {"succeeded", "failed"}:
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.25)


def test_a_drop_with_a_prompt_sidecar_runs_end_to_end(
    local_stack: StackInfo, clips_dir: Path
) -> None:
    s3 = boto3.client("s3")
    bucket = local_stack.env["UPLOADS_BUCKET"]
    key = f"uploads/drops-{uuid.uuid4().hex[:8]}/book.mkv"
    prompt = "pages riffled by a thumb, from a sidecar"
    s3.put_object(Bucket=bucket, Key=key + SIDECAR_SUFFIX, Body=prompt.encode())
    s3.put_object(Bucket=bucket, Key=key, Body=(clips_dir / "intel_asl_book.mkv").read_bytes())
    job = wait_done(local_stack, key)
    assert job["status"] == "succeeded", job
    assert job["prompt"] == prompt and job["prompt_source"] == "sidecar"
    assert job["owner"] == ""  # a drop has no API owner
    assert job["outputs"]["video"].startswith("outputs/")
    assert s3.head_object(Bucket=bucket, Key=job["outputs"]["video"])["ContentLength"] > 1000


def test_a_drop_with_no_prompt_fails_with_a_record_that_says_so(local_stack: StackInfo) -> None:
    s3 = boto3.client("s3")
    key = f"uploads/drops-{uuid.uuid4().hex[:8]}/silent.mp4"
    s3.put_object(Bucket=local_stack.env["UPLOADS_BUCKET"], Key=key, Body=b"not even a video")
    job = job_for(local_stack, key)
    assert job["status"] == "failed" and job["stage"] == "ingest", job
    assert job["error"]["code"] == "InvalidPrompt"
    assert "no prompt for this upload" in job["error"]["message"]
    assert SIDECAR_SUFFIX in job["error"]["message"]  # and it says how to give one
    executions = boto3.client("stepfunctions").list_executions(
        stateMachineArn=local_stack.env["STATE_MACHINE_ARN"]
    )["executions"]
    assert job["job_id"] not in {e["name"] for e in executions}  # nothing was started


def test_a_drop_whose_sidecar_is_unusable_fails_saying_why(local_stack: StackInfo) -> None:
    s3 = boto3.client("s3")
    bucket = local_stack.env["UPLOADS_BUCKET"]
    key = f"uploads/drops-{uuid.uuid4().hex[:8]}/noisy.mp4"
    s3.put_object(Bucket=bucket, Key=key + SIDECAR_SUFFIX, Body=b"static \x07\x07 bells")
    s3.put_object(Bucket=bucket, Key=key, Body=b"not even a video")
    job = job_for(local_stack, key)
    assert job["status"] == "failed" and job["error"]["code"] == "InvalidPrompt", job
    assert "the prompt from the sidecar is not usable" in job["error"]["message"]
