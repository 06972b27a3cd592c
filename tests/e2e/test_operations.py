"""Operating the local stack: invalidation and archival run as deployed functions
(invoked through moto's Lambda, on real Redis and moto's S3 and DynamoDB), and
``cache stats`` and ``jobs list`` report the same finished jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis

from foleycache.cache import names
from foleycache.cache.entry import CacheEntry
from foleycache.core.keys import CacheKey
from foleycache.local.stack import StackInfo

pytestmark = pytest.mark.e2e

RETIRED = "retired-ops-1"
PROMPT = "footsteps on gravel"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "foleycache.local.cli", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=900,
        check=False,
    )


def seed(version: str, n: int) -> list[CacheKey]:
    """Entries of another model version, written by the same code the pipeline uses."""
    from foleycache.adapters.wiring import services

    keys = []
    for i in range(n):
        key = CacheKey.for_request(f"{i + 1:016x}", PROMPT, version, 1)
        services().cache_blobs.put_bytes(names.l2_audio(key), b"RIFF")
        services().cache.store(CacheEntry(key, names.l2_audio(key), 2.0, 48000, {}, 0.0))
        keys.append(key)
    return keys


def tags(bucket: str, key: str) -> dict[str, str]:
    found = boto3.client("s3").get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    return {t["Key"]: t["Value"] for t in found}


def test_invalidation_runs_as_a_function_in_pages_and_resumes(local_stack: StackInfo) -> None:
    keys = seed(RETIRED, 6)
    current = seed(local_stack.env["MODEL_VERSION"], 1)[0]
    r = redis.Redis(port=local_stack.redis_port)
    assert len(list(r.scan_iter(match=f"fc:{RETIRED}/*"))) == 6

    # One page by hand, through the Lambda API, then the CLI resumes from its cursor.
    lam = boto3.client("lambda")
    resp = lam.invoke(
        FunctionName=local_stack.functions["InvalidateFunction"],
        Payload=json.dumps({"model_version": RETIRED, "cursor": None, "budget": 4}).encode(),
    )
    first = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, first
    assert first["done"] is False and first["cursor"] is not None
    done = cli(
        "cache", "invalidate", "--model-version", RETIRED, "--budget", "4",
        "--resume", json.dumps(first["cursor"]), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["done"] and report["pages"] >= 3  # 12 L2 objects at 4 a page
    assert first["l1_keys_removed"] + report["l1_keys_removed"] == 6
    assert first["l2_objects_marked"] + report["l2_objects_marked"] == 12

    assert list(r.scan_iter(match=f"fc:{RETIRED}/*")) == []
    assert r.exists(names.redis_entry(current))  # another version is untouched
    cache_bucket = local_stack.env["CACHE_BUCKET"]
    for key in keys:
        assert tags(cache_bucket, names.l2_entry(key)) == {"foleycache:archive": "true"}
    assert tags(cache_bucket, names.l2_entry(current)) == {}

    again = json.loads(cli("cache", "invalidate", "--model-version", RETIRED, "--json").stdout)
    assert again["done"] and again["l1_keys_removed"] == 0  # idempotent

    bad = lam.invoke(
        FunctionName=local_stack.functions["InvalidateFunction"],
        Payload=json.dumps({"model_version": RETIRED, "cursor": {"pattern": -1}}).encode(),
    )
    assert bad.get("FunctionError") and "cursor" in bad["Payload"].read().decode()


def test_archival_catches_up_missed_days_once(local_stack: StackInfo) -> None:
    from foleycache.adapters.wiring import services

    catalog = services().catalog
    assert catalog is not None
    keys = seed("archival-ops-1", 3)
    base = date(2031, 3, 1)
    for i, key in enumerate(keys):  # last hits on three consecutive days
        catalog.touch(names.entry_id(key), (base + timedelta(days=i)).isoformat())
    after = int(local_stack.env.get("ARCHIVE_AFTER_DAYS", "90"))
    run_on = base + timedelta(days=after + 2)  # two daily runs were missed

    def run(day: date) -> dict[str, Any]:
        event = {"version": "0", "id": "e", "detail-type": "Scheduled Event", "source":
                 "aws.events", "account": "123456789012", "time": f"{day.isoformat()}T03:00:00Z",
                 "region": "us-east-1", "resources": [], "detail": {}}  # fmt: skip
        resp = boto3.client("lambda").invoke(
            FunctionName=local_stack.functions["ArchiveFunction"], Payload=json.dumps(event)
        )
        body: dict[str, Any] = json.loads(resp["Payload"].read())
        assert "FunctionError" not in resp, body
        return body

    report = run(run_on)
    assert report["archived"] == 3 and report["through"] == report["day"]
    for key in keys:
        assert tags(local_stack.env["CACHE_BUCKET"], names.l2_audio(key)) == {
            "foleycache:archive": "true"
        }
    assert run(run_on)["days"] == []  # a repeated run has nothing left to do


def test_cache_stats_and_jobs_list_agree(
    local_stack: StackInfo, clips_dir: Path, tmp_path: Path
) -> None:
    """Both views count the jobs this test makes alike (the session's stack also holds
    other tests' jobs, some made by paths that write records directly, so the test compares
    what each view adds over its own runs)."""

    def views() -> tuple[dict[str, Any], dict[str, Any]]:
        stats = json.loads(cli("cache", "stats", "--json").stdout)
        listed = json.loads(cli("jobs", "list", "--json").stdout)
        return stats, listed

    def added(after: dict[str, Any], before: dict[str, Any]) -> dict[str, int]:
        tiers = {t: n - before["by_tier"].get(t, 0) for t, n in after["by_tier"].items()}
        return {
            **{t: n for t, n in tiers.items() if n},
            "failed": after["failed"] - before["failed"],
        }

    stats0, listed0 = views()
    clip = str(clips_dir / "sam2_01_dog.mp4")
    prompt = f"{PROMPT}, stats and list"  # a pair no other test made: a miss, then exact
    for _ in range(2):
        done = cli("run", clip, "--prompt", prompt, "--out", str(tmp_path), "--json")
        assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00not a video" * 100)
    failed = cli("run", str(broken), "--prompt", PROMPT, "--out", str(tmp_path), "--json")
    assert failed.returncode == 1
    stats, listed = views()

    expected = {"miss": 1, "exact": 1, "failed": 0}  # a broken upload is refused, not failed
    assert added(stats["jobs"], stats0["jobs"]) == expected
    assert added(listed["summary"], listed0["summary"]) == expected
    # The metrics count the API's refusals too (Rejected), which never become job records.
    assert stats["jobs"]["rejected"] - stats0["jobs"]["rejected"] >= 1
    assert listed["summary"]["rejected"] - listed0["summary"]["rejected"] >= 1
    timings = stats["job_timings_s"]["TimeToResult"]
    assert timings["exact"]["p50"] <= timings["miss"]["p50"]


def test_maintenance_runs_from_the_built_artefacts_within_its_grants(
    clips_dir: Path, tmp_path: Path
) -> None:
    """InvalidateFunction and ArchiveFunction on python3.12 from ``make build``, each with
    its own role enforced by moto: any denial fails the test, naming it."""
    from tests.e2e.test_deployed_artefacts import CliStack, _named

    stack = CliStack(tmp_path / "state", artefacts=True)
    try:
        info = stack.up()
        assert stack.run(clips_dir / "sam2_01_dog.mp4", tmp_path / "out")["cache"] == "miss"
        version = info["env"]["MODEL_VERSION"]
        done = stack.cli(
            "cache", "invalidate", "--model-version", version, "--budget", "5", "--json"
        )
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert report["pages"] >= 2 and report["l1_keys_removed"] >= 1
        assert report["l2_objects_marked"] >= 2  # the entry and its WAV

        env = info["env"]
        lam = boto3.client(
            "lambda",
            endpoint_url=env["AWS_ENDPOINT_URL_LAMBDA"],
            region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        event = {"version": "0", "id": "e", "detail-type": "Scheduled Event", "source":
                 "aws.events", "account": "123456789012", "time": "2031-06-01T03:00:00Z",
                 "region": env["AWS_DEFAULT_REGION"], "resources": [], "detail": {}}  # fmt: skip
        resp = lam.invoke(
            FunctionName=info["functions"]["ArchiveFunction"], Payload=json.dumps(event)
        )
        body = json.loads(resp["Payload"].read())
        assert "FunctionError" not in resp, body
        assert body["through"] == body["day"]  # it caught up to the day due
        assert not stack.denials(), _named(stack.denials())
    finally:
        stack.down()
