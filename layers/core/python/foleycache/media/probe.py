"""What a video is, read once with ffprobe, so later stages decide without re-reading it.

``probe`` is also the gate that turns "ffmpeg would choke on this" into an
``InvalidVideo`` with a sentence a user can act on, before any GPU time or
encode is spent. It guarantees, for every MediaInfo it returns: a video
stream exists, its duration is positive, its first frame decodes, and the
file holds (nearly) all the video its index promises (a cut-off upload is
rejected rather than muxed short).

Cost: three ffprobe runs of ~0.05-0.1 CPU s each on the shared clips. The
keyframe index comes from the demuxer's packet flags (``-show_entries
packet=pts_time,flags``), which decodes nothing. ``-skip_frame nokey
-show_entries frame=pts_time`` measured the same on the shared clips
(0.08-0.14 CPU s, mostly process start-up; bench/encode_vs_repackage.py) but
decodes every keyframe, so its cost grows with resolution and keyframe count.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from foleycache.core.errors import InvalidVideo
from foleycache.media.tool_process import run_tool

#: field_order values that mean interlaced content (ffprobe names).
INTERLACED_FIELD_ORDERS = frozenset({"tt", "bb", "tb", "bt"})

#: A file whose packets stop this much (or more) before its declared video
#: duration is treated as truncated. Half a second absorbs edit lists and
#: rounding in container durations; a cut-off upload loses far more.
TRUNCATION_SLACK_S = 0.5


@dataclass(frozen=True)
class MediaInfo:
    """Facts about one video file that the media stages decide on."""

    duration_s: float
    width: int
    height: int
    fps: float
    video_codec: str
    pix_fmt: str
    profile: str
    field_order: str
    has_audio: bool
    audio_codec: str | None
    audio_duration_s: float | None
    #: Clockwise display rotation in degrees (0, 90, 180 or 270) from the display matrix.
    rotation: int
    format_name: str
    bit_rate: int | None
    size_bytes: int
    #: Presentation times of the video keyframes (sync samples), ascending.
    keyframe_times: tuple[float, ...]
    #: Video packets in the file: one per frame for every codec the service takes.
    frame_count: int = 0
    #: A keyframe is followed (in decode order) by frames shown before it, which
    #: reference the previous GOP: segments cut there do not decode on their own.
    open_gop: bool = False
    #: ffprobe's color_range: "tv" (limited), "pc" (full) or "unknown".
    color_range: str = "unknown"
    #: The container's start time: ffmpeg subtracts it from every output timestamp.
    start_time_s: float = 0.0

    @property
    def interlaced(self) -> bool:
        return self.field_order in INTERLACED_FIELD_ORDERS

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def full_range(self) -> bool:
        """Full-range luma (0-255): yuvj* formats or an explicit pc range flag."""
        return self.pix_fmt.startswith("yuvj") or self.color_range == "pc"

    @property
    def measured_fps(self) -> float:
        """Frames per second counted from the packets (what decoding actually costs)."""
        return self.frame_count / self.duration_s if self.frame_count else self.fps

    @property
    def frame_s(self) -> float:
        """Duration of one frame (the average one for variable frame rate)."""
        return 1.0 / self.fps

    @property
    def max_gop_s(self) -> float:
        """Longest distance between keyframes, counting the tail after the last one."""
        times = [*self.keyframe_times, self.duration_s]
        return max(b - a for a, b in itertools.pairwise(times)) if len(times) > 1 else 0.0


def probe(path: Path, *, ffprobe: str = "ffprobe") -> MediaInfo:
    """Describe ``path`` or raise InvalidVideo saying why it is not a usable video.

    Raises ToolMissing when ``ffprobe`` cannot be executed.
    """
    if not path.is_file():
        raise InvalidVideo(f"{path.name} does not exist")
    size = path.stat().st_size
    if size == 0:
        raise InvalidVideo(f"{path.name} is empty (0 bytes)")

    header = _ffprobe_json(ffprobe, "-show_format", "-show_streams", str(path), path=path)
    streams: list[dict[str, Any]] = header.get("streams", [])
    fmt: dict[str, Any] = header.get("format", {})
    video = next((s for s in streams if s.get("codec_type") == "video" and not _is_cover(s)), None)
    if video is None:
        raise InvalidVideo(f"{path.name} has no video stream (is it an audio file or an image?)")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)

    duration = _positive_float(video.get("duration")) or _positive_float(fmt.get("duration"))
    if duration is None:
        raise InvalidVideo(f"{path.name} has no known duration (zero or missing in its header)")
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise InvalidVideo(f"{path.name} has a video stream without a frame size")

    _require_first_frame(ffprobe, path)
    index = _packet_index(ffprobe, path)
    keyframes, covered_s = index.keyframes, index.end_s
    if covered_s < duration - TRUNCATION_SLACK_S:
        raise InvalidVideo(
            f"{path.name} is truncated: its header promises {duration:.2f} s of video "
            f"but the data stops at {covered_s:.2f} s (was the upload cut off?)"
        )
    # A stream copy cut mid-GOP keeps frames shown after the header's duration
    # (its sample durations add up to less than the frames it presents); the
    # mux keeps every frame, so the Foley must cover them too.
    duration = max(duration, index.end_s - index.start_s)

    return MediaInfo(
        duration_s=duration,
        width=width,
        height=height,
        fps=_frame_rate(video, duration),
        video_codec=str(video.get("codec_name", "unknown")),
        pix_fmt=str(video.get("pix_fmt", "unknown")),
        profile=str(video.get("profile", "unknown")),
        field_order=str(video.get("field_order", "unknown")),
        has_audio=audio is not None,
        audio_codec=str(audio.get("codec_name")) if audio is not None else None,
        audio_duration_s=_positive_float(audio.get("duration")) if audio is not None else None,
        rotation=_rotation(video),
        format_name=str(fmt.get("format_name", "unknown")),
        bit_rate=int(fmt["bit_rate"]) if str(fmt.get("bit_rate", "")).isdigit() else None,
        size_bytes=size,
        keyframe_times=keyframes,
        frame_count=index.count,
        open_gop=index.open_gop,
        color_range=str(video.get("color_range", "unknown")),
        start_time_s=_float(fmt.get("start_time")) or 0.0,
    )


def _ffprobe_json(ffprobe: str, *args: str, path: Path) -> dict[str, Any]:
    run = run_tool([ffprobe, "-v", "error", "-of", "json", *args])
    if run.returncode != 0:
        reason = run.stderr_tail(1).split(": ", 1)[-1] or f"ffprobe exit {run.returncode}"
        raise InvalidVideo(f"{path.name} is not a media file ffmpeg can read ({reason})")
    parsed: dict[str, Any] = json.loads(run.stdout or "{}")
    return parsed


def _require_first_frame(ffprobe: str, path: Path) -> None:
    """Decode exactly one video frame: a readable header over missing data fails here."""
    report = _ffprobe_json(
        ffprobe,
        "-select_streams", "v:0",
        "-read_intervals", "%+#1",
        "-show_entries", "frame=pts_time",
        str(path),
        path=path,
    )  # fmt: skip
    if not report.get("frames"):
        raise InvalidVideo(f"{path.name} is damaged: its first video frame cannot be decoded")


@dataclass(frozen=True)
class _PacketIndex:
    keyframes: tuple[float, ...]
    start_s: float
    end_s: float
    count: int
    open_gop: bool


def _packet_index(ffprobe: str, path: Path) -> _PacketIndex:
    """Keyframe times, how far the video packets reach, their count and GOP openness.

    One pass over the demuxer's packet index (decode order), decoding nothing.
    A GOP is open when a packet after a keyframe, before the next one, is shown
    before that keyframe (a leading B-frame referencing the previous GOP), or
    when the stream does not start with a keyframe.
    """
    report = _ffprobe_json(
        ffprobe,
        "-select_streams", "v:0",
        "-show_entries", "packet=pts_time,duration_time,flags",
        str(path),
        path=path,
    )  # fmt: skip
    keyframes: list[float] = []
    start, end, count, open_gop = float("inf"), 0.0, 0, False
    for packet in report.get("packets", []):
        count += 1
        pts = _float(packet.get("pts_time"))
        if pts is None:
            continue
        start, end = min(start, pts), max(end, pts + (_float(packet.get("duration_time")) or 0.0))
        if "K" in str(packet.get("flags", "")):
            keyframes.append(pts)
        elif not keyframes or pts < keyframes[-1]:
            open_gop = True  # shown before its keyframe, or before any keyframe at all
    if not keyframes:
        raise InvalidVideo(f"{path.name} is damaged: its video has no keyframe")
    return _PacketIndex(tuple(sorted(keyframes)), start, end, count, open_gop)


def _is_cover(stream: dict[str, Any]) -> bool:
    """Embedded cover art (an attached picture) is a 'video' stream that is not a video."""
    return bool(stream.get("disposition", {}).get("attached_pic"))


def _frame_rate(video: dict[str, Any], duration: float) -> float:
    for key in ("avg_frame_rate", "r_frame_rate"):
        rate = _rational(video.get(key))
        if rate:
            return rate
    frames = int(video.get("nb_frames") or 0)
    if frames:
        return frames / duration
    raise InvalidVideo("the video stream has no frame rate")


def _rotation(video: dict[str, Any]) -> int:
    """Clockwise degrees; the display matrix stores counter-clockwise ones."""
    for side in video.get("side_data_list", []):
        if "rotation" in side:
            return round(-float(side["rotation"])) % 360
    tag = video.get("tags", {}).get("rotate")
    return int(tag) % 360 if tag is not None and str(tag).lstrip("-").isdigit() else 0


def _rational(value: object) -> float | None:
    try:
        rate = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return None
    return float(rate) if rate > 0 else None


def _float(value: object) -> float | None:
    try:
        return float(str(value))
    except ValueError:
        return None


def _positive_float(value: object) -> float | None:
    number = _float(value)
    return number if number is not None and number > 0 else None
