"""Refuse uploads the service is not sized for, before any GPU or encode time is spent."""

from __future__ import annotations

from foleycache.core.errors import VideoTooLarge
from foleycache.media.probe import MediaInfo


def check_limits(
    info: MediaInfo, *, max_bytes: int, max_duration_s: float, max_pixels: int
) -> None:
    """Raise VideoTooLarge naming the first limit ``info`` exceeds; return None if it fits."""
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
