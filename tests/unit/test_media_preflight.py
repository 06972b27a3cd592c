"""preflight: limits, refusals, the copy/encode decision, fixes, ladder and audio plan."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from foleycache.core.errors import InvalidInput, InvalidVideo, VideoTooLarge
from foleycache.media.limits import MediaLimits
from foleycache.media.preflight import Preflight, Rung, lower_rungs, preflight
from foleycache.media.probe import MediaInfo, probe

SEG = 2.0


def ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *args],
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def dog(clips_dir: Path) -> MediaInfo:
    return probe(clips_dir / "sam2_01_dog.mp4")


@pytest.fixture(scope="module")
def deliverable(dog: MediaInfo) -> MediaInfo:
    """The dog clip as if it had closed 2 s GOPs: deliverable as is."""
    return dataclasses.replace(dog, keyframe_times=tuple(2.0 * i for i in range(5)))


def test_a_10_s_4k_file_at_600_fps_is_refused_for_its_frame_rate(dog: MediaInfo) -> None:
    info = dataclasses.replace(
        dog, width=3840, height=2160, fps=600.0, duration_s=10.0, frame_count=6000,
        size_bytes=2_600_000,
    )  # fmt: skip
    with pytest.raises(
        VideoTooLarge, match=r"600\.0 frames per second; the frame rate limit is 120"
    ):
        preflight(info, segment_s=SEG)


def test_a_real_600_fps_file_is_refused_before_anything_else(tmp_path: Path) -> None:
    path = tmp_path / "fast.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x64:rate=600:duration=1",
           "-c:v", "libx264", "-preset", "ultrafast", str(path))  # fmt: skip
    with pytest.raises(VideoTooLarge, match="frame rate limit"):
        preflight(probe(path), segment_s=SEG)


def test_the_counted_frame_rate_wins_over_a_low_declared_one(dog: MediaInfo) -> None:
    info = dataclasses.replace(dog, fps=30.0, frame_count=6000, duration_s=10.0)
    with pytest.raises(VideoTooLarge, match=r"600\.0 frames per second"):
        preflight(info, segment_s=SEG)


def test_frame_count_limit(dog: MediaInfo) -> None:
    with pytest.raises(VideoTooLarge, match="289 frames; the frame count limit is 100"):
        preflight(dog, segment_s=SEG, limits=MediaLimits(max_frames=100))


def test_encode_limit_applies_only_when_the_video_must_be_encoded(
    dog: MediaInfo, deliverable: MediaInfo
) -> None:
    tight = MediaLimits(max_encoded_pixels=1280 * 720 * 100)
    with pytest.raises(VideoTooLarge, match="must be re-encoded"):
        preflight(dog, segment_s=SEG, limits=tight)
    assert preflight(deliverable, segment_s=SEG, limits=tight).video == "copy"


def test_frames_smaller_than_16_pixels_are_refused(dog: MediaInfo) -> None:
    with pytest.raises(InvalidVideo, match="8x8"):
        preflight(dataclasses.replace(dog, width=8, height=8), segment_s=SEG)


def test_an_unknown_audio_mode_is_refused(dog: MediaInfo) -> None:
    with pytest.raises(InvalidInput, match="audio mode 'louder'"):
        preflight(dog, segment_s=SEG, audio_mode="louder")


@pytest.mark.parametrize("mode", ["mix", "add"])
def test_keeping_undecodable_source_audio_is_refused(dog: MediaInfo, mode: str) -> None:
    with pytest.raises(InvalidVideo, match=r"cannot be decoded.*choose audio mode replace"):
        preflight(dataclasses.replace(dog, audio_codec="none"), segment_s=SEG, audio_mode=mode)


def test_replace_ignores_undecodable_source_audio(dog: MediaInfo) -> None:
    plan = preflight(dataclasses.replace(dog, audio_codec="none"), segment_s=SEG)
    assert plan.audio_tracks == ("Foley",)


@pytest.mark.parametrize(
    ("mode", "tracks"),
    [
        ("replace", ("Foley",)),
        ("mix", ("Foley mixed under the original audio",)),
        ("add", ("Foley", "Original audio")),
    ],
)
def test_audio_tracks_per_mode(dog: MediaInfo, mode: str, tracks: tuple[str, ...]) -> None:
    assert preflight(dog, segment_s=SEG, audio_mode=mode).audio_tracks == tracks


def test_deliverable_input_is_copied_with_no_rung_by_default(deliverable: MediaInfo) -> None:
    plan = preflight(deliverable, segment_s=SEG)
    assert (plan.video, plan.fixes, plan.rungs) == ("copy", (), ())
    assert "copying the video stream" in plan.reason
    on_copy = preflight(deliverable, segment_s=SEG, ladder_on_copy=True)
    assert on_copy.video == "copy" and on_copy.rungs == (Rung(640, 360),)


@pytest.mark.parametrize(
    ("change", "reason", "fix"),
    [
        ({"keyframe_times": (0.0,)}, "keyframe gap 9.64 s > 2 s segment", None),
        ({"keyframe_times": tuple(i * 2.1 for i in range(5))}, "drift", None),
        ({"pix_fmt": "yuvj420p"}, "pixel format yuvj420p", "full-range yuvj420p to limited"),
        ({"video_codec": "hevc", "pix_fmt": "yuv420p10le"}, "codec hevc", "yuv420p10le to 8-bit"),
        ({"width": 641, "height": 359}, "odd dimensions 641x359", "pad 641x359 to 642x360"),
        ({"field_order": "tt"}, "interlaced", "deinterlace"),
        ({"open_gop": True}, "open GOPs", None),
    ],
)
def test_what_forces_an_encode_and_how_the_encode_fixes_it(
    deliverable: MediaInfo, change: dict[str, Any], reason: str, fix: str | None
) -> None:
    plan = preflight(dataclasses.replace(deliverable, **change), segment_s=SEG)
    assert plan.video == "encode"
    assert reason in plan.reason, plan.reason
    if fix:
        assert any(fix in f for f in plan.fixes), plan.fixes
    assert plan.width % 2 == 0 and plan.height % 2 == 0


def test_plan_round_trips_through_json(dog: MediaInfo) -> None:
    plan = preflight(
        dataclasses.replace(dog, width=641, height=359), segment_s=SEG, audio_mode="add"
    )
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["video"] == "encode" and data["reason"] == plan.reason
    assert Preflight.from_dict(data) == plan


@pytest.mark.parametrize(
    ("size", "rungs"),
    [
        ((1280, 720), [(640, 360)]),
        ((3840, 2160), [(1920, 1080)]),
        ((720, 1280), [(360, 640)]),
        ((642, 360), [(320, 180)]),
        ((640, 272), []),
        ((320, 240), []),
    ],
)
def test_one_lower_rung_at_half_size_when_it_stays_at_least_144p(
    size: tuple[int, int], rungs: list[tuple[int, int]]
) -> None:
    assert [(r.width, r.height) for r in lower_rungs(*size)] == rungs


def test_rotation_is_planned_as_metadata(clips_dir: Path) -> None:
    plan = preflight(probe(clips_dir / "moviepy_fire2.mp4"), segment_s=SEG)
    assert plan.rotation == 180 and (plan.width, plan.height) == (1280, 720)


def test_all_shared_clips_pass_preflight_and_say_why_they_are_encoded(clips_dir: Path) -> None:
    for clip in sorted(clips_dir.iterdir()):
        plan = preflight(probe(clip), segment_s=SEG)
        assert plan.video == "encode" and plan.reason, clip.name
