"""Centring constants: the "average frame" that is subtracted before hashing.

Why centre: CNN (ReLU6) outputs and histograms are all positive, so unrelated
videos sat at cosine 0.55-0.93 before centring and collided (closest
different videos at H=1); mean-centring moved the closest negative to H=9
(shared/notes/fingerprint.md). Why no whitening: 7 real clips give ~80 sampled
seconds, far fewer than the 1280 dimensions a whitening matrix needs.

The shipped constants (``calibration_constants.py``) are fitted by
``python -m foleycache.fingerprint.calibrate``; the evaluation harness refits
them per fold on clips that are *not* in the pair being judged.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from foleycache.fingerprint import cnn, handcrafted


@dataclass(frozen=True)
class Calibration:
    head_mean: np.ndarray  # (cnn.HEAD_DIM,)
    hand_mean: np.ndarray  # (handcrafted.DIM,)

    def encode(self) -> str:
        both = np.concatenate([self.head_mean, self.hand_mean]).astype("<f4")
        return base64.b64encode(both.tobytes()).decode("ascii")

    @classmethod
    def decode(cls, text: str) -> Calibration:
        both = np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float32)
        if both.shape != (cnn.HEAD_DIM + handcrafted.DIM,):
            raise ValueError(f"calibration has {both.shape} values")
        return cls(both[: cnn.HEAD_DIM], both[cnn.HEAD_DIM :])


def fit(
    per_video_heads: Sequence[np.ndarray], per_video_hands: Sequence[np.ndarray]
) -> Calibration:
    """Mean of per-video means: every training video counts once, whatever its length."""
    head = np.mean([h.mean(axis=0) for h in per_video_heads], axis=0)
    hand = np.mean([h.mean(axis=0) for h in per_video_hands], axis=0)
    return Calibration(head.astype(np.float32), hand.astype(np.float32))


@lru_cache(maxsize=1)
def shipped() -> Calibration:
    from foleycache.fingerprint.calibration_constants import CALIBRATION_B64

    return Calibration.decode(CALIBRATION_B64)
