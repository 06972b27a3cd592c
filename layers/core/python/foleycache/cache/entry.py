"""A cached Foley result: what L1 and L2 store for one :class:`CacheKey`.

The entry carries the fingerprint's richer data (float vector and per-second
signatures), because a near-duplicate candidate found by its 64-bit code must
be *verified* against it before reuse: the code alone is never proof.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from foleycache.core.keys import CacheKey


@dataclass(frozen=True, slots=True)
class CacheEntry:
    key: CacheKey
    audio_key: str  # S3 key of the WAV in the cache bucket
    duration_s: float
    sample_rate: int
    fingerprint_data: dict[str, Any]  # Fingerprint.to_dict()
    created_at: float
    source_job: str = ""
    backend: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        body = asdict(self)
        body["key"] = {
            "fingerprint": self.key.fingerprint,
            "prompt_md5": self.key.prompt_md5,
            "model_version": self.key.model_version,
            "fingerprint_version": self.key.fingerprint_version,
        }
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> CacheEntry:
        body = json.loads(text)
        body["key"] = CacheKey(**body["key"])
        return cls(**body)
