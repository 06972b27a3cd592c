"""What the near-duplicate matcher and the span index share: the index stores they probe
and where a candidate's fingerprint and sound are read from.

Both find candidates in the same two stores (Redis hot, DynamoDB durable; hot first)
and verify them on the library's fingerprint, so the wiring lives here once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from foleycache.cache.entry import CacheEntry
from foleycache.cache.library import FingerprintLibrary
from foleycache.cache.tiered import TieredCache
from foleycache.core import metrics as M
from foleycache.core.keys import CacheKey
from foleycache.core.ports import MetricsSink, NearIndexStore, NullMetrics
from foleycache.fingerprint import Fingerprint, decide

log = logging.getLogger(__name__)


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

    def _sound_of(self, key: CacheKey, known: Mapping[str, Any]) -> CacheEntry | None:
        """The entry under ``key`` if it is the sound of the video ``known`` describes (the
        fingerprint the candidate was verified on). A key collision can leave them apart:
        a video with the same 64-bit code, committed under another model version, replaces
        the library's record but not this version's entry, which is still the first
        video's sound and must not be lent to copies of the second."""
        entry = self._entry(key)
        if entry is None or not entry.fingerprint_data or entry.fingerprint_data == known:
            return entry
        if decide(
            Fingerprint.from_dict(dict(entry.fingerprint_data)), Fingerprint.from_dict(dict(known))
        ).same:
            return entry
        self.metrics.emit(M.KEY_COLLISION_REJECTED)
        log.warning("entry %s is another video than its library record: not lent", key)
        return None
