"""Near-duplicate reuse: find candidates by code, then decide on the stored fingerprint.

The 64-bit code only *finds* candidates (multi-index hashing, a fixed number
of bucket reads); reuse is *decided* by :func:`foleycache.fingerprint.decide`
on the candidate entry's stored vector, per-second signatures and duration.
A candidate that fails the decision is never served, whatever its distance.

Redis holds the hot index; DynamoDB holds the index of everything in L2.
The durable index is read only when the hot one yields no verified match,
so Redis being down or having evicted a bucket costs latency, never reuse.
"""

from __future__ import annotations

import logging

from foleycache.core.entry import CacheEntry
from foleycache.core.errors import StorageUnavailable
from foleycache.core.keys import CacheKey
from foleycache.core.near_index import MultiIndexLayout
from foleycache.core.ports import MetricsSink, NearIndexStore, NullMetrics
from foleycache.fingerprint import Fingerprint, MatchDecision, decide
from foleycache.usecases.tiered_cache import TieredCache

log = logging.getLogger(__name__)


def scope_of(key: CacheKey) -> str:
    return f"{key.namespace}:{key.prompt_md5}"


class NearMatcher:
    def __init__(
        self,
        layouts: tuple[MultiIndexLayout, ...],
        hot: NearIndexStore | None,
        durable: NearIndexStore,
        cache: TieredCache,
        metrics: MetricsSink | None = None,
    ) -> None:
        self.layouts = layouts
        self.hot = hot
        self.durable = durable
        self.cache = cache
        self.metrics = metrics or NullMetrics()

    def _stores(self) -> list[NearIndexStore]:
        return [s for s in (self.hot, self.durable) if s is not None]

    def _buckets(self, key: CacheKey) -> list[str]:
        code = int(key.fingerprint, 16)
        return [b for layout in self.layouts for b in layout.buckets(code)]

    def add(self, key: CacheKey) -> None:
        buckets = self._buckets(key)
        for store in self._stores():
            try:
                store.add(scope_of(key), buckets, key.fingerprint)
            except StorageUnavailable as exc:
                self.metrics.count("L1Unavailable")
                log.warning("near index add skipped on one tier: %s", exc)

    def remove(self, key: CacheKey) -> None:
        buckets = self._buckets(key)
        for store in self._stores():
            try:
                store.remove(scope_of(key), buckets, key.fingerprint)
            except StorageUnavailable as exc:
                self.metrics.count("L1Unavailable")
                log.warning("near index remove skipped on one tier: %s", exc)

    def find(
        self, key: CacheKey, fingerprint: Fingerprint
    ) -> tuple[CacheEntry, MatchDecision] | None:
        """The nearest stored entry that passes verification, narrow layout first."""
        code = int(key.fingerprint, 16)
        tried: set[int] = {code}
        for layout in self.layouts:
            probes = layout.probes(code)
            for store in self._stores():
                try:
                    members = store.members(scope_of(key), probes)
                except StorageUnavailable as exc:
                    self.metrics.count("L1Unavailable")
                    log.warning("near index read skipped on one tier: %s", exc)
                    continue
                candidates = {int(m, 16) for m in members} - tried
                self.metrics.count("NearCandidates", len(candidates))
                for _distance, other in layout.within(code, candidates):
                    tried.add(other)
                    found = self._verified(key, other, fingerprint)
                    if found is not None:
                        return found
        return None

    def _verified(
        self, key: CacheKey, other: int, fingerprint: Fingerprint
    ) -> tuple[CacheEntry, MatchDecision] | None:
        other_key = CacheKey(
            f"{other:016x}", key.prompt_md5, key.model_version, key.fingerprint_version
        )
        entry = self.cache.get_l1(other_key) or self.cache.get_l2(other_key)
        if entry is None:
            return None
        decision = decide(Fingerprint.from_dict(entry.fingerprint_data), fingerprint)
        if not decision.same:
            self.metrics.count("NearRejected")
            log.info("near candidate %s rejected: %s", other_key, decision.reason)
            return None
        return entry, decision
