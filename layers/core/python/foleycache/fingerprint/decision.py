"""Stage two: is a candidate found by its code really the same video?

Why a second stage: a 64-bit code within ``FIND_RADIUS`` bits demands cosine ~0.98,
which honest re-encodes with subtitles, logos or combined edits do not reach, and a
wider radius lets different videos in. So the code only *finds* candidates; this
module *decides* on the stored 512-d vector, the time-aligned motion signatures and
the durations. A different video must never be declared the same (it would be served
a stranger's soundtrack), so every test below must pass:

- durations agree within max(0.5 s, 2 % of the longer): beyond it the soundtrack
  drifts audibly; within it, re-muxes and frame-rate conversions stay accepted;
- cosine of the vectors at least ``MIN_SIMILARITY``;
- at least ``MIN_ALIGNED`` aligned signatures (2 s): less is not evidence;
- the *mean* Hamming distance of the aligned signatures, at the best of +-1 s trim and
  both orientations, at most ``MAX_FRAME_HAMMING`` (``SHORT_MAX_FRAME_HAMMING`` for
  videos under ``SHORT_SIGNATURES``). The mean, not the median: in a near-static shot
  two different windows agree on about half their samples and differ widely on the
  rest, which a median hides.

The measurements behind each constant, and the known limit (windows of one
near-static shot at arbitrary offsets), are in docs/decisions/0001-match-decision.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from foleycache.fingerprint.hashing import hamming, hamming_many, swap_halves
from foleycache.fingerprint.record import SIGNATURE_FPS, Fingerprint

#: Hamming radius used to find candidates by code (the seed contract).
FIND_RADIUS = 5
DURATION_ABS_S = 0.5
DURATION_REL = 0.02
#: Minimum cosine of the pooled vectors.
MIN_SIMILARITY = 0.70
#: Maximum mean Hamming distance between time-aligned signatures (>= SHORT_SIGNATURES).
MAX_FRAME_HAMMING = 13.0
#: Videos with fewer signatures than this (shorter than 2.5-3 s) must agree more closely.
SHORT_SIGNATURES = 6
SHORT_MAX_FRAME_HAMMING = 10.0
#: Alignment shifts tried: trims of up to one second at either end, in signatures.
MAX_SHIFT_S = 1.0
MAX_SHIFT = round(MAX_SHIFT_S * SIGNATURE_FPS)
#: Fewest aligned signatures (2 s at SIGNATURE_FPS) whose mean counts as evidence.
MIN_ALIGNED = 4


@dataclass(frozen=True)
class MatchDecision:
    hamming: int
    similarity: float
    same: bool
    reason: str
    #: Mean signature Hamming distance at the best alignment (64 when not comparable).
    frame_hamming: float = 64.0


def durations_agree(a: float, b: float) -> bool:
    return abs(a - b) <= max(DURATION_ABS_S, DURATION_REL * max(a, b))


def aligned_frame_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean signature Hamming distance at the best shift and orientation.

    64.0 when no shift leaves ``MIN_ALIGNED`` signatures side by side.
    """
    return min(_aligned(a, b), _aligned(a, swap_halves(b)))


def _aligned(a: np.ndarray, b: np.ndarray) -> float:
    best = 64.0
    for shift in range(-MAX_SHIFT, MAX_SHIFT + 1):
        x = a[max(shift, 0) :]
        y = b[max(-shift, 0) :]
        n = min(len(x), len(y))
        if n < max(MIN_ALIGNED, min(len(a), len(b)) - MAX_SHIFT):
            continue
        best = min(best, float(hamming_many(x[:n], y[:n]).mean()))
    return best


def max_frame_hamming(a: Fingerprint, b: Fingerprint) -> float:
    """The signature threshold for this pair: tighter when either video is short."""
    shortest = min(len(a.frame_signatures), len(b.frame_signatures))
    return SHORT_MAX_FRAME_HAMMING if shortest < SHORT_SIGNATURES else MAX_FRAME_HAMMING


def decide(a: Fingerprint, b: Fingerprint) -> MatchDecision:
    """Verify a candidate pair; ``same`` only if versions, durations, vector and frames agree."""
    h = hamming(a.code, b.code)
    similarity = float(np.dot(a.vector.astype(np.float64), b.vector.astype(np.float64)))
    if a.version != b.version:
        return MatchDecision(h, similarity, False, f"version {a.version} != {b.version}")
    if not durations_agree(a.duration_s, b.duration_s):
        reason = f"duration {a.duration_s:.2f}s vs {b.duration_s:.2f}s"
        return MatchDecision(h, similarity, False, reason)
    frame_h = aligned_frame_distance(a.frame_signatures, b.frame_signatures)
    if similarity < MIN_SIMILARITY:
        reason = f"similarity {similarity:.3f} < {MIN_SIMILARITY}"
        return MatchDecision(h, similarity, False, reason, frame_h)
    if min(len(a.frame_signatures), len(b.frame_signatures)) < MIN_ALIGNED:
        reason = f"too short for the temporal check (< {MIN_ALIGNED} signatures)"
        return MatchDecision(h, similarity, False, reason, frame_h)
    limit = max_frame_hamming(a, b)
    if frame_h > limit:
        reason = f"motion signatures differ (mean H={frame_h:.2f} > {limit:g})"
        return MatchDecision(h, similarity, False, reason, frame_h)
    reason = f"same: similarity {similarity:.3f}, signature mean H={frame_h:.2f}"
    return MatchDecision(h, similarity, True, reason, frame_h)
