"""Awkward inputs through the whole pipeline: each succeeds, or fails before the GPU.

The inference server's own request log is the witness: a refused input must not have
cost an inference request, and a fixable one (odd dimensions, full-range pixels) must
come out playable, with the decision (copy or encode, and why) in the job record.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from foleycache.local.stack import StackInfo
from tests.e2e.test_run import inference_calls, run_cli

pytestmark = pytest.mark.e2e


def _make(clip: Path, out: Path, *args: str) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-t", "3", *args, str(out)], check=True
    )
    return out


def _frames(path: str) -> int:
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames,width,height",
            "-of",
            "json",
            path,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(json.loads(probe.stdout)["streams"][0]["nb_read_frames"])


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("odd-dimensions.mp4", ("-vf", "scale=641:359", "-c:v", "libx264", "-pix_fmt", "yuv444p")),
        ("full-range.mp4", ("-pix_fmt", "yuvj420p", "-c:v", "libx264", "-an")),
        ("matroska-hevc.mkv", ("-c:v", "libx265", "-x265-params", "log-level=error", "-an")),
    ],
)
def test_a_fixable_input_is_delivered_with_its_decision_recorded(
    local_stack: StackInfo, clips_dir: Path, tmp_path: Path, name: str, args: tuple[str, ...]
) -> None:
    video = _make(clips_dir / "sam2_01_dog.mp4", tmp_path / name, *args)
    code, result = run_cli(str(video), "--prompt", f"paws, {name}", "--out", str(tmp_path))
    assert code == 0, result
    assert result["details"]["video"] == "encode" and result["details"]["reason"]
    assert _frames(result["outputs"]["video"]) == _frames(str(video))
    for manifest in ("dash", "hls"):
        assert Path(result["outputs"][manifest]).is_file()


def test_an_input_over_the_frame_rate_limit_fails_before_any_inference(
    local_stack: StackInfo, clips_dir: Path, tmp_path: Path
) -> None:
    video = tmp_path / "600fps.mp4"  # 2 s at 600 fps: small, cheap to decode, refused
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x180:rate=600:duration=2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            str(video),
        ],
        check=True,
    )
    before = inference_calls(local_stack)
    code, result = run_cli(str(video), "--prompt", "paws at 600 fps", "--out", str(tmp_path))
    assert code == 1 and result["status"] == "failed"
    assert "frame rate" in result["error"] or "fps" in result["error"], result["error"]
    assert inference_calls(local_stack) == before
