"""The v1 API end to end over HTTP, as a client uses it: upload, job, poll, outputs; then
the same video again is answered at once (200 with the outputs), with no workflow, no
download, no decode and no GPU call.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests

from foleycache.local.stack import StackInfo
from tests.api_http import Client, api_server, principal

pytestmark = pytest.mark.e2e

PROMPT = "a hardcover dropped flat on a wooden floor, v1 e2e"  # this test's own: a miss first


@pytest.fixture(scope="module")
def base(local_stack: StackInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if local_stack.artefacts:
        pytest.skip("moto with IAM enforcement answers 500 to every presigned URL")
    with api_server(tmp_path_factory.mktemp("api-e2e")) as url:
        yield url


def inference_calls(stack: StackInfo) -> int:
    with urllib.request.urlopen(f"{stack.inference_url}/stats", timeout=5) as resp:
        stats = json.loads(resp.read())
    return int(stats["invocations"]) + int(stats.get("async_invocations", 0))


def executions(stack: StackInfo) -> set[str]:
    sfn = boto3.client("stepfunctions")
    found = sfn.list_executions(stateMachineArn=stack.env["STATE_MACHINE_ARN"])["executions"]
    return {e["name"] for e in found}


def test_upload_job_outputs_then_an_instant_answer(
    base: str, local_stack: StackInfo, clips_dir: Path
) -> None:
    data = (clips_dir / "intel_asl_book.mkv").read_bytes()
    me = Client(base, principal("e2e"))

    upload = me.upload(data, "video/x-matroska")
    first = me.submit(upload, PROMPT)
    assert first.status_code == 202, first.text
    accepted = first.json()
    assert accepted["status"] == "running" and accepted["outputs"] is None
    assert first.headers["Location"] == f"/v1/jobs/{accepted['job_id']}"
    done = me.wait(accepted["job_id"])
    assert done["status"] == "succeeded", done
    assert done["cache"] == "miss" and done["reuse_share"] == 0.0 and not done["instant"]
    assert {"fingerprint", "inference", "mux", "package"} <= set(done["timings_ms"])
    assert done["error"] is None and done["upload"] == upload

    outputs = me.get(f"/v1/jobs/{done['job_id']}/outputs")
    assert outputs.status_code == 200, outputs.text
    links = outputs.json()
    assert set(links["links"]) == {"audio", "video", "dash", "hls"}
    files = {f["path"]: f["url"] for f in links["files"]}
    assert "video.mp4" in files and any(p.endswith(".mpd") for p in files)
    video = requests.get(links["links"]["video"], timeout=60)
    assert video.status_code == 200 and len(video.content) > 1000  # a link a client can use
    for manifest in ("hls", "dash"):  # streamable as given: every segment inside is signed
        played = subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-i",
                links["playable"][manifest],
                "-map",
                "0",
                "-f",
                "null",
                "-",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert played.returncode == 0 and not played.stderr.strip(), (manifest, played.stderr)
    calls, started = inference_calls(local_stack), executions(local_stack)

    # The same bytes again, uploaded anew: known under this prompt and model version.
    again = me.submit(me.upload(data, "video/x-matroska"), PROMPT)
    assert again.status_code == 200, again.text
    instant = again.json()
    assert instant["status"] == "succeeded" and instant["instant"] is True
    assert instant["cache"] == "exact" and instant["reuse_share"] == 1.0
    assert set(instant["outputs"]["links"]) == {"audio", "video", "dash", "hls"}
    assert instant["outputs"]["files"] is None
    assert list(instant["timings_ms"]) == ["instant"]  # no stage ran
    assert requests.get(instant["outputs"]["links"]["audio"], timeout=60).status_code == 200
    assert inference_calls(local_stack) == calls  # no GPU
    assert executions(local_stack) == started  # no workflow
    polled = me.get(f"/v1/jobs/{instant['job_id']}").json()
    assert polled["status"] == "succeeded" and polled["instant"] is True

    # Another prompt for the same upload is not known: it is queued.
    other = me.submit(upload, PROMPT + ", muffled")
    assert other.status_code == 202, other.text
    assert me.wait(other.json()["job_id"])["cache"] == "miss"

    mine = {j["job_id"] for j in me.get("/v1/jobs", params={"limit": 10}).json()["jobs"]}
    assert {done["job_id"], instant["job_id"], other.json()["job_id"]} <= mine
