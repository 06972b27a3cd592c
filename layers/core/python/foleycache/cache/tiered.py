"""The two cache tiers behind one lookup: L1 (Redis), then L2 (S3).

Guarantees:
- A key only ever addresses its own model and fingerprint version (see
  :mod:`foleycache.core.keys`), so no version can read another's entries.
- L2's ``entry.json`` is the commit point: the audio object is written first,
  the entry last, so a reader that sees an entry always finds its audio.
- L1 is an accelerator, never a dependency: if Redis is down, lookups fall
  through to L2 and stores still reach L2 (``Services`` hands this class a
  best-effort L1, :mod:`foleycache.cache.best_effort`).
- An L2 hit backfills L1, so the next repeat costs one Redis GET.
"""

from __future__ import annotations

import time

from foleycache.cache import names
from foleycache.cache.entry import CacheEntry
from foleycache.core import metrics as M
from foleycache.core.job import CacheOutcome
from foleycache.core.keys import CacheKey
from foleycache.core.ports import BlobStore, HotCache, MetricsSink, NullMetrics


class TieredCache:
    def __init__(
        self,
        hot: HotCache | None,
        blobs: BlobStore,
        *,
        l1_ttl_s: int,
        metrics: MetricsSink | None = None,
    ) -> None:
        self.hot = hot
        self.blobs = blobs
        self.l1_ttl_s = l1_ttl_s
        self.metrics = metrics or NullMetrics()

    # --- reads ---------------------------------------------------------------------
    def get_l1(self, key: CacheKey) -> CacheEntry | None:
        if self.hot is None:
            return None
        raw = self.hot.get(names.redis_entry(key), self.l1_ttl_s)
        if raw is None:
            return None
        self.metrics.emit(M.L1_HIT_BYTES, len(raw))
        return CacheEntry.from_json(raw)

    def get_l2(self, key: CacheKey) -> CacheEntry | None:
        raw = self.blobs.get_bytes(names.l2_entry(key))
        if raw is None:
            return None
        self.metrics.emit(M.L2_HIT_BYTES, len(raw))
        entry = CacheEntry.from_json(raw)
        self.put_l1(entry)
        return entry

    def peek_l2(self, key: CacheKey) -> CacheEntry | None:
        """The durable entry for maintenance jobs: no L1 backfill, not counted as a hit."""
        raw = self.blobs.get_bytes(names.l2_entry(key))
        return None if raw is None else CacheEntry.from_json(raw)

    def lookup(self, key: CacheKey) -> tuple[CacheOutcome, CacheEntry] | None:
        """L1, then L2; counts a hit per tier or a miss, and the lookup latency."""
        started = time.perf_counter()
        try:
            entry = self.get_l1(key)
            if entry is not None:
                self.metrics.emit(M.L1_READ_HIT)
                return CacheOutcome.L1, entry
            entry = self.get_l2(key)
            if entry is not None:
                self.metrics.emit(M.L2_READ_HIT)
                return CacheOutcome.L2, entry
            self.metrics.emit(M.READ_MISS)
            return None
        finally:
            self.metrics.emit(M.LOOKUP_LATENCY, (time.perf_counter() - started) * 1000)

    # --- writes --------------------------------------------------------------------
    def put_l1(self, entry: CacheEntry) -> None:
        if self.hot is not None:
            self.hot.set(names.redis_entry(entry.key), entry.to_json().encode(), self.l1_ttl_s)

    def store(self, entry: CacheEntry) -> None:
        """Commit an entry whose audio is already at ``entry.audio_key``: L2 first, then L1."""
        self.blobs.put_bytes(
            names.l2_entry(entry.key), entry.to_json().encode(), "application/json"
        )
        self.put_l1(entry)
