"""From a video file to a ``Fingerprint``.

Pipeline (each step's reason is in its module): 1 frame/s by timestamp, plus small
grey frames at 2/s for the signatures (sampling) -> black-border autocrop (borders)
-> per second a mirror-averaged EfficientNet-Lite0 embedding of the greyscale frame
(cnn) and 64 colour/layout/edge numbers (handcrafted) -> centring (calibration) -> a
fixed projection to 448 + 64 = 512 dimensions -> temporal pooling weighted by how
much picture a second carries -> L2 norm -> 64-bit SimHash (hashing).

Why weighted pooling: black, faded or flat seconds look alike in every video;
down-weighting them keeps a fade-to-black from pulling unrelated videos together.

Why signatures of the *moving* part of a thumbnail, twice a second: segments of one
shot share background, camera and duration, so their pooled vectors are nearly equal;
removing the video's own mean thumbnail leaves what moves. The hyperplanes are
mirror-structured so a flipped copy is compared by swapping code halves.

How v1 -> v2 -> v3 signatures were chosen, with the measurements:
docs/decisions/0002-motion-signatures.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from foleycache.fingerprint import cnn, handcrafted
from foleycache.fingerprint.borders import DARK_LEVEL, Box, content_box
from foleycache.fingerprint.calibration import Calibration, shipped
from foleycache.fingerprint.hashing import mirror_hyperplanes, simhash
from foleycache.fingerprint.record import VECTOR_DIM, Fingerprint, span_lags_ms
from foleycache.fingerprint.sampling import sample_video
from foleycache.fingerprint.spans import SPAN_THUMB, span_codes_of

CNN_DIM = VECTOR_DIM - handcrafted.DIM
#: Share of each second's squared norm given to the hand-made features: enough for colour
#: and layout to separate clips, small enough that greyscale/sepia copies (which lose the
#: colour block) kept cosine >= 0.83.
HAND_SHARE = 0.15
#: Contrast (grey std) at which a second counts fully in the temporal pool.
FULL_WEIGHT_CONTRAST = 32.0
MIN_WEIGHT = 0.1
#: Side of the luma thumbnail (one per signature sample) behind ``frame_signatures``.
#: 48, not 16 (v2): in a static shot (a traffic camera) the moving cars cover a
#: few 16x16 cells, so most of a 16x16 residual was compression noise and
#: re-encodes of a 4.5 s window landed 16-26 bits from it; at 48 they land <= 12.
THUMB = 48
#: Gaussian blur (in cells) of the thumbnail before hashing: the finer grid alone
#: made crop5/combo copies drift (up to 16 bits); 0.75 cells brings them back to <= 9
#: while segments of one shot stay >= 17 (1 and 2 cells pulled car windows together).
SIGNATURE_BLUR = 0.75
#: Each cell's weight is its residual RMS over the video raised to this power, so
#: cells where nothing moves (only codec noise) cannot flip bits.
MOTION_WEIGHT_POWER = 1.5
#: Share of the video's own average thumbnail removed before hashing each second.
#: The rest of the signal is what moves: segments of one static shot (same
#: background, same duration) differ there, edited copies of one video do not.
BACKGROUND_REMOVAL = 1.0
#: Seed of the CNN projection: the one measured since v1 (codes still change with
#: the version through the hashing hyperplanes, and the version is in every cache key).
PROJECTION_SEED = 1


@dataclass(frozen=True)
class VideoFeatures:
    """Uncentred per-second features: what calibration is fitted on and applied to."""

    heads: np.ndarray  # (seconds, cnn.HEAD_DIM)
    hands: np.ndarray  # (seconds, handcrafted.DIM)
    thumbs: np.ndarray  # (signature samples, THUMB, THUMB) per-frame standardised luma
    #: (span samples, SPAN_THUMB, SPAN_THUMB): the same, smaller, blurred, at SPAN_FPS.
    span_thumbs: np.ndarray
    weights: np.ndarray  # (seconds,)
    times_s: np.ndarray  # (seconds,)
    duration_s: float
    frames_decoded: int
    #: (span samples,): how long after its grid instant each span sample's frame starts.
    span_lags_s: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))


@lru_cache(maxsize=1)
def _projection() -> np.ndarray:
    """Fixed orthonormal map from the CNN's 1280 dimensions to CNN_DIM (seeded by version).

    Orthonormal columns keep the geometry of the centred embedding as well as a
    1280 -> 448 map can, without fitting anything on data. Seeded by
    ``PROJECTION_SEED``, not the version, so that the cosine margins measured
    with it stay valid when only signatures or the decision rule change.
    """
    rng = np.random.default_rng([0x5EED, PROJECTION_SEED, cnn.HEAD_DIM, CNN_DIM])
    q, _ = np.linalg.qr(rng.standard_normal((cnn.HEAD_DIM, CNN_DIM)))
    return q.astype(np.float32)


def video_features(path: Path) -> VideoFeatures:
    """Decode and describe every sampled second; raises InvalidVideo."""
    sampled = sample_video(Path(path))
    box = content_box(sampled.row_lit, sampled.col_lit)
    crops = [box.apply(f) for f in sampled.frames]
    greys = [cv2.cvtColor(c, cv2.COLOR_BGR2GRAY) for c in crops]
    heads = cnn.embed(greys)
    hands = np.stack([handcrafted.frame_features(c) for c in crops])
    thumbs = np.stack([_thumbnail(box.apply(g)) for g in sampled.signature_frames])
    span_thumbs = np.stack([_span_thumbnail(_own_box(g).apply(g)) for g in sampled.span_frames])
    contrast = np.array([float(g.std()) for g in greys], dtype=np.float32)
    weights = np.clip(contrast / FULL_WEIGHT_CONTRAST, MIN_WEIGHT, 1.0)
    return VideoFeatures(
        heads=heads,
        hands=hands,
        thumbs=thumbs,
        span_thumbs=span_thumbs,
        weights=weights,
        times_s=np.asarray(sampled.times_s, dtype=np.float32),
        duration_s=sampled.duration_s,
        frames_decoded=sampled.frames_decoded,
        span_lags_s=np.asarray(sampled.span_frame_times_s, dtype=np.float64)
        - np.asarray(sampled.span_times_s, dtype=np.float64),
    )


def _thumbnail(grey: np.ndarray) -> np.ndarray:
    t = cv2.resize(grey, (THUMB, THUMB), interpolation=cv2.INTER_AREA).astype(np.float32)
    standard: np.ndarray = (t - t.mean()) / max(float(t.std()), 2.0)
    return standard


def _own_box(grey: np.ndarray) -> Box:
    """The frame's own picture area. Span codes must not depend on other frames: the
    video-wide box changes when footage with other borders is prepended (a pillarboxed
    film after a full-frame intro)."""
    lit = grey >= DARK_LEVEL
    return content_box([lit.mean(axis=1, dtype=np.float32)], [lit.mean(axis=0, dtype=np.float32)])


def _span_thumbnail(grey: np.ndarray) -> np.ndarray:
    side = (SPAN_THUMB, SPAN_THUMB)
    t = cv2.resize(grey, side, interpolation=cv2.INTER_AREA).astype(np.float32)
    standard = (t - t.mean()) / max(float(t.std()), 2.0)
    blurred: np.ndarray = cv2.GaussianBlur(standard, (0, 0), SIGNATURE_BLUR)
    return blurred


def frame_signatures(thumbs: np.ndarray) -> np.ndarray:
    """uint64 per signature sample: mirror-structured SimHash of the motion-emphasised thumbnail.

    Blur and weights are symmetric left-right, so ``swap_halves`` still maps a
    flipped copy's codes onto the original's.
    """
    side = thumbs.shape[-1]
    smooth = np.stack([cv2.GaussianBlur(t, (0, 0), SIGNATURE_BLUR) for t in thumbs])
    moving = smooth - BACKGROUND_REMOVAL * smooth.mean(axis=0, keepdims=True)
    weight = np.sqrt((moving**2).mean(axis=0)) ** MOTION_WEIGHT_POWER
    weighted = (moving * weight).reshape(len(thumbs), -1)
    return simhash(weighted, mirror_hyperplanes(side, side))


def _rows_unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit: np.ndarray = x / np.maximum(norms, 1e-9)
    return unit


def per_second_vectors(features: VideoFeatures, calibration: Calibration) -> np.ndarray:
    """(seconds, 512) unit vectors: centred, projected CNN part + centred hand-made part."""
    cnn_part = _rows_unit((features.heads - calibration.head_mean) @ _projection())
    hand_part = _rows_unit(features.hands - calibration.hand_mean)
    return np.hstack(
        [np.sqrt(1.0 - HAND_SHARE) * cnn_part, np.sqrt(HAND_SHARE) * hand_part]
    ).astype(np.float32)


def assemble(features: VideoFeatures, calibration: Calibration | None = None) -> Fingerprint:
    """The fingerprint of already extracted features (lets the harness refit calibration)."""
    per_second = per_second_vectors(features, calibration or shipped())
    pooled = (features.weights[:, None] * per_second).sum(axis=0)
    vector = (pooled / max(float(np.linalg.norm(pooled)), 1e-9)).astype(np.float32)
    return Fingerprint(
        code=int(simhash(vector)[0]),
        vector=vector,
        frame_signatures=frame_signatures(features.thumbs),
        span_codes=span_codes_of(features.span_thumbs),
        duration_s=float(features.duration_s),
        frames=int(features.frames_decoded),
        span_lags_ms=span_lags_ms(features.span_lags_s),
    )


def fingerprint_video(path: Path) -> Fingerprint:
    """Fingerprint one video file; raises ``InvalidVideo`` if it cannot be decoded."""
    return assemble(video_features(Path(path)))


def fingerprint_paths(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Fingerprint many files (one model load): ``{path, fingerprint, duration_s, frames}`` each.

    ``fingerprint`` is ``Fingerprint.to_dict()``; an unreadable file raises
    ``InvalidVideo`` naming it, rather than silently dropping it from a batch.
    """
    out: list[dict[str, Any]] = []
    for p in paths:
        fp = fingerprint_video(Path(p))
        out.append(
            {
                "path": str(p),
                "fingerprint": fp.to_dict(),
                "duration_s": fp.duration_s,
                "frames": fp.frames,
            }
        )
    return out
