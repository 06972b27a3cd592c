"""The stored form of a fingerprint: what a cache entry keeps to be matched later.

Why these fields: ``code`` finds candidates cheaply (Hamming radius), while the
``vector`` and the twice-a-second ``frame_signatures`` let ``decide`` verify a
candidate on much richer data, and ``duration_s`` makes sure the cached
soundtrack lines up with the new video.

Guarantee: ``Fingerprint.from_dict(fp.to_dict())`` equals ``fp`` field by field,
the dict is JSON-safe and under 16 KB for videos up to 10 minutes
(vector 2 KB, signatures 16 bytes per second, base64: 15.65 KB at 600 s) *without*
``span_codes``; those add 80 bytes per second and ``span_lags_ms`` 20 (80 KB of base64 at
600 s, so about 96 KB in all: well inside the Step Functions state's 256 KB and DynamoDB's
400 KB items).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from foleycache.core.errors import InvalidInput
from foleycache.fingerprint.version import FINGERPRINT_VERSION

VECTOR_DIM = 512
#: Rate of ``frame_signatures`` (signatures per second of video), i.e. of the small
#: greyscale frames behind them (``sampling``, ``extract.frame_signatures``). It lives
#: here, not in ``sampling``, because ``decision`` needs it and must not load OpenCV.
#: Denser than the CNN's 1/s because the temporal check needs >= 4 samples
#: (``decision.MIN_ALIGNED``), which a 2.4 s clip has at 2/s but not at 1/s. 4/s
#: measured no better (furthest positive 8 bits, closest segment pair 16 at both
#: rates) and would push a 10-minute record past 16 KB. Cost: one retrieve per second
#: more than the CNN alone, as the grids are shared (sampling CPU on the 7 clips +8 %
#: over v1; +13-18 % with a separate grid).
SIGNATURE_FPS = 2.0


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _unb64(text: str, dtype: type[np.generic]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<")).copy()


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """A near-duplicate-tolerant description of one video."""

    #: 64-bit SimHash of ``vector`` (unsigned).
    code: int
    #: float32 (512,), L2-normalised, weighted temporal pool of per-second features.
    vector: np.ndarray
    #: uint64 (2 per second,): SimHash of each signature sample's motion, in time order.
    frame_signatures: np.ndarray
    duration_s: float
    #: Frames decoded (not sampled): a cheap sanity figure for logs.
    frames: int
    version: int = FINGERPRINT_VERSION
    #: uint64 (SPAN_FPS per second,): time-local codes for reuse across cuts
    #: (``fingerprint.spans``); empty in records made before they existed.
    span_codes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    #: uint16 (one per span code): milliseconds from each span sample's grid instant to the
    #: start of the frame it holds (the first shown at or after it), so that a cut between
    #: two samples is placed by the frames, whatever the frame rate (``cache.cut_joins``);
    #: empty in records made before they existed (such a record joins no cut).
    span_lags_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint16))

    @property
    def hex(self) -> str:
        return f"{self.code:016x}"

    def to_dict(self) -> dict[str, Any]:
        out = {
            "version": self.version,
            "code": self.hex,
            "vector": _b64(self.vector.astype("<f4")),
            "frame_signatures": _b64(self.frame_signatures.astype("<u8")),
            "duration_s": round(float(self.duration_s), 3),
            "frames": int(self.frames),
        }
        if len(self.span_codes):
            out["span_codes"] = _b64(self.span_codes.astype("<u8"))
        if len(self.span_lags_ms):
            out["span_lags_ms"] = _b64(self.span_lags_ms.astype("<u2"))
        return out

    @property
    def span_lags_s(self) -> np.ndarray:
        """``span_lags_ms`` in seconds (NaN where unknown), where there is one per span
        code (else empty)."""
        if len(self.span_lags_ms) != len(self.span_codes):
            return np.zeros(0, dtype=np.float64)
        out: np.ndarray = self.span_lags_ms.astype(np.float64) / 1000.0
        out[self.span_lags_ms == UNKNOWN_LAG_MS] = np.nan
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Fingerprint:
        try:
            vector = _unb64(d["vector"], np.float32).astype(np.float32)
            signatures = _unb64(d["frame_signatures"], np.uint64).astype(np.uint64)
            spans = _unb64(d.get("span_codes", ""), np.uint64).astype(np.uint64)
            lags = _unb64(d.get("span_lags_ms", ""), np.uint16).astype(np.uint16)
            fp = cls(
                code=int(d["code"], 16),
                vector=vector,
                frame_signatures=signatures,
                duration_s=float(d["duration_s"]),
                frames=int(d["frames"]),
                version=int(d["version"]),
                span_codes=spans,
                span_lags_ms=lags,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"not a stored fingerprint: {exc}") from exc
        if vector.shape != (VECTOR_DIM,):
            raise InvalidInput(f"fingerprint vector has shape {vector.shape}")
        return fp

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fingerprint):
            return NotImplemented
        return (
            self.code == other.code
            and self.version == other.version
            and self.frames == other.frames
            and abs(self.duration_s - other.duration_s) < 1e-3
            and np.array_equal(self.vector, other.vector)
            and np.array_equal(self.frame_signatures, other.frame_signatures)
            and np.array_equal(self.span_codes, other.span_codes)
            and np.array_equal(self.span_lags_ms, other.span_lags_ms)
        )

    __hash__ = None  # type: ignore[assignment]


#: ``span_lags_ms`` of a sample whose frame is not known (its picture is an earlier
#: frame's, where a frame could not be converted).
UNKNOWN_LAG_MS = 0xFFFF


def span_lags_ms(lags_s: np.ndarray) -> np.ndarray:
    """Per-sample frame lags in whole milliseconds, rounded up (a frame is never placed
    before it starts; uint16: up to 65 s, a still image), NaN as ``UNKNOWN_LAG_MS``."""
    lags = np.asarray(lags_s, dtype=np.float64)
    ms = np.clip(np.ceil(np.nan_to_num(lags, nan=0.0) * 1000.0 - 1e-6), 0, UNKNOWN_LAG_MS - 1)
    out: np.ndarray = np.where(np.isnan(lags), UNKNOWN_LAG_MS, ms).astype(np.uint16)
    return out
