"""Time-local span codes: what lets a trimmed, extended or re-cut upload find the frames it
shares with a cached video, and at which offset.

Why a second stream beside ``frame_signatures``: those are motion residuals against the
*whole video's* mean thumbnail, so prepending two seconds of other footage changes every
one of them. A span code depends on one instant only (and the instant 0.2 s before it):

- the high 32 bits hash the picture (a blurred, standardised 32x32 luma thumbnail);
- the low 32 bits hash what moved in the last ``MOTION_LAG`` samples (the difference of
  two such thumbnails), which is what tells two stretches of one static camera apart.

``SPAN_FPS`` samples per second on a fixed grid (k / SPAN_FPS s of the video's own
clock): a cut lands anywhere, and the grid's step bounds how far from the true offset
the alignment can start (50 ms, then refined; see ``span_match``). Sizes: 8 bytes per
sample, 80 B/s (64 KB of base64 at 600 s). Measurements: docs/decisions/0003-span-reuse.md.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from foleycache.fingerprint.version import FINGERPRINT_VERSION

SPAN_FPS = 10.0
#: Side of the thumbnail hashed per span sample.
SPAN_THUMB = 32
#: Motion is the change over this many samples (0.2 s): one sample (0.1 s) of a 12.5 fps
#: stream is often the same frame twice, and longer lags blur the cut boundaries.
MOTION_LAG = 2
HALF_BITS = 32
_SEED = 0x5A4E
#: RMS change (in thumbnail standard deviations) under which nothing moved: the motion
#: half is then ``STILL`` and such a sample is never evidence of a shared span (stills of
#: one picture at different times would otherwise agree perfectly).
STILL_RMS = 0.03
STILL = 0


@lru_cache(maxsize=4)
def span_hyperplanes(dim: int, part: int, version: int = FINGERPRINT_VERSION) -> np.ndarray:
    """(32, dim) fixed planes for the picture (part 0) or the motion (part 1) half."""
    rng = np.random.default_rng([_SEED, version, dim, part])
    planes = rng.standard_normal((HALF_BITS, dim))
    planes.setflags(write=False)
    return planes


def half_code(rows: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """uint64 (values < 2**32) SimHash of each row with 32 planes."""
    bits = (np.asarray(rows, dtype=np.float64) @ planes.T) > 0
    weights = np.uint64(1) << np.arange(HALF_BITS - 1, -1, -1, dtype=np.uint64)
    codes: np.ndarray = (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    return codes


def span_codes_of(thumbs: np.ndarray) -> np.ndarray:
    """uint64 per sample (picture << 32 | motion) from blurred, standardised thumbnails."""
    n = len(thumbs)
    flat = thumbs.reshape(n, -1).astype(np.float64)
    picture = half_code(flat, span_hyperplanes(flat.shape[1], 0))
    lagged = np.concatenate([flat[:1].repeat(min(MOTION_LAG, n), axis=0), flat[:-MOTION_LAG]])
    lagged = lagged[:n]
    # The first samples have no past: they take the change to the sample MOTION_LAG later,
    # which is what a longer video's samples there would show too, up to one lag.
    change = flat - lagged
    if n >= 2 * MOTION_LAG:
        change[:MOTION_LAG] = flat[MOTION_LAG : 2 * MOTION_LAG] - flat[:MOTION_LAG]
    motion = half_code(change, span_hyperplanes(flat.shape[1], 1))
    motion[motion == STILL] = 1  # a hashed motion is never the sentinel
    motion[np.sqrt((change**2).mean(axis=1)) < STILL_RMS] = STILL
    out: np.ndarray = (picture << np.uint64(HALF_BITS)) | motion
    return out


def picture_half(codes: np.ndarray) -> np.ndarray:
    out: np.ndarray = codes.astype(np.uint64) >> np.uint64(HALF_BITS)
    return out


def motion_half(codes: np.ndarray) -> np.ndarray:
    out: np.ndarray = codes.astype(np.uint64) & np.uint64(0xFFFF_FFFF)
    return out
