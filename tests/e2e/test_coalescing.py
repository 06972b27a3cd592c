"""64 concurrent identical requests: one GPU run, and the waiters are resumed, not polling.

Each upload is its own job (its own execution). They all miss, contend for one lease;
one wins and starts the run; the others queue their task tokens on the lease and are
resumed by the notification's handler. Counted on the real parts: the inference
server's own request log, and each execution's Step Functions history.
"""

from __future__ import annotations

import concurrent.futures
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from foleycache.local.stack import StackInfo

pytestmark = pytest.mark.e2e

CONCURRENT = 64
PROMPT = "crackling fire, coalescing test"


def _inference_calls(stack: StackInfo) -> int:
    with urllib.request.urlopen(f"{stack.inference_url}/stats", timeout=5) as resp:
        stats = json.loads(resp.read())
    return int(stats["invocations"]) + int(stats.get("async_invocations", 0))


def _lease_tasks(sfn: Any, execution_arn: str) -> int:
    """How many times the execution entered the Lease state (a polling loop re-enters)."""
    events = sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
    return sum(
        1
        for e in events
        if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "Lease"
    )


def test_identical_concurrent_requests_cost_one_inference_and_no_polling(
    local_stack: StackInfo, clips_dir: Path
) -> None:
    from foleycache.adapters.wiring import services
    from foleycache.pipeline.ingest import submit_job

    s3, sfn = boto3.client("s3"), boto3.client("stepfunctions")
    body = (clips_dir / "moviepy_fire2.mp4").read_bytes()
    before = _inference_calls(local_stack)
    # As the CLI does: a job record with its prompt, then the upload to the job's key (no
    # checksum, so no job is answered as an exact repeat of another: all of them contend).
    jobs = [submit_job(services(), PROMPT, "coalesce-fire.mp4") for _ in range(CONCURRENT)]

    def upload(i: int) -> None:
        s3.put_object(Bucket=local_stack.env["UPLOADS_BUCKET"], Key=jobs[i].key, Body=body)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(upload, range(CONCURRENT)))

    arn = local_stack.env["STATE_MACHINE_ARN"]
    deadline = time.monotonic() + 600
    ours: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        executions = sfn.list_executions(stateMachineArn=arn, maxResults=1000)["executions"]
        ours = [e for e in executions if _is_ours(sfn, e["executionArn"])]
        if len(ours) == CONCURRENT and all(e["status"] != "RUNNING" for e in ours):
            break
        time.sleep(2)
    assert len(ours) == CONCURRENT
    assert {e["status"] for e in ours} == {"SUCCEEDED"}
    assert _inference_calls(local_stack) - before == 1
    entries = [_lease_tasks(sfn, e["executionArn"]) for e in ours]
    # The winner enters Lease once; a waiter at most twice (resumed to look up, a hit).
    assert max(entries) <= 2, entries


_OURS: dict[str, bool] = {}


def _is_ours(sfn: Any, execution_arn: str) -> bool:
    if execution_arn not in _OURS:
        described = json.loads(sfn.describe_execution(executionArn=execution_arn)["input"])
        _OURS[execution_arn] = str(described.get("key", "")).endswith("/coalesce-fire.mp4")
    return _OURS[execution_arn]
