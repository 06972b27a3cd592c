"""Prewarm and rollout on the real local stack.

The witness of "each entry runs exactly once" is the inference servers' own request log
(``/stats``: the async requests' inference ids, each derived from one cache key), not
the runner's report.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from foleycache.local.stack import StackInfo, read_stack, switch_model_version

pytestmark = pytest.mark.e2e

CLIPS = ("moviepy_fire2.mp4", "intel_asl_book.mkv", "sam2_01_dog.mp4", "sam2_04_coffee.mp4")
PROMPT = "prewarm e2e: wooden door creaks"
CLI = (sys.executable, "-m", "foleycache.local.cli")
OUT = "/tmp/fc-e2e-rollout-out"


def _ids(port: int) -> Counter[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as resp:
        return Counter(json.loads(resp.read())["async_inference_ids"])


def _stack() -> StackInfo:
    info = read_stack()
    assert info is not None
    return info


def _cli(*args: str, timeout: float = 600) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "foleycache.local.cli", *args, "--json", "--quiet"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ,
        check=False,
    )
    assert out.returncode in (0, 1), out.stderr[-2000:]
    body: dict[str, Any] = json.loads(out.stdout)
    return body


def _inference_ids(clips_dir: Path, version: str, prompt: str) -> list[str]:
    from foleycache.core.keys import CacheKey
    from foleycache.fingerprint import fingerprint_video
    from foleycache.pipeline.generate import inference_id

    ids = []
    for name in CLIPS:
        fp = fingerprint_video(clips_dir / name)
        ids.append(inference_id(CacheKey.for_request(fp.hex, prompt, version, fp.version)))
    return ids


def test_an_interrupted_prewarm_runs_each_entry_exactly_once(
    local_stack: StackInfo, clips_dir: Path, tmp_path: Path
) -> None:
    version = _stack().env["MODEL_VERSION"]
    manifest = tmp_path / "library.csv"
    manifest.write_text(
        "video,prompt\n" + "".join(f"{clips_dir / name},{PROMPT}\n" for name in CLIPS)
    )
    ours = _inference_ids(clips_dir, version, PROMPT)
    port = _stack().inference_port
    before = _ids(port)
    assert not any(before[i] for i in ours)

    runner = subprocess.Popen(
        [*CLI, "prewarm", str(manifest), "--concurrency", "2", "--quiet", "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ,
    )
    deadline = time.monotonic() + 300
    while sum((_ids(port) - before)[i] for i in ours) < 2 and time.monotonic() < deadline:
        assert runner.poll() is None, "the prewarm ended before it was interrupted"
        time.sleep(0.2)
    runner.send_signal(signal.SIGKILL)  # halfway: 2 of 4 started, the rest not yet
    runner.wait(timeout=30)
    started = sum((_ids(port) - before)[i] for i in ours)
    assert 2 <= started < len(CLIPS)

    resumed = _cli("prewarm", str(manifest), "--concurrency", "2")
    counts = resumed["counts"]
    assert counts["failed"] == 0 and counts["no-source"] == 0, resumed["results"]
    assert counts["generated"] + counts["done"] + counts["cached"] == len(CLIPS)

    runs = _ids(port) - before
    assert {i: runs[i] for i in ours} == dict.fromkeys(ours, 1)  # each entry exactly once

    again = _cli("prewarm", str(manifest))
    assert again["counts"]["cached"] == len(CLIPS)
    assert _ids(port) - before == runs  # nothing ran


def test_a_bad_manifest_is_refused_whole_naming_each_bad_row(
    local_stack: StackInfo, clips_dir: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "bad.jsonl"
    good = json.dumps({"video": str(clips_dir / CLIPS[0]), "prompt": "fine"})
    manifest.write_text(
        "\n".join([good, json.dumps({"video": "x.mp4", "prompt": "  "}), "{not json", "[1]"])
    )
    out = subprocess.run(
        [sys.executable, "-m", "foleycache.local.cli", "prewarm", str(manifest)],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=120,
        check=False,
    )
    assert out.returncode == 2
    assert "3 bad row(s), nothing was run" in out.stderr
    assert "line 2: the prompt is empty" in out.stderr and "line 3: not JSON" in out.stderr


def _run(clips_dir: Path, name: str, prompt: str) -> dict[str, Any]:
    out = subprocess.run(
        [*CLI, "run", str(clips_dir / name), "--prompt", prompt, "--json", "--out", OUT],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=600,
        check=False,
    )
    body: dict[str, Any] = json.loads(out.stdout)
    assert body["status"] == "succeeded", body
    return body


def test_candidate_prewarm_of_the_top_pairs_then_promotion_serves_them_as_hits(
    local_stack: StackInfo, clips_dir: Path
) -> None:
    original = _stack().env["MODEL_VERSION"]
    # A stable version of this test's own: the top-N ranking is per version, and the other
    # tests on this session's stack hit their own pairs under the stack's version.
    stable = "e2e-prewarm-stable"
    switch_model_version(stable)
    try:
        _prewarm_then_promote(clips_dir, stable)
    finally:
        switch_model_version(original)


def _prewarm_then_promote(clips_dir: Path, stable: str) -> None:
    candidate = "e2e-candidate-2"
    prompt = "rollout e2e: gravel footsteps"
    for _ in range(2):  # the two top pairs: hit twice
        for name in CLIPS[:2]:
            _run(clips_dir, name, prompt)
    try:
        _cli("model", "candidate", candidate, "--share", "0")
        info = _stack()
        assert info.candidate_port and info.env["CANDIDATE_MODEL_VERSION"] == candidate
        warmed = _cli("model", "prewarm", "--version", candidate, "--top", "2")
        assert warmed["counts"]["generated"] == 2 and warmed["missing_source"] == []
        gpu = _ids(info.candidate_port)
        assert sum(gpu.values()) == 2  # the candidate's own endpoint ran them

        _cli("model", "promote")
        promoted = _stack()
        assert promoted.env["MODEL_VERSION"] == candidate
        assert promoted.inference_port == info.candidate_port  # the stable name points there
        for name in CLIPS[:2]:
            body = _run(clips_dir, name, prompt)
            assert body["model_version"] == candidate and body["cache"] in ("l1", "l2", "exact")
        assert _ids(promoted.inference_port) == gpu  # served without the GPU

        from foleycache.adapters.wiring import services

        services.cache_clear()
        from foleycache.settings import get_settings

        get_settings.cache_clear()
        os.environ.update(promoted.env)
        versions = services().versions
        assert versions is not None
        assert [r.version for r in versions.retired()] == [stable]  # archival sweeps it
    finally:
        _cli("model", "rollback", "--to", stable)
        assert _stack().env["MODEL_VERSION"] == stable


def test_the_map_item_function_decides_rows_on_the_real_parts(
    local_stack: StackInfo, clips_dir: Path
) -> None:
    """The Distributed Map's item function, invoked as the map invokes it (Lambda, through
    moto, on moto's DynamoDB and S3). moto 5.2.5 runs the map's ItemReader and this item
    function, but not the ``states:startExecution.sync:2`` child start, so the map as a
    whole is checked structurally (tests/unit/test_prewarm.py)."""
    import boto3

    info = _stack()
    body = _run(clips_dir, CLIPS[3], "item function e2e")
    from foleycache.adapters.wiring import services

    job = services().jobs.get(body["job_id"])
    assert job is not None
    row = {"video": f"s3://{job.bucket}/{job.key}", "prompt": "item function e2e, v2"}
    lam = boto3.client("lambda")
    name = info.functions["PrewarmItemFunction"]

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        resp = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
        answer: dict[str, Any] = json.loads(resp["Payload"].read())
        return answer

    stable = info.env["MODEL_VERSION"]
    plan = invoke({"row": row, "index": 0, "model_version": stable})
    assert plan["action"] == "run" and plan["execution_input"]["deliver"] is False
    recorded = services().jobs.get(plan["job_id"])
    assert recorded is not None and recorded.details.get("prewarm") is True
    again = invoke({"row": row, "index": 0, "model_version": stable})
    assert again["job_id"] == plan["job_id"] and again["reason"] == "resumed"
    gone = invoke(
        {"row": {**row, "video": row["video"] + ".gone"}, "index": 1, "model_version": stable}
    )
    assert gone["action"] == "no-source"
    bad = invoke(
        {"row": {"video": row["video"], "prompt": ""}, "index": 2, "model_version": stable}
    )
    assert "the prompt is empty" in json.dumps(bad)
