"""The fingerprint library: what is known of videos, shared by every model version.

A fingerprint depends on the video and the fingerprint algorithm, never on the model
that makes the sound. So the stored fingerprints (this module), the exact-bytes
records (:mod:`foleycache.cache.repeat_memory`) and the near-duplicate index
(:mod:`foleycache.cache.near_match`) are kept per fingerprint version and prompt only
(:func:`foleycache.cache.names.index_scope`). A new model version then finds a known
video, exactly or near, without decoding it; only its sound, which lives under the
model version (:mod:`foleycache.cache.tiered`), has to be made again.

One record per (fingerprint version, prompt, 64-bit code or key slot), like an entry
without its model version: written when a sound entry is committed, before its code
joins the near index, so every index member has a fingerprint to be verified against.
Being shared by every version, it is also what says which video holds which key slot
of a code (:data:`foleycache.core.keys.KEY_SLOTS`). L1 (Redis) is an accelerator; L2
(S3, beside the entries) is the record.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from foleycache.cache import names
from foleycache.core.keys import CacheKey, is_slot_of
from foleycache.core.ports import BlobStore, HotCache
from foleycache.fingerprint import Fingerprint, decide


class FingerprintLibrary:
    def __init__(self, hot: HotCache | None, blobs: BlobStore, *, l1_ttl_s: int) -> None:
        self.hot = hot
        self.blobs = blobs
        self.l1_ttl_s = l1_ttl_s

    def get(self, key: CacheKey) -> dict[str, Any] | None:
        """The fingerprint (``Fingerprint.to_dict()``) stored for the key's code and prompt,
        under any model version; None if the library does not know it."""
        raw = None
        if self.hot is not None:
            raw = self.hot.get(names.redis_library_fingerprint(key), self.l1_ttl_s)
        if raw is None:
            raw = self.blobs.get_bytes(names.l2_library_fingerprint(key))
            if raw is None:
                return None
            self._put_l1(key, raw)
        body = json.loads(raw)
        # The record is addressed by its code, or a slot of it (another video holds the code);
        # one that carries another code is not this video's.
        if not isinstance(body, dict) or not is_slot_of(key.fingerprint, str(body.get("code"))):
            return None
        return body

    def put(self, key: CacheKey, fingerprint_data: dict[str, Any]) -> None:
        """Record the fingerprint the key's code (or slot) stands for: L2 first, then L1."""
        if not is_slot_of(key.fingerprint, str(fingerprint_data.get("code"))):
            raise ValueError(
                f"fingerprint {fingerprint_data.get('code')!r} is not {key.fingerprint!r}"
            )
        raw = json.dumps(fingerprint_data, separators=(",", ":")).encode()
        self.blobs.put_bytes(names.l2_library_fingerprint(key), raw, "application/json")
        self._put_l1(key, raw)

    def _put_l1(self, key: CacheKey, raw: bytes) -> None:
        if self.hot is not None:
            self.hot.set(names.redis_library_fingerprint(key), raw, self.l1_ttl_s)


def same_video(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two stored fingerprints (``Fingerprint.to_dict()``) are one video: equal
    records (but for the frame lags, which records made before them lack), or the
    signature decision says so."""
    if _without_lags(a) == _without_lags(b):
        return True
    return decide(Fingerprint.from_dict(dict(a)), Fingerprint.from_dict(dict(b))).same


def _without_lags(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "span_lags_ms"}
