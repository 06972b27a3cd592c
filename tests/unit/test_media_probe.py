"""probe, limits and the copy-or-encode decision, on the real shared clips."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

import pytest

from foleycache.core.errors import InvalidVideo, ToolMissing, VideoTooLarge
from foleycache.media.limits import check_limits
from foleycache.media.mux import plan_video
from foleycache.media.probe import MediaInfo, probe
from foleycache.media.segment_grid import predict_segments

BIG = 10**12


@pytest.fixture(scope="module")
def dog(clips_dir: Path) -> MediaInfo:
    return probe(clips_dir / "sam2_01_dog.mp4")


def test_probe_reads_an_mp4_with_audio_and_a_timecode_track(
    clips_dir: Path, dog: MediaInfo
) -> None:
    assert (dog.video_codec, dog.pix_fmt, dog.profile) == ("h264", "yuv420p", "High")
    assert (dog.width, dog.height) == (1280, 720)
    assert dog.fps == pytest.approx(30000 / 1001)
    assert dog.duration_s == pytest.approx(9.643, abs=0.01)
    assert dog.has_audio and dog.audio_codec == "aac"
    assert dog.format_name.startswith("mov,mp4")
    assert dog.size_bytes == (clips_dir / "sam2_01_dog.mp4").stat().st_size
    assert dog.rotation == 0 and not dog.interlaced
    assert dog.keyframe_times == pytest.approx((0.0, 8.341667))
    assert dog.max_gop_s == pytest.approx(8.341667)


def test_probe_reads_matroska_without_audio(clips_dir: Path) -> None:
    info = probe(clips_dir / "intel_asl_book.mkv")
    assert info.format_name.startswith("matroska")
    assert not info.has_audio and info.audio_codec is None
    assert (info.width, info.height, info.fps) == (640, 480, 30.0)
    assert info.pix_fmt == "yuvj420p"
    assert info.duration_s == pytest.approx(3.666, abs=0.01)


def test_probe_reports_display_rotation_clockwise(clips_dir: Path) -> None:
    info = probe(clips_dir / "moviepy_fire2.mp4")
    assert info.rotation == 180
    assert info.fps == pytest.approx(10.5, abs=0.1)


def test_probe_rejects_an_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(InvalidVideo, match="empty"):
        probe(empty)


def test_probe_rejects_a_text_file_named_mp4(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 50)
    with pytest.raises(InvalidVideo, match="not a media file"):
        probe(fake)


@pytest.mark.parametrize(
    ("clip", "reason"),
    [
        ("intel_car-detection.mp4", "truncated"),  # index at the front, data cut off
        ("moviepy_fire2.mp4", "first video frame"),  # even the first frame is missing
        ("moviepy_chaplin.mp4", "not a media file"),  # index at the end: nothing readable
    ],
)
def test_probe_rejects_the_first_fifth_of_a_clip(
    clips_dir: Path, tmp_path: Path, clip: str, reason: str
) -> None:
    data = (clips_dir / clip).read_bytes()
    cut = tmp_path / clip
    cut.write_bytes(data[: len(data) // 5])
    with pytest.raises(InvalidVideo, match=reason):
        probe(cut)


def test_probe_rejects_audio_without_video(tmp_path: Path) -> None:
    wav = tmp_path / "tone.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", str(wav)],
        check=True,
    )
    with pytest.raises(InvalidVideo, match="no video stream"):
        probe(wav)


def test_probe_says_how_to_install_a_missing_ffprobe(clips_dir: Path) -> None:
    with pytest.raises(ToolMissing, match="apt-get install ffmpeg"):
        probe(clips_dir / "sam2_01_dog.mp4", ffprobe="/nonexistent/ffprobe")


def test_limits_accept_a_video_within_all_limits(dog: MediaInfo) -> None:
    check_limits(dog, max_bytes=dog.size_bytes, max_duration_s=10.0, max_pixels=1280 * 720)


@pytest.mark.parametrize(
    ("limits", "named"),
    [
        ({"max_bytes": 1000, "max_duration_s": BIG, "max_pixels": BIG}, "size limit"),
        ({"max_bytes": BIG, "max_duration_s": 5.0, "max_pixels": BIG}, "duration limit"),
        ({"max_bytes": BIG, "max_duration_s": BIG, "max_pixels": 640 * 480}, "resolution limit"),
    ],
)
def test_limits_name_the_limit_exceeded(dog: MediaInfo, limits: dict[str, int], named: str) -> None:
    with pytest.raises(VideoTooLarge, match=named):
        check_limits(dog, **limits)


def test_grid_cutter_ignores_keyframes_between_grid_lines() -> None:
    layout = predict_segments([0.0, 1.5, 3.0, 4.5, 6.0], duration_s=7.0, segment_s=2.0)
    assert layout.starts == (0.0, 3.0, 4.5, 6.0)
    assert layout.durations == pytest.approx((3.0, 1.5, 1.5, 1.0))


def test_plan_copies_h264_with_keyframes_on_the_grid(dog: MediaInfo) -> None:
    on_grid = tuple(i * 2.002 for i in range(5))
    plan = plan_video(dataclasses.replace(dog, keyframe_times=on_grid), segment_s=2.0)
    assert plan.copy_video, plan.reasons


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"video_codec": "hevc"}, "codec is hevc"),
        ({"pix_fmt": "yuv420p10le"}, "pixel format"),
        ({"field_order": "tt"}, "interlaced"),
        ({"keyframe_times": (0.0, 4.0, 8.0)}, "segments would last up to 4.00 s"),
        ({"keyframe_times": tuple(i * 2.1 for i in range(5))}, "drift"),
    ],
)
def test_plan_encodes_what_is_not_deliverable(
    dog: MediaInfo, change: dict[str, Any], reason: str
) -> None:
    good = dataclasses.replace(dog, keyframe_times=tuple(i * 2.0 for i in range(5)))
    plan = plan_video(dataclasses.replace(good, **change), segment_s=2.0)
    assert not plan.copy_video
    assert any(reason in r for r in plan.reasons), plan.reasons
