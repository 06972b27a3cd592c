"""What the near-duplicate matcher and the span index share: the index stores they probe
and where a candidate's fingerprint and sound are read from.

Both find candidates in the same two stores (Redis hot, DynamoDB durable; hot first)
and verify them on the library's fingerprint, so the wiring lives here once.
"""

from __future__ import annotations

from foleycache.cache.entry import CacheEntry
from foleycache.cache.library import FingerprintLibrary
from foleycache.cache.tiered import TieredCache
from foleycache.core.keys import CacheKey
from foleycache.core.ports import MetricsSink, NearIndexStore, NullMetrics


class IndexedLookup:
    def __init__(
        self,
        hot: NearIndexStore | None,
        durable: NearIndexStore,
        cache: TieredCache,
        metrics: MetricsSink | None = None,
        *,
        library: FingerprintLibrary | None = None,
    ) -> None:
        self.hot = hot
        self.durable = durable
        self.cache = cache
        self.metrics = metrics or NullMetrics()
        #: Where stored fingerprints are verified from (shared by every model version);
        #: without it, a candidate is verified on its entry's own fingerprint.
        self.library = library

    def _stores(self) -> list[NearIndexStore]:
        """The stores to probe, hot first; a missing hot store is skipped."""
        return [s for s in (self.hot, self.durable) if s is not None]

    def _entry(self, key: CacheKey) -> CacheEntry | None:
        """The sound under ``key``'s model version, L1 first."""
        return self.cache.get_l1(key) or self.cache.get_l2(key)
