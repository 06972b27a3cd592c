"""Refuse uploads the service is not sized for, before any GPU or encode time is spent.

Size, duration and pixels per frame bound the download and one frame; they
do not bound the work. Fingerprinting decodes every frame and the one encode
touches every pixel of every frame, so frame rate and frame count are
limited too: a 2.6 MB, 10 s, 4K file at 600 fps passed the first three and
took 110 s (53 s to fingerprint, 51 s of inference) and could outlast the
Lambda's 900 s at the current duration limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from foleycache.core.errors import VideoTooLarge
from foleycache.media.probe import MediaInfo

#: Above any camera or screen recording users upload (phones slow-mo at 240 fps
#: is the exception, refused on purpose: 4x the frames of 60 fps for the same sound).
DEFAULT_MAX_FPS = 120.0
#: Ten minutes at 60 fps: the existing duration limit at the highest common rate.
DEFAULT_MAX_FRAMES = 36_000
#: Pixels the one encode may process (width x height x frames): 10 min of 1080p60.
#: libx264 veryfast measured ~9 ns per pixel per CPU (sam2 720p clip), plus the ladder's
#: +25 %: ~840 CPU s, under the mux Lambda's 900 s on its ~2 vCPUs with room to spare.
DEFAULT_MAX_ENCODED_PIXELS = 1920 * 1080 * 36_000


@dataclass(frozen=True)
class MediaLimits:
    """Every limit an upload is checked against at the fingerprint stage."""

    max_bytes: int = 2 * 1024**3
    max_duration_s: float = 600.0
    max_pixels: int = 3840 * 2160
    max_fps: float = DEFAULT_MAX_FPS
    max_frames: int = DEFAULT_MAX_FRAMES
    max_encoded_pixels: int = DEFAULT_MAX_ENCODED_PIXELS


def check_limits(
    info: MediaInfo,
    *,
    max_bytes: int,
    max_duration_s: float,
    max_pixels: int,
    max_fps: float = DEFAULT_MAX_FPS,
    max_frames: int = DEFAULT_MAX_FRAMES,
) -> None:
    """Raise VideoTooLarge naming the first limit ``info`` exceeds; return None if it fits.

    The frame rate checked is the larger of the declared and the counted one,
    so a header claiming 30 fps over 600 fps of packets does not slip through.
    """
    if info.size_bytes > max_bytes:
        raise VideoTooLarge(
            f"the video is {info.size_bytes:,} bytes; the size limit is {max_bytes:,} bytes"
        )
    if info.duration_s > max_duration_s:
        raise VideoTooLarge(
            f"the video lasts {info.duration_s:.1f} s; the duration limit is {max_duration_s:g} s"
        )
    if info.pixels > max_pixels:
        raise VideoTooLarge(
            f"the video is {info.width}x{info.height} ({info.pixels:,} pixels per frame); "
            f"the resolution limit is {max_pixels:,} pixels per frame"
        )
    fps = max(info.fps, info.measured_fps)
    if fps > max_fps:
        raise VideoTooLarge(
            f"the video runs at {fps:.1f} frames per second; the frame rate limit is {max_fps:g}"
        )
    if info.frame_count > max_frames:
        raise VideoTooLarge(
            f"the video has {info.frame_count:,} frames; the frame count limit is {max_frames:,}"
        )


def check_encode_limit(info: MediaInfo, max_encoded_pixels: int) -> None:
    """Raise VideoTooLarge if encoding every frame once would not fit the mux step's time."""
    pixels = info.pixels * info.frame_count
    if pixels > max_encoded_pixels:
        raise VideoTooLarge(
            f"the video must be re-encoded and has {info.frame_count:,} frames of "
            f"{info.width}x{info.height} ({pixels:,} pixels); the encode limit is "
            f"{max_encoded_pixels:,} pixels (about 10 minutes of 1080p at 60 fps)"
        )
