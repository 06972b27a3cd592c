"""One frame per second (and a small grey one twice a second) of a video, decoded once.

Why OpenCV ``grab()``/``retrieve()``: every frame has to be decoded anyway
(inter-frame codecs), but only one per second needs the costly YUV->BGR
conversion and resize (two per second here: the 2/s signature grid
contains the 1/s CNN grid); this was the fastest of the sampling strategies
measured (1.1-1.8x faster than reading every frame, seeking was 1.2-6x
slower). Frames are chosen by presentation timestamp, not by index, so
variable-frame-rate files and frame-rate conversions (30 -> 24 fps) sample
the same instants. OpenCV's FFmpeg backend applies the container's rotation
metadata itself (``CAP_PROP_ORIENTATION_AUTO``), so a phone clip flagged
"rotated 180" is fingerprinted upright.

Guarantees: at least one sample for any decodable video; ``InvalidVideo`` for
anything OpenCV cannot open or decode a single frame of.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from foleycache.core.errors import InvalidVideo
from foleycache.fingerprint.borders import DARK_LEVEL
from foleycache.fingerprint.record import SIGNATURE_FPS  # in record so decision needs no cv2
from foleycache.fingerprint.spans import SPAN_FPS

#: Frames are sampled at this height first (the issue's "360p"), for border detection.
SAMPLE_HEIGHT = 360
#: Frames are then kept at this height for feature extraction: memory stays at
#: ~170 KB per sampled second (about 100 MB for a 10-minute video).
WORK_HEIGHT = 180
#: CNN sampling instants are the middle of every second: a frame-rate change moves
#: the nearest frame by at most half a frame interval either way.
SAMPLE_PHASE = 0.5
#: Signature frames are reduced by an integer factor to at least this height: an
#: integer-factor area resize costs ~0.3 ms on a 720p frame (3.8 ms for an arbitrary
#: factor), and the frame only has to feed a 48x48 thumbnail.
SIGNATURE_MIN_HEIGHT = 64


@dataclass(frozen=True)
class SampledVideo:
    """Samples at 1 frame/s plus what decoding learned about the whole stream."""

    #: BGR uint8 frames of height WORK_HEIGHT, one per sampled second.
    frames: list[np.ndarray]
    #: Greyscale uint8 frames at SIGNATURE_FPS (64-127 rows; videos under 128 rows
    #: keep their own height), and their times.
    signature_frames: list[np.ndarray]
    signature_times_s: list[float]
    #: The same small grey frames at SPAN_FPS (the time-local span codes, ``spans``): at
    #: each instant of the fixed grid, the first frame shown at or after it, and when
    #: that frame starts (a cut between two samples is placed by these, ``cut_joins``).
    span_frames: list[np.ndarray]
    span_times_s: list[float]
    #: Per sample, the share of non-dark pixels in every row / column of the 360p
    #: frame: enough to find letterbox/pillarbox bars later without keeping 360p frames.
    row_lit: list[np.ndarray]
    col_lit: list[np.ndarray]
    times_s: list[float]
    duration_s: float
    frames_decoded: int
    span_frame_times_s: list[float] = field(default_factory=list)


def _resize_to_height(frame: np.ndarray, height: int) -> np.ndarray:
    h, w = frame.shape[:2]
    if h == height:
        return frame
    width = max(2, round(w * height / h))
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)


def _keep(
    frame: np.ndarray,
    t: float,
    frames: list[np.ndarray],
    row_lit: list[np.ndarray],
    col_lit: list[np.ndarray],
    times: list[float],
) -> None:
    frame360 = _resize_to_height(frame, SAMPLE_HEIGHT)
    grey = cv2.cvtColor(frame360, cv2.COLOR_BGR2GRAY)
    # Averaging 2x2 blocks first stops single noisy pixels in a black bar from
    # counting as picture content.
    small = cv2.resize(grey, (grey.shape[1] // 2, grey.shape[0] // 2), interpolation=cv2.INTER_AREA)
    lit = small >= DARK_LEVEL
    row_lit.append(lit.mean(axis=1, dtype=np.float32))
    col_lit.append(lit.mean(axis=0, dtype=np.float32))
    frames.append(_resize_to_height(frame360, WORK_HEIGHT))
    times.append(t)


def _signature_frame(frame: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape
    k = max(1, h // SIGNATURE_MIN_HEIGHT)
    # Trim the remainder evenly from both sides so the factor is exact (fast path);
    # at most k - 1 pixels, under 1 % of either dimension.
    y0, x0 = (h % k) // 2, (w % k) // 2
    exact = grey[y0 : y0 + h - h % k, x0 : x0 + w - w % k]
    small: np.ndarray = cv2.resize(
        exact, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA
    )
    return small


def sample_video(
    path: Path, fps: float = 1.0, signature_fps: float = SIGNATURE_FPS
) -> SampledVideo:
    """Decode ``path``: one frame per ``1/fps`` s, one small grey one per ``1/signature_fps`` s."""
    if not path.is_file() or path.stat().st_size == 0:
        raise InvalidVideo(f"{path.name}: missing or empty file")
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise InvalidVideo(f"{path.name}: not a readable video")
    try:
        return _sample_open(cap, path, fps, signature_fps)
    finally:
        cap.release()


def _sample_open(
    cap: cv2.VideoCapture, path: Path, fps: float, signature_fps: float
) -> SampledVideo:
    nominal_fps = cap.get(cv2.CAP_PROP_FPS)
    step, sig_step = 1.0 / fps, 1.0 / signature_fps
    frames: list[np.ndarray] = []
    row_lit: list[np.ndarray] = []
    col_lit: list[np.ndarray] = []
    times: list[float] = []
    sig_frames: list[np.ndarray] = []
    sig_times: list[float] = []
    span_frames: list[np.ndarray] = []
    span_times: list[float] = []
    span_frame_times: list[float] = []
    span_step = 1.0 / SPAN_FPS
    next_span_t = 0.0
    next_t = SAMPLE_PHASE * step
    # The signature grid contains the 1/s grid (0, 0.5, 1.0, ... s at 2/s), so every
    # other signature comes from a frame already retrieved for the CNN.
    next_sig_t = next_t % sig_step
    decoded = 0
    last_t = -1.0
    intervals: list[float] = []
    first_frame: np.ndarray | None = None
    while cap.grab():
        t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        if t <= last_t and nominal_fps > 0:
            # Broken or missing timestamps: fall back to the nominal frame rate.
            t = decoded / nominal_fps
        if last_t >= 0 and t > last_t:
            intervals.append(t - last_t)
        decoded += 1
        # A sample is due if this frame is the first at or after the next instant
        # (a stream that starts late samples its first frame).
        due = t + 1e-6 >= next_t
        sig_due = t + 1e-6 >= next_sig_t
        span_due = t + 1e-6 >= next_span_t
        if due or sig_due or span_due or decoded == 1:
            # One retrieve (the costly colour conversion) serves both grids; the
            # first frame is kept only for clips that end before the first instant.
            ok, retrieved = cap.retrieve()
            frame = retrieved if ok and retrieved is not None and retrieved.size else None
            if decoded == 1:
                first_frame = frame
            if frame is not None and due:
                _keep(frame, t, frames, row_lit, col_lit, times)
            small = _signature_frame(frame) if frame is not None else None
            if small is not None and sig_due:
                sig_frames.append(small)
                sig_times.append(t)
            if frames and sig_frames:
                first_frame = None  # a full-size frame: don't hold it through the loop
            while next_t <= t + 1e-6:
                next_t += step
            while next_sig_t <= t + 1e-6:
                next_sig_t += sig_step
            # One span sample per slot of the fixed grid (k / SPAN_FPS s): a frame that
            # arrives after several slots (a low frame rate) fills each of them.
            fill = small if small is not None else (span_frames[-1] if span_frames else None)
            # A frame that could not be converted leaves its slots the previous picture,
            # which is not the frame shown there: its start is unknown (NaN).
            shown = t if small is not None else float("nan")
            while next_span_t <= t + 1e-6:
                if fill is not None:
                    span_frames.append(fill)
                    span_times.append(next_span_t)
                    span_frame_times.append(shown)
                next_span_t += span_step
        last_t = max(last_t, t)
    if decoded == 0:
        raise InvalidVideo(f"{path.name}: no decodable video frames")
    if not frames and first_frame is not None:
        _keep(first_frame, 0.0, frames, row_lit, col_lit, times)
    if not sig_frames and first_frame is not None:
        sig_frames.append(_signature_frame(first_frame))
        sig_times.append(0.0)
    if not span_frames:
        span_frames, span_times = list(sig_frames), list(sig_times)
        span_frame_times = list(sig_times)
    if not frames or not sig_frames:
        raise InvalidVideo(f"{path.name}: no frame could be converted")
    frame_interval = float(np.median(intervals)) if intervals else step
    duration = max(last_t, 0.0) + frame_interval
    return SampledVideo(
        frames,
        sig_frames,
        sig_times,
        span_frames,
        span_times,
        row_lit,
        col_lit,
        times,
        duration,
        decoded,
        span_frame_times,
    )
