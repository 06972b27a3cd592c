"""mux_foley and package_abr with real ffmpeg on short cuts of the shared clips."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from foleycache.core.errors import MediaError, ToolMissing
from foleycache.media.mux import MuxResult, mux_foley
from foleycache.media.package import PackageResult, package_abr
from foleycache.media.preflight import plan_delivery, segment_tolerance_s
from foleycache.media.probe import MediaInfo, probe

SEG = 2.0


def ffmpeg(*args: str) -> str:
    done = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def ffprobe_streams(path: Path) -> list[dict[str, object]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    streams: list[dict[str, object]] = json.loads(out)["streams"]
    return streams


def video_md5(source: str | Path) -> str:
    """Hash of the video stream's packets (not decoded frames): equal only for a copy."""
    return ffmpeg("-i", str(source), "-map", "0:v:0", "-c", "copy", "-f", "md5", "-").strip()


def foley_wav(path: Path, duration_s: float) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"sine=f=330:r=48000:d={duration_s:.6f}", "-ac", "1", str(path))
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def chaplin_cut(clips_dir: Path, work: Path) -> tuple[Path, MediaInfo]:
    """5 s of a clip with one keyframe in 9.6 s and MP3 music: must be encoded."""
    cut = work / "chaplin5.mp4"
    ffmpeg(
        "-i", str(clips_dir / "moviepy_chaplin.mp4"), "-t", "5", "-map", "0", "-c", "copy", str(cut)
    )
    return cut, probe(cut)


@pytest.fixture(scope="module")
def encoded(chaplin_cut: tuple[Path, MediaInfo], work: Path) -> MuxResult:
    video, info = chaplin_cut
    return mux_foley(video, foley_wav(work / "e.wav", info.duration_s), work / "enc.mp4", info)


@pytest.fixture(scope="module")
def deliverable(clips_dir: Path, work: Path) -> tuple[Path, MediaInfo]:
    """An upload that is already deliverable: H.264 yuv420p with closed 2 s GOPs."""
    path = work / "gop2.mp4"
    ffmpeg(
        "-i", str(clips_dir / "moviepy_chaplin.mp4"), "-t", "4",
        "-map", "0:v:0", "-map", "0:a:0",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-force_key_frames", "expr:gte(t,n_forced*2)", "-sc_threshold", "0",
        "-g", "50", "-flags", "+cgop", "-c:a", "aac", str(path),
    )  # fmt: skip
    return path, probe(path)


@pytest.fixture(scope="module")
def copied(deliverable: tuple[Path, MediaInfo], work: Path) -> MuxResult:
    video, info = deliverable
    return mux_foley(video, foley_wav(work / "c.wav", info.duration_s), work / "copy.mp4", info)


@pytest.fixture(scope="module")
def packaged(encoded: MuxResult, work: Path) -> PackageResult:
    return package_abr(encoded.path, work / "abr", rungs=encoded.rungs, segment_s=SEG)


def test_non_deliverable_gop_is_encoded_with_keyframes_every_segment(
    chaplin_cut: tuple[Path, MediaInfo], encoded: MuxResult
) -> None:
    _, source = chaplin_cut
    assert not encoded.copied_video
    assert any("keyframe gap" in r for r in encoded.reasons)
    out = probe(encoded.path)
    assert out.keyframe_times == pytest.approx((0.0, 2.0, 4.0), abs=source.frame_s)
    assert plan_delivery(out, segment_s=SEG).copy_video


def test_muxed_output_has_only_the_foley_as_aac_48k_stereo(encoded: MuxResult) -> None:
    streams = ffprobe_streams(encoded.path)
    assert [s["codec_type"] for s in streams] == ["video", "audio"]
    audio = streams[1]
    assert (audio["codec_name"], audio["sample_rate"], audio["channels"]) == ("aac", "48000", 2)
    assert streams[0]["codec_name"] == "h264" and streams[0]["pix_fmt"] == "yuv420p"


def test_muxed_durations_match_the_source_within_one_frame(
    chaplin_cut: tuple[Path, MediaInfo], encoded: MuxResult
) -> None:
    _, source = chaplin_cut
    out = probe(encoded.path)
    assert out.duration_s == pytest.approx(source.duration_s, abs=source.frame_s)
    assert out.audio_duration_s == pytest.approx(out.duration_s, abs=source.frame_s)


def test_mp4_is_progressive_with_moov_before_mdat(encoded: MuxResult) -> None:
    head = encoded.path.read_bytes()[:65536]
    assert 0 <= head.find(b"moov") < head.find(b"mdat")


def test_encoding_keeps_display_rotation(clips_dir: Path, work: Path) -> None:
    source = probe(clips_dir / "moviepy_fire2.mp4")
    wav = foley_wav(work / "fire.wav", source.duration_s)
    result = mux_foley(clips_dir / "moviepy_fire2.mp4", wav, work / "fire.mp4", source)
    out = probe(result.path)
    assert not result.copied_video
    assert out.rotation == 180 and (out.width, out.height) == (1280, 720)


def test_deliverable_video_is_copied_bit_for_bit_and_cheaply(
    deliverable: tuple[Path, MediaInfo], copied: MuxResult, encoded: MuxResult
) -> None:
    source, _ = deliverable
    assert copied.copied_video, copied.reasons
    assert video_md5(copied.path) == video_md5(source)


def test_mux_refuses_audio_made_for_another_duration(
    chaplin_cut: tuple[Path, MediaInfo], work: Path
) -> None:
    video, info = chaplin_cut
    with pytest.raises(MediaError, match=r"Foley audio lasts 1\.000 s"):
        mux_foley(video, foley_wav(work / "short.wav", 1.0), work / "x.mp4", info)


def test_ffmpeg_failure_carries_its_stderr(chaplin_cut: tuple[Path, MediaInfo], work: Path) -> None:
    _, info = chaplin_cut
    garbage = work / "garbage.mp4"
    garbage.write_bytes(b"\0" * 4096)
    wav = foley_wav(work / "g.wav", info.duration_s)
    with pytest.raises(MediaError, match=r"(?s)ffmpeg failed to mux .*\n.*Invalid data found"):
        mux_foley(garbage, wav, work / "y.mp4", info)


def test_missing_ffmpeg_is_tool_missing(chaplin_cut: tuple[Path, MediaInfo], work: Path) -> None:
    video, info = chaplin_cut
    wav = foley_wav(work / "m.wav", info.duration_s)
    with pytest.raises(ToolMissing, match="apt-get install ffmpeg"):
        mux_foley(video, wav, work / "z.mp4", info, ffmpeg="/nonexistent/ffmpeg")


def test_package_writes_manifests_that_ffprobe_opens(packaged: PackageResult) -> None:
    for manifest, fmt in ((packaged.dash_manifest, "dash"), (packaged.hls_manifest, "hls")):
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=format_name:stream=codec_name",
             "-of", "json", str(manifest)],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        report = json.loads(out)
        assert report["format"]["format_name"] == fmt
        assert sorted(s["codec_name"] for s in report["streams"]) == ["aac", "h264", "h264"]


def test_package_keeps_everything_relative_under_out_dir(
    packaged: PackageResult, work: Path
) -> None:
    out_dir = work / "abr"
    assert all(p.is_relative_to(out_dir) for p in packaged.files)
    names = {p.name for p in packaged.files}
    playlists = [p for p in packaged.files if p.suffix == ".m3u8"]
    for playlist in playlists:
        uris = [ln for ln in playlist.read_text().splitlines() if ln and not ln.startswith("#")]
        uris += re.findall(r'URI="([^"]+)"', playlist.read_text())
        assert uris and all(u in names for u in uris), uris
    templates = re.findall(
        r'(?:initialization|media)="([^"]+)"', packaged.dash_manifest.read_text()
    )
    assert templates and not any("/" in t for t in templates), templates


def test_packaged_segments_last_at_most_one_segment(
    chaplin_cut: tuple[Path, MediaInfo], packaged: PackageResult
) -> None:
    _, source = chaplin_cut
    media = sorted(p for p in packaged.files if p.name.startswith("media_"))
    assert [p.name for p in media] == ["media_a0.m3u8", "media_v0.m3u8", "media_v1.m3u8"]
    for playlist in media:
        text = playlist.read_text()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and "#EXT-X-ENDLIST" in text
        durations = [float(d) for d in re.findall(r"#EXTINF:([0-9.]+),", text)]
        assert len(durations) == 3
        assert max(durations) <= SEG + segment_tolerance_s(source, SEG)
        assert sum(durations) == pytest.approx(source.duration_s, abs=0.05)


def test_packaging_repackages_without_encoding(packaged: PackageResult, encoded: MuxResult) -> None:
    assert video_md5(packaged.hls_manifest) == video_md5(encoded.path)


def test_packaging_runs_no_child_process(encoded: MuxResult, work: Path) -> None:
    """The repackager slices the MP4 in Python: no ffmpeg (whose start-up alone is ~0.05 CPU s)."""
    result = package_abr(
        encoded.path, work / "abr-noffmpeg", rungs=encoded.rungs, ffmpeg="/nonexistent/ffmpeg"
    )
    assert result.dash_manifest.is_file() and result.hls_manifest.is_file()
    assert result.cpu_s < 0.5


def test_package_refuses_a_rung_whose_keyframes_miss_the_top_cuts(
    encoded: MuxResult, work: Path
) -> None:
    rung = work / "misaligned.mp4"
    ffmpeg(
        "-i", str(encoded.path), "-map", "0:v:0", "-vf", "scale=320:180",
        "-c:v", "libx264", "-preset", "ultrafast", "-fps_mode", "passthrough",
        "-force_key_frames", "expr:gte(t,n_forced*1.5)", "-sc_threshold", "0", "-g", "1000",
        str(rung),
    )  # fmt: skip
    with pytest.raises(MediaError, match=r"no keyframe at 2\.000 s"):
        package_abr(encoded.path, work / "abr-bad", rungs=[rung], segment_s=SEG)


def test_mpd_timeline_run_length_codes_equal_segments(packaged: PackageResult) -> None:
    text = packaged.dash_manifest.read_text()
    assert '<S t="0" d="' in text and 'r="1"' in text
    assert "duration=" not in text.split("<Period", 1)[1]


def test_mux_result_record_for_the_job(encoded: MuxResult) -> None:
    record = encoded.record()
    assert record["video"] == "encode"
    assert str(record["reason"]).startswith("keyframe gap")
    assert record["rungs"] == ["enc-320x180.mp4"]
    assert record["audio_tracks"] == ["Foley"]
    assert record["frames"] == encoded.frames_in
