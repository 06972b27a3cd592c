"""The ports a use case may touch, bundled once per process.

Handlers get a :class:`Services` from :mod:`foleycache.adapters.wiring` (real
AWS/Redis adapters); unit tests build one from in-memory fakes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from foleycache.cache.best_effort import (
    L1_UNAVAILABLE,
    NEAR_INDEX_UNAVAILABLE,
    BestEffortHitRanking,
    BestEffortHotCache,
    BestEffortNearIndex,
)
from foleycache.cache.library import FingerprintLibrary
from foleycache.cache.near_index import FIND_LAYOUTS, MultiIndexLayout
from foleycache.cache.tiered import TieredCache
from foleycache.core.clock import Clock, SystemClock
from foleycache.core.lease import LeaseStore
from foleycache.core.ports import (
    BlobStore,
    Catalog,
    HitRanking,
    HotCache,
    Inference,
    JobStore,
    MetricsSink,
    NearIndexStore,
    NullMetrics,
    PendingRuns,
    VersionRegistry,
    WorkflowStarter,
)
from foleycache.settings import Settings

if TYPE_CHECKING:
    from foleycache.cache.near_match import NearMatcher
    from foleycache.cache.span_index import SpanIndex


@dataclass
class Services:
    settings: Settings
    uploads: BlobStore
    cache_blobs: BlobStore
    hot: HotCache | None
    jobs: JobStore
    leases: LeaseStore
    inference: Inference
    workflow: WorkflowStarter
    pending: PendingRuns
    clock: Clock = field(default_factory=SystemClock)
    metrics: MetricsSink = field(default_factory=NullMetrics)
    catalog: Catalog | None = None
    hot_index: NearIndexStore | None = None
    durable_index: NearIndexStore | None = None
    layouts: tuple[MultiIndexLayout, ...] = FIND_LAYOUTS
    #: Most-hit entries per namespace (L1), for ``model prewarm --top N``.
    ranking: HitRanking | None = None
    #: Serving and retired model versions, for archival after a promotion.
    versions: VersionRegistry | None = None

    def __post_init__(self) -> None:
        """Optional stores fail soft, decided in one place (:mod:`foleycache.cache.best_effort`)."""
        if self.hot is not None and not isinstance(self.hot, BestEffortHotCache):
            self.hot = BestEffortHotCache(self.hot, self.metrics)
        if self.hot_index is not None and not isinstance(self.hot_index, BestEffortNearIndex):
            self.hot_index = BestEffortNearIndex(self.hot_index, self.metrics, L1_UNAVAILABLE)
        if self.ranking is not None and not isinstance(self.ranking, BestEffortHitRanking):
            self.ranking = BestEffortHitRanking(self.ranking, self.metrics)
        durable = self.durable_index
        if durable is not None and not isinstance(durable, BestEffortNearIndex):
            self.durable_index = BestEffortNearIndex(durable, self.metrics, NEAR_INDEX_UNAVAILABLE)

    @property
    def cache(self) -> TieredCache:
        return TieredCache(
            self.hot, self.cache_blobs, l1_ttl_s=self.settings.l1_ttl_s, metrics=self.metrics
        )

    @property
    def library(self) -> FingerprintLibrary:
        """The fingerprints of known videos, shared by every model version."""
        return FingerprintLibrary(self.hot, self.cache_blobs, l1_ttl_s=self.settings.l1_ttl_s)

    @property
    def near(self) -> NearMatcher | None:
        """The near-duplicate matcher, when a durable index is configured."""
        from foleycache.cache.near_match import NearMatcher

        if self.durable_index is None:
            return None
        return NearMatcher(
            self.layouts,
            self.hot_index,
            self.durable_index,
            self.cache,
            self.metrics,
            library=self.library,
        )

    @property
    def spans(self) -> SpanIndex | None:
        """The span index (reuse across cuts), in the near index's stores."""
        from foleycache.cache.span_index import SpanIndex

        if self.durable_index is None:
            return None
        return SpanIndex(
            self.hot_index, self.durable_index, self.cache, self.metrics, library=self.library
        )
