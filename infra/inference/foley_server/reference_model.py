"""A small deterministic CPU Foley model whose sounds land on the picture's motion.

It stands in for HunyuanVideo-Foley wherever no GPU is available (tests, the
local stack, CI) while keeping the properties the rest of the system relies
on: real, audible sound; exactly the video's length at 48 kHz; identical
output for identical (video content, prompt, model version); different
output for a different prompt; impacts where the picture moves suddenly,
louder for larger moves.
"""

from __future__ import annotations

import hashlib
import math
import time
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from foley_server.backend import SAMPLE_RATE, FoleyAudio, target_samples
from foley_server.seeds import file_sha256, seed_for
from foley_server.textures import Texture, texture_for_prompt
from foley_server.video_motion import MotionCurve, probe_duration_s, read_motion

if TYPE_CHECKING:
    from foley_server.windowing import WindowInput

#: The files whose content *is* the reference model (its "weights").
_MODEL_SOURCES = ("reference_model.py", "textures.py", "video_motion.py", "seeds.py")

PEAK_DBFS = -1.0
MIN_ONSET_GAP_S = 0.15
#: Onsets weaker than this share of the strongest are ignored (compression flicker, noise).
ONSET_THRESHOLD = 0.12
#: Grey levels (0-255) of change below which nothing "moved" at all.
ONSET_FLOOR = 0.25
NOVELTY_WINDOW_S = 0.2
CHOKE_S = 0.01


@dataclass(frozen=True)
class Onset:
    time_s: float
    #: 0..1, relative to the strongest onset in the clip.
    strength: float


def detect_onsets(curve: MotionCurve, min_gap_s: float = MIN_ONSET_GAP_S) -> list[Onset]:
    """Sudden rises of motion energy (energy minus its recent mean), ``min_gap_s`` apart."""
    energy, times = curve.energy, curve.times_s
    if energy.size == 0:
        return []
    dt = float(np.median(np.diff(times))) if times.size > 1 else 1.0
    window = max(1, round(NOVELTY_WINDOW_S / dt)) if dt > 0 else 1
    padded = np.concatenate([np.full(window, energy[0]), energy])
    recent = np.convolve(padded, np.ones(window) / window, mode="valid")[:-1]
    novelty = np.maximum(energy - recent, 0.0)
    top = float(novelty.max())
    if top < ONSET_FLOOR:
        return []
    candidates = np.flatnonzero(novelty >= max(ONSET_THRESHOLD * top, ONSET_FLOOR))
    chosen: list[int] = []
    for k in sorted(candidates, key=lambda i: (-novelty[i], i)):
        if all(abs(times[k] - times[j]) >= min_gap_s for j in chosen):
            chosen.append(int(k))
    return [Onset(float(times[k]), float(novelty[k] / top)) for k in sorted(chosen)]


def onset_gain(strength: float) -> float:
    """Loudness of a hit: steeper than linear, so the biggest moves clearly dominate."""
    return 0.05 + 0.95 * strength**2


def band_noise(
    rng: np.random.Generator, n: int, band_hz: tuple[float, float], rate: int
) -> np.ndarray:
    """White noise restricted to a frequency band, unit peak (zeros if n == 0)."""
    if n <= 0:
        return np.zeros(0)
    size = 1 << (n - 1).bit_length()  # power of two: a prime length makes the FFT crawl
    spectrum = np.fft.rfft(rng.standard_normal(size))
    freqs = np.fft.rfftfreq(size, 1.0 / rate)
    spectrum[(freqs < band_hz[0]) | (freqs > band_hz[1])] = 0.0
    return _unit_peak(np.fft.irfft(spectrum, size)[:n])


def impact_grain(texture: Texture, rng: np.random.Generator, rate: int) -> np.ndarray:
    """One hit of the texture: a sharp attack, ringing partials and a decaying noise burst."""
    n = max(1, round(texture.impact_length_s * rate))
    t = np.arange(n) / rate
    detune = 1.0 + 0.03 * rng.standard_normal()
    tone = np.zeros(n)
    if texture.partials_hz:
        decay = np.exp(-t / texture.partial_decay_s)
        for i, freq in enumerate(texture.partials_hz):
            phase = rng.uniform(0.0, 2.0 * np.pi)
            tone += np.sin(2.0 * np.pi * freq * detune * t + phase) * decay / (i + 1)
        tone = _unit_peak(tone)
    noise = band_noise(rng, n, texture.noise_band_hz, rate) * np.exp(-t / texture.noise_decay_s)
    grain = texture.tone_mix * tone + (1.0 - texture.tone_mix) * _unit_peak(noise)
    grain *= np.minimum(1.0, t / texture.attack_s)
    return _unit_peak(grain)


def motion_bed(
    curve: MotionCurve, texture: Texture, rng: np.random.Generator, n: int, rate: int
) -> np.ndarray:
    """A quiet continuous layer whose loudness follows how much the picture moves."""
    if n == 0 or curve.energy.size == 0:
        return np.zeros(n)
    sample_times = np.arange(n) / rate
    scale = float(np.percentile(curve.energy, 95))
    level = np.clip(curve.energy / scale, 0.0, 1.0) if scale > 0 else np.zeros_like(curve.energy)
    envelope = np.interp(sample_times, curve.times_s, level)
    bed = band_noise(rng, n, texture.bed_band_hz, rate)
    if texture.bed_hum_hz > 0:
        hum = sum(
            np.sin(2.0 * np.pi * texture.bed_hum_hz * h * sample_times) / h for h in (1, 2, 3)
        )
        bed = 0.5 * bed + 0.5 * _unit_peak(np.asarray(hum))
    if texture.crackle_per_s > 0:
        clicks = rng.random(n) < texture.crackle_per_s * envelope / rate
        click_sound = np.convolve(
            clicks * rng.uniform(0.3, 1.0, n), np.exp(-np.arange(96) / 12.0), mode="same"
        )
        bed = 0.6 * bed + 0.4 * _unit_peak(click_sound)
    return np.asarray(texture.bed_level * envelope * bed)


def synthesise(
    curve: MotionCurve,
    duration_s: float,
    texture: Texture,
    seed: int,
    rate: int = SAMPLE_RATE,
    n_samples: int | None = None,
) -> np.ndarray:
    """Impacts at the motion onsets over the motion bed; peak at ``PEAK_DBFS`` if anything hits.

    ``n_samples`` (a window's exact length) overrides the length derived from ``duration_s``.
    """
    n = target_samples(duration_s, rate) if n_samples is None else n_samples
    rng = np.random.default_rng(seed)
    bed = motion_bed(curve, texture, rng, n, rate)
    onsets = detect_onsets(curve)
    impacts = np.zeros(n)
    choke = np.linspace(1.0, 0.0, round(CHOKE_S * rate))
    for onset in onsets:
        start = round(onset.time_s * rate)
        if start >= n:
            continue
        # A new hit damps the ringing of the previous one, so every hit is as loud as its
        # own onset says instead of riding on an earlier tail.
        tail = impacts[start : start + choke.size]
        tail *= choke[: tail.size]
        impacts[start + choke.size :] = 0.0
        grain = impact_grain(texture, rng, rate)[: n - start]
        impacts[start : start + grain.size] += onset_gain(onset.strength) * grain
    mix = np.nan_to_num(bed + impacts, nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(np.max(np.abs(mix))) if n else 0.0
    target = 10.0 ** (PEAK_DBFS / 20.0)
    # Without onsets the bed stays a quiet bed instead of being blown up to full scale.
    reference = peak if onsets else max(peak, 1.0)
    gain = target / reference if reference > 0 else 0.0
    return (mix * gain).astype(np.float32)


class ReferenceFoleyModel:
    """The CPU backend: deterministic, fast (about a second of CPU per 10 s of 720p).

    ``generate`` is one pass over the whole clip; the server runs ``generate_window``
    through ``windowing.WindowedFoley`` like any other model. For a clip that fits in
    one window both give identical samples.
    """

    name = "reference"
    #: Any window length works: the model has no context limit.
    max_window_s = math.inf
    min_window_s = 0.0

    def weights_digest(self) -> str:
        """A digest of the model's own code and constants (it has no weight files)."""
        digest = hashlib.sha256()
        here = Path(__file__).resolve().parent
        for name in _MODEL_SOURCES:
            digest.update(name.encode() + b"\x00" + (here / name).read_bytes() + b"\x00")
        return f"sha256:{digest.hexdigest()}"

    def settings(self) -> dict[str, Any]:
        return {"sample_rate": SAMPLE_RATE, "peak_dbfs": PEAK_DBFS}

    def generate_window(self, clip: WindowInput, prompt: str, seed: int) -> np.ndarray:
        """The window's sound from the motion of its own time range."""
        window = clip.window
        return synthesise(
            clip.motion(),
            window.duration_s,
            texture_for_prompt(prompt),
            seed,
            window.sample_rate,
            n_samples=window.n_samples,
        )

    def generate(self, video_path: Path, prompt: str, model_version: str) -> FoleyAudio:
        duration_s = probe_duration_s(video_path)
        curve = read_motion(video_path)
        seed = seed_for(file_sha256(video_path), prompt, model_version)
        samples = synthesise(curve, duration_s, texture_for_prompt(prompt), seed)
        return FoleyAudio(samples=samples, sample_rate=SAMPLE_RATE, duration_s=duration_s)


def generate_foley(video_path: Path, prompt: str, model_version: str) -> tuple[np.ndarray, int]:
    """Convenience entry point: (mono float32 samples, sample rate)."""
    audio = ReferenceFoleyModel().generate(video_path, prompt, model_version)
    return audio.samples, audio.sample_rate


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """16-bit PCM mono WAV; values beyond [-1, 1] are clipped, NaN written as silence."""
    clean = np.nan_to_num(np.asarray(samples, dtype=np.float64), nan=0.0, posinf=1.0, neginf=-1.0)
    pcm = np.round(np.clip(clean, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm.tobytes())


def cpu_seconds_of(video_path: Path, prompt: str, model_version: str) -> float:
    """CPU time of one generation (all threads), for benchmarks and the README."""
    start = time.process_time()
    ReferenceFoleyModel().generate(video_path, prompt, model_version)
    return time.process_time() - start


def _unit_peak(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return x / peak if peak > 0 else x
