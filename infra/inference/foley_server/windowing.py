"""Sound for the whole clip at any length: overlapping windows, joined by equal-power crossfades.

HunyuanVideo-Foley scores at most 15 s (its maintainers recommend 8-10 s), so a
longer clip is cut into windows of about ``window_s`` that overlap their
neighbours by ``overlap_s``. Each window is generated on its own part of the
clip (the reference model on the motion of that time range, HunyuanVideo-Foley
on a sub-clip cut with ffmpeg), with its own seed derived from the request's.
Neighbours are joined with an equal-power crossfade over their overlap
(``cos``/``sin`` gains whose squares sum to one), so the joined sound keeps its
loudness through every join and has exactly ``round(duration * 48000)`` samples.

The plan works in samples: window ``i`` covers ``[start_i, end_i)``, the last
ends at the clip's last sample, and every overlap is exactly ``overlap_s``
(rounded once to samples). All windows have the same length, at most
``window_s``, so the last one is never a stub. The same code runs every backend,
so the CPU reference model tests it everywhere.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from foley_server.backend import (
    SAMPLE_RATE,
    FoleyAudio,
    ModelIdentity,
    WindowModel,
    derive_identity,
    target_samples,
)
from foley_server.config import ServerConfig
from foley_server.seeds import file_sha256, seed_for, window_seed
from foley_server.video_motion import MotionCurve, probe_duration_s, read_motion
from foleycache.core.errors import (
    InferenceFailed,
    InvalidInput,
    InvalidVideo,
    ToolMissing,
    VideoTooLarge,
)
from foleycache.media.crossfade import equal_power_gains

CROSSFADE = "equal-power"


@dataclass(frozen=True)
class WindowSettings:
    window_s: float = 10.0
    overlap_s: float = 1.0
    max_duration_s: float = 600.0

    @classmethod
    def from_config(cls, config: ServerConfig) -> WindowSettings:
        return cls(config.window_s, config.window_overlap_s, config.max_duration_s)

    def as_json(self) -> dict[str, Any]:
        return {
            "window_s": self.window_s,
            "overlap_s": self.overlap_s,
            "max_duration_s": self.max_duration_s,
            "crossfade": CROSSFADE,
        }


@dataclass(frozen=True)
class Window:
    """Samples ``[start_sample, end_sample)`` of the clip's audio."""

    index: int
    start_sample: int
    end_sample: int
    #: Samples shared with the previous window (0 for the first): its crossfade-in.
    overlap_samples: int
    sample_rate: int = SAMPLE_RATE

    @property
    def n_samples(self) -> int:
        return self.end_sample - self.start_sample

    @property
    def start_s(self) -> float:
        return self.start_sample / self.sample_rate

    @property
    def end_s(self) -> float:
        return self.end_sample / self.sample_rate

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate

    @property
    def overlap_s(self) -> float:
        return self.overlap_samples / self.sample_rate

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start_s": round(self.start_s, 6),
            "end_s": round(self.end_s, 6),
            "overlap_s": round(self.overlap_s, 6),
            "start_sample": self.start_sample,
            "end_sample": self.end_sample,
        }


def plan_windows(
    n_samples: int,
    window_s: float,
    overlap_s: float,
    sample_rate: int = SAMPLE_RATE,
) -> tuple[Window, ...]:
    """The fewest equal windows of at most ``window_s`` covering ``n_samples``.

    Neighbours overlap by exactly ``round(overlap_s * rate)`` samples; a clip that fits
    in one window is one window with no overlap.
    """
    if n_samples <= 0:
        raise ValueError("nothing to plan: the clip has no samples")
    width = round(window_s * sample_rate)
    overlap = round(overlap_s * sample_rate)
    if n_samples <= width:
        return (Window(0, 0, n_samples, 0, sample_rate),)
    if not 0 <= overlap < width / 2:
        raise ValueError("the overlap must be shorter than half a window")
    count = math.ceil((n_samples - overlap) / (width - overlap))
    span = n_samples - overlap  # what the hops add up to

    def hop(i: int) -> int:
        return (i * span + count // 2) // count  # round(i * span / count), in integers

    return tuple(
        Window(i, hop(i), hop(i + 1) + overlap, overlap if i else 0, sample_rate)
        for i in range(count)
    )


def fade_gains(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(fade-in, fade-out) over ``n`` samples with ``in**2 + out**2 == 1`` at every sample.

    The one definition, shared with the pipeline's composition of reused and generated
    spans (``foleycache.media.crossfade``), so every join sounds the same."""
    return equal_power_gains(n)


def join_windows(parts: list[np.ndarray], windows: tuple[Window, ...]) -> np.ndarray:
    """Overlap-add the windows' sound with equal-power crossfades; float32, exact length."""
    if len(parts) != len(windows) or not windows:
        raise InferenceFailed(f"{len(parts)} generated parts for {len(windows)} windows")
    out = np.zeros(windows[-1].end_sample, dtype=np.float64)
    for i, (window, part) in enumerate(zip(windows, parts, strict=True)):
        if part.shape != (window.n_samples,):
            raise InferenceFailed(
                f"window {i} returned {part.shape} samples, expected ({window.n_samples},)"
            )
        gain = np.ones(window.n_samples)
        if window.overlap_samples:
            gain[: window.overlap_samples] = fade_gains(window.overlap_samples)[0]
        if i + 1 < len(windows) and (after := windows[i + 1].overlap_samples):
            gain[-after:] *= fade_gains(after)[1]
        out[window.start_sample : window.end_sample] += np.nan_to_num(part) * gain
    return out.astype(np.float32)


def span_samples(
    spans: tuple[tuple[float, float], ...], total: int, sample_rate: int = SAMPLE_RATE
) -> tuple[tuple[int, int], ...]:
    """Spans in seconds as sample ranges, checked: inside the clip, ordered, not overlapping."""
    out: list[tuple[int, int]] = []
    for start_s, end_s in spans:
        lo, hi = round(start_s * sample_rate), min(round(end_s * sample_rate), total)
        if lo < 0 or hi <= lo or lo >= total:
            raise InvalidInput(f"span {start_s:g}-{end_s:g} s is not inside the clip")
        if out and lo < out[-1][1]:
            raise InvalidInput("spans must be in order and must not overlap")
        out.append((lo, hi))
    return tuple(out)


class ClipSource:
    """The request's video, shared by its windows: motion read once, sub-clips cut on demand."""

    def __init__(self, video_path: Path, duration_s: float, workdir: Path) -> None:
        self.video_path = video_path
        self.duration_s = duration_s
        self.workdir = workdir
        self._motion: MotionCurve | None = None

    def motion(self) -> MotionCurve:
        if self._motion is None:
            self._motion = read_motion(self.video_path)
        return self._motion

    def subclip(self, window: Window) -> Path:
        out = self.workdir / f"window-{window.index:03d}.mp4"
        if not out.exists():
            cut_subclip(self.video_path, window.start_s, window.duration_s, out)
        return out


@dataclass(frozen=True)
class WindowInput:
    """What a model sees of one window: that time range's motion, or that sub-clip."""

    source: ClipSource
    window: Window
    #: Whether this is the clip's only/last window (its motion keeps everything after start).
    last: bool = field(default=True)

    def motion(self) -> MotionCurve:
        """The clip's motion inside the window, on the window's own clock (0 = window start)."""
        curve = self.source.motion()
        keep = np.ones(curve.times_s.shape, dtype=bool)
        if self.window.start_sample > 0:
            keep &= curve.times_s >= self.window.start_s
        if not self.last:
            keep &= curve.times_s < self.window.end_s
        return MotionCurve(
            times_s=curve.times_s[keep] - self.window.start_s,
            energy=curve.energy[keep],
            frames_analysed=int(keep.sum()),
        )

    def subclip(self) -> Path:
        """A video file holding just this window (re-encoded, so cuts are frame-accurate)."""
        if self.window.start_sample == 0 and self.last:
            return self.source.video_path
        return self.source.subclip(self.window)


def cut_subclip(video: Path, start_s: float, duration_s: float, out: Path) -> None:
    """``[start_s, start_s + duration_s)`` of the video stream, re-encoded, timestamps from 0."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ToolMissing("ffmpeg is not installed")
    proc = subprocess.run(
        [
            ffmpeg,
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-ss",
            f"{start_s:.6f}",
            "-i",
            str(video),
            "-t",
            f"{duration_s:.6f}",
            "-map",
            "0:v:0",
            "-an",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "14",
            "-pix_fmt",
            "yuv420p",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if proc.returncode != 0 or not out.exists():
        raise InvalidVideo(
            f"ffmpeg could not cut {start_s:.2f}-{start_s + duration_s:.2f} s: "
            f"{proc.stderr.strip()[:300]}"
        )


class WindowedFoley:
    """Any ``WindowModel`` over a whole clip: plan, generate each window, join."""

    def __init__(
        self, model: WindowModel, settings: WindowSettings, explicit_version: str | None = None
    ) -> None:
        if settings.window_s > model.max_window_s:
            raise ValueError(
                f"a {settings.window_s:g} s window is longer than the {model.max_window_s:g} s "
                f"the {model.name} model scores"
            )
        self.model = model
        self.name = model.name
        self.settings = settings
        self.identity: ModelIdentity = derive_identity(
            model.name,
            model.weights_digest(),
            {**model.settings(), "windows": settings.as_json()},
            explicit_version,
        )

    def plan(self, duration_s: float) -> tuple[Window, ...]:
        if duration_s > self.settings.max_duration_s:
            raise VideoTooLarge(
                f"the video lasts {duration_s:.1f} s; this endpoint generates at most "
                f"{self.settings.max_duration_s:g} s (FOLEY_MAX_DURATION_S)"
            )
        return plan_windows(
            target_samples(duration_s), self.settings.window_s, self.settings.overlap_s
        )

    def _check_long_enough(self, ranges: tuple[tuple[int, int], ...]) -> None:
        """Refuse what the model cannot score (HunyuanVideo-Foley: under 0.64 s) before any
        model work: the pipeline's plans widen short gaps, so this is a caller's bug."""
        shortest = self.model.min_window_s
        for lo, hi in ranges:
            if (hi - lo) / SAMPLE_RATE < shortest - 1e-6:
                raise InvalidInput(
                    f"{lo / SAMPLE_RATE:.2f}-{hi / SAMPLE_RATE:.2f} s lasts "
                    f"{(hi - lo) / SAMPLE_RATE:.2f} s; the {self.name} model generates at "
                    f"least {shortest:g} s at a time"
                )

    def generate(
        self,
        video_path: Path,
        prompt: str,
        model_version: str,
        spans: tuple[tuple[float, float], ...] = (),
    ) -> FoleyAudio:
        """The whole clip's sound, or only ``spans`` (seconds, end exclusive) of it.

        With spans, each span is planned and generated on its own like a clip of its own
        (same window length, overlap and crossfades) and the rest of the track is silence:
        the pipeline fills it with sound it already has (reuse across cuts).
        """
        duration_s = probe_duration_s(video_path)  # InvalidVideo before any model work
        self.plan(duration_s)  # the length limit holds for the clip, spans or not
        total = target_samples(duration_s)
        ranges = span_samples(spans, total) if spans else ((0, total),)
        self._check_long_enough(ranges)
        request_seed = seed_for(file_sha256(video_path), prompt, model_version)
        out = np.zeros(total, dtype=np.float32)
        planned: list[Window] = []
        with tempfile.TemporaryDirectory(prefix="foley-windows-") as tmp:
            source = ClipSource(video_path, duration_s, Path(tmp))
            for lo, hi in ranges:
                relative = plan_windows(hi - lo, self.settings.window_s, self.settings.overlap_s)
                parts: list[np.ndarray] = []
                for window in relative:
                    absolute = Window(
                        len(planned),
                        lo + window.start_sample,
                        lo + window.end_sample,
                        window.overlap_samples,
                        window.sample_rate,
                    )
                    planned.append(absolute)
                    clip = WindowInput(source, absolute, last=absolute.end_sample == total)
                    seed = window_seed(request_seed, absolute.index)
                    parts.append(np.asarray(self.model.generate_window(clip, prompt, seed)))
                out[lo:hi] = join_windows(parts, relative)
        windows = tuple(planned)
        notes: tuple[str, ...] = ()
        if len(windows) > 1:
            notes = (
                f"generated in {len(windows)} windows of at most {self.settings.window_s:g} s "
                f"joined by {self.settings.overlap_s:g} s {CROSSFADE} crossfades",
            )
        if spans:
            asked = sum(hi - lo for lo, hi in ranges) / SAMPLE_RATE
            notes += (f"generated {asked:.2f} s in {len(ranges)} spans; the rest is silence",)
        return FoleyAudio(
            samples=out,
            sample_rate=SAMPLE_RATE,
            duration_s=duration_s,
            notes=notes,
            windows=windows,
            spans=tuple(ranges) if spans else (),
        )
