"""The API over HTTP on the local stack: an instant answer against one raw DynamoDB GetItem.

Run: ``.venv/bin/python bench/api_bench.py [--n 300]``. Writes ``bench/results/api_bench.json``.

It starts its own local stack and ``foleycache api serve`` (a subprocess, as a client
meets it), seeds one clip through the whole pipeline, then measures, in one run and
interleaved so both see the same machine:

- ``instant_answer``: ``POST /v1/jobs`` for an upload and prompt already known (200 with
  the outputs): HTTP, the resolver and its validation, and four storage calls (HeadObject
  of the upload, GetItem of the exact-repeat record, HeadObject of the earlier video,
  PutItem of the new job record), plus four presigned links;
- ``raw_getitem``: one DynamoDB ``GetItem`` (consistent read) of a job record from this
  process with boto3: the floor of any answer that reads the table;
- ``get_job``: ``GET /v1/jobs/{id}``, one GetItem behind HTTP and the resolver;
- ``queued``: ``POST /v1/jobs`` with ``options.instant=false`` (202), and the time until
  that job has succeeded through the state machine (its exact-bytes path, no GPU), for
  comparison with the instant answer's whole time to outputs.

The API server's throttle is raised for the run (API Gateway throttles on AWS; the local
server's per-caller bucket would otherwise refuse the loop). The API gets the template's
environment for ApiFunction: no REDIS_URL, so the exact record is read from DynamoDB, as
on AWS.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

CLIPS = Path(
    os.environ.get(
        "FOLEYCACHE_CLIPS_DIR", Path(__file__).resolve().parents[2] / "shared/media/clips"
    )
)
RESULTS = Path(__file__).parent / "results" / "api_bench.json"
CLIP = "intel_asl_book.mkv"
PROMPT = "a book shut on a desk, api bench"
PRINCIPAL = "arn:aws:iam::123456789012:user/api-bench"
HEADERS = {"X-Foleycache-Local-Principal": PRINCIPAL}


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))], 3)

    return {
        "n": len(ordered),
        "p50": pct(50),
        "p90": pct(90),
        "p99": pct(99),
        "mean": round(statistics.fmean(ordered), 3),
        "min": round(ordered[0], 3),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_api(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "foleycache.local.cli",
            "api",
            "serve",
            "--port",
            str(port),
            "--rate",
            "1000000",
            "--burst",
            "1000000",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/v1/openapi.json", timeout=2).status_code == 200:
                return proc, base
        except requests.ConnectionError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"api serve did not start; see {log}")


def wait(session: requests.Session, base: str, job_id: str) -> dict[str, Any]:
    while True:
        job: dict[str, Any] = session.get(f"{base}/v1/jobs/{job_id}", headers=HEADERS).json()
        if job["status"] in {"succeeded", "failed"}:
            return job
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300, help="measured requests per series")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--queued", type=int, default=8, help="queued (202) jobs to time")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fc-api-bench-"))
    os.environ["FOLEYCACHE_STATE_DIR"] = str(work / "state")
    import boto3

    from foleycache.local.stack import start_daemon, stop_daemon, use_stack

    info = start_daemon()
    use_stack(info)
    api, base = start_api(work / "api.log")
    try:
        http = requests.Session()
        data = (CLIPS / CLIP).read_bytes()
        link = http.post(
            f"{base}/v1/uploads",
            headers=HEADERS,
            json={
                "sha256": hashlib.sha256(data).hexdigest(),
                "size_bytes": len(data),
                "content_type": "video/x-matroska",
            },
        ).json()
        assert requests.put(link["url"], data=data, headers=link["headers"]).status_code == 200
        body = {"upload": link["upload"], "prompt": PROMPT}

        started = time.perf_counter()
        first = http.post(f"{base}/v1/jobs", headers=HEADERS, json=body)
        assert first.status_code == 202, first.text
        seeded = wait(http, base, first.json()["job_id"])
        assert seeded["status"] == "succeeded", seeded
        first_miss_ms = (time.perf_counter() - started) * 1000
        print(f"seeded: miss, upload-to-succeeded {first_miss_ms:.0f} ms")

        ddb = boto3.client("dynamodb")
        table = info.env["TABLE_NAME"]
        key = {"pk": {"S": f"JOB#{seeded['job_id']}"}, "sk": {"S": "JOB"}}

        def instant() -> float:
            t = time.perf_counter()
            resp = http.post(f"{base}/v1/jobs", headers=HEADERS, json=body)
            took = (time.perf_counter() - t) * 1000
            assert resp.status_code == 200 and resp.json()["instant"], resp.text
            return took

        def getitem() -> float:
            t = time.perf_counter()
            resp = ddb.get_item(TableName=table, Key=key, ConsistentRead=True)
            took = (time.perf_counter() - t) * 1000
            assert "Item" in resp
            return took

        def get_job() -> float:
            t = time.perf_counter()
            resp = http.get(f"{base}/v1/jobs/{seeded['job_id']}", headers=HEADERS)
            took = (time.perf_counter() - t) * 1000
            assert resp.status_code == 200
            return took

        for _ in range(args.warmup):
            instant(), getitem(), get_job()
        series: dict[str, list[float]] = {"instant_answer": [], "raw_getitem": [], "get_job": []}
        for _ in range(args.n):  # interleaved: the same minutes of the same machine
            series["instant_answer"].append(instant())
            series["raw_getitem"].append(getitem())
            series["get_job"].append(get_job())

        accepted, to_done = [], []
        for _ in range(args.queued):
            t = time.perf_counter()
            resp = http.post(
                f"{base}/v1/jobs", headers=HEADERS, json={**body, "options": {"instant": False}}
            )
            accepted.append((time.perf_counter() - t) * 1000)
            assert resp.status_code == 202, resp.text
            job = wait(http, base, resp.json()["job_id"])
            to_done.append((time.perf_counter() - t) * 1000)
            assert job["status"] == "succeeded" and job["cache"] == "exact", job
    finally:
        api.terminate()
        api.wait(timeout=10)
        stop_daemon()

    result: dict[str, Any] = {
        "what": "POST /v1/jobs through `foleycache api serve` on the local stack (moto); "
        "instant answer vs one raw DynamoDB GetItem, interleaved in one run",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "clip": CLIP,
        "instant_answer_ms": summary(series["instant_answer"]),
        "raw_getitem_ms": summary(series["raw_getitem"]),
        "get_job_ms": summary(series["get_job"]),
        "queued_accept_ms": summary(accepted),
        "queued_to_succeeded_ms": summary(to_done),
        "first_miss_upload_to_succeeded_ms": round(first_miss_ms, 1),
        "storage_calls_per_instant_answer": 4,
    }
    result["instant_over_getitem_p50"] = round(
        result["instant_answer_ms"]["p50"] / result["raw_getitem_ms"]["p50"], 2
    )
    result["instant_over_getitem_p99"] = round(
        result["instant_answer_ms"]["p99"] / result["raw_getitem_ms"]["p99"], 2
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
