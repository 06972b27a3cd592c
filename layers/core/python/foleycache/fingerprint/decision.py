"""Stage two: is a candidate found by its code really the same video?

Why a second stage: a 64-bit code within ``FIND_RADIUS`` bits demands cosine
~0.98, which honest re-encodes with subtitles, logos or combined edits do not
reach; widening the radius instead lets different videos in. So the code only
*finds* candidates, and this module *decides* on the stored 512-d vector, the
motion signatures (2 per second) aligned in time, and the durations.

Safety rule: a different video must never be declared the same (it would be
served a stranger's soundtrack). Every test below must pass. Thresholds come
from bench/fingerprint_eval.py (results/fingerprint_eval.json, v3, 91
positives; 4,116 cross-clip, 27 same-shot segment and 318 same-shot window
negatives; centring refitted leave-pair-out, and the shipped constants):

- cosine of the 512-d vectors: cross-clip negatives reach at most 0.47,
  positives go down to 0.81 with leave-pair-out centring, but to 0.75 with the
  shipped constants (fitted on these same clips: a clip in its own centring
  loses some of its signal; 6 of 91 edits fell under 0.80) -> ``MIN_SIMILARITY``
  0.70, still 0.23 above any different video. It cannot separate windows of
  one shot (up to 0.999), so the signature test below carries the hardest
  negatives anyway, and cross-clip pairs are >= 28 bits apart there.
- mean Hamming distance of the time-aligned motion signatures (2 per second,
  see ``extract.frame_signatures``), at the best of +-1 s of trim and both
  orientations. The mean, not the median the rule used first: in a
  near-static shot (a parked-car camera, empty road) the moving part is one
  pattern (camera jitter at a few high-contrast edges), so each signature is
  about +-one code and two *different* windows of that shot agree on whichever
  samples share the jitter's sign and disagree by ~50 bits on the rest. The
  median hid that bimodality (3 s windows of the empty road 9-11 bits apart, 2.5 s
  windows of the coffee shot 11); the mean counts it (16.4-18.2 and 12.0).
  Measured with bench/fingerprint_eval.py (91 edit positives, 4,116 cross-clip
  pairs, 27 same-shot segments and every pair of 2, 2.5, 3 and 4 s windows of
  one shot) and replay-style windows (4.5 and 3 s cuts of every clip, each re-encoded
  at CRF 33/38, 2/3 scale and +-6 % brightness): positives of >= 3 s reach 12.4
  (CRF 33 of a 4.5 s empty-road cut; the eval edits <= 8.6), negatives of >= 3 s
  never go below 15.6 -> ``MAX_FRAME_HAMMING`` 13. Below 3 s there is less time
  for two windows of one shot to diverge: the 2.4 s clip's 13 edits reach 8.0,
  2.5 s windows of one shot come down to 12.0 -> ``SHORT_MAX_FRAME_HAMMING`` 10
  under ``SHORT_SIGNATURES`` (6 signatures: videos shorter than 2.5-3 s). A
  CRF 38 copy of an empty-road cut (17-19) is not matched: its motion is gone,
  and a miss costs one GPU run.
- at least ``MIN_ALIGNED`` aligned signatures (2 s): below that an average is
  not evidence (adjacent 1 s windows of one shot came down to 8 bits).
  Shorter videos are never matched: a miss costs a GPU run, a false match a
  stranger's soundtrack.
- ``FIND_RADIUS`` stays 5: it finds 60 % of positives (v2: 58 %) and none of
  the 4,116 cross-clip pairs (closest 17 bits), but 1 segment pair and 26 of
  the 318 same-shot window pairs lie within 5 bits anyway, so widening buys
  recall only, and the decision, not the radius, is what keeps false matches
  at 0.

Known limit (measured, ``same_shot_windows_any_offset`` in the eval JSON): with
windows of one shot started at *every* half-second offset instead of on a grid,
14 of 6,995 pairs are accepted (the median rule: 31). 13 are 2-5 s stretches of
the traffic camera with an empty road, or with one car leaving the frame at the
same place in the first half-second (9 s and 19 s): pictures and motion are the
same there, and no picture-based rule can tell them apart; one is two 2.5 s
windows of the coffee shot (8.75 < 10). Refusing near-static video outright would
also refuse every honest re-encode of it (8 of 22 near-duplicates in the replay).

Duration rule: |a - b| <= max(0.5 s, 2 % of the longer). Beyond that the
cached soundtrack would drift audibly out of sync (a 2 % error is 0.2 s at
10 s); within it, container and frame-rate conversions (30 -> 24 fps,
re-muxing) stay accepted.
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
