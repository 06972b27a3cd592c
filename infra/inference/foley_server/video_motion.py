"""How much the picture moves, over time, read cheaply from a video file.

The reference model needs only *when* things move, not what they look like,
so frames are decoded at full rate (``grab``) but converted (``retrieve``) at
no more than ``max_rate_hz`` and shrunk to a tiny grey image; on a 10 s 720p
clip decoding dominates the cost.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from foleycache.core.errors import InvalidVideo, ToolMissing

ANALYSIS_WIDTH_PX = 64
MAX_ANALYSIS_RATE_HZ = 15.0


@dataclass(frozen=True)
class MotionCurve:
    """``energy[k]`` is the mean absolute grey change (0-255) that appears at ``times_s[k]``."""

    times_s: np.ndarray
    energy: np.ndarray
    frames_analysed: int


def probe_duration_s(video_path: Path) -> float:
    """The video's duration as its container states it (video stream, else the format).

    The audio must be exactly this long; the stream duration is preferred because the
    format duration also covers any longer audio track.
    """
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        raise ToolMissing("ffprobe is not installed")
    proc = subprocess.run(
        [
            ffprobe,
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=duration:format=duration",
            "-of",
            "json",
            str(video_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if proc.returncode != 0:
        raise InvalidVideo(f"ffprobe cannot read the file: {proc.stderr.strip()[:300]}")
    info = json.loads(proc.stdout or "{}")
    streams = info.get("streams") or []
    if not streams:
        raise InvalidVideo("the file has no video stream")
    for raw in (streams[0].get("duration"), (info.get("format") or {}).get("duration")):
        try:
            duration = float(str(raw))
        except ValueError:
            continue
        if duration > 0 and np.isfinite(duration):
            return duration
    raise InvalidVideo("the video states no duration")


def read_motion(
    video_path: Path,
    width_px: int = ANALYSIS_WIDTH_PX,
    max_rate_hz: float = MAX_ANALYSIS_RATE_HZ,
) -> MotionCurve:
    """Motion energy between consecutive analysed frames; raises ``InvalidVideo`` if none decode."""
    cap = cv2.VideoCapture(str(video_path))
    try:
        if not cap.isOpened():
            raise InvalidVideo("OpenCV cannot open the video")
        fps = cap.get(cv2.CAP_PROP_FPS)
        step = max(1, round(fps / max_rate_hz)) if fps and np.isfinite(fps) and fps > 0 else 1
        times: list[float] = []
        frames: list[np.ndarray] = []
        index = 0
        while cap.grab():
            if index % step == 0:
                ok, frame = cap.retrieve()
                if ok and frame is not None and frame.size:
                    times.append(_frame_time_s(cap, index, fps))
                    frames.append(_tiny_grey(frame, width_px))
            index += 1
    finally:
        cap.release()
    if not frames:
        raise InvalidVideo("no frame of the video could be decoded")
    stack = np.stack(frames)
    energy = np.abs(np.diff(stack, axis=0)).mean(axis=(1, 2)).astype(np.float64)
    return MotionCurve(times_s=np.asarray(times[1:]), energy=energy, frames_analysed=len(frames))


def _frame_time_s(cap: cv2.VideoCapture, index: int, fps: float) -> float:
    """Presentation time of the grabbed frame (exact for variable-rate video)."""
    msec = cap.get(cv2.CAP_PROP_POS_MSEC)
    if index == 0 or msec > 0:
        return float(msec) / 1000.0
    return index / fps if fps > 0 else float(index)


def _tiny_grey(frame: np.ndarray, width_px: int) -> np.ndarray:
    height, width = frame.shape[:2]
    size = (width_px, max(1, round(height * width_px / width)))
    small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return small.astype(np.float32)
