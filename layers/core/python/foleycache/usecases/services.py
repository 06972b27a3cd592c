"""The ports a use case may touch, bundled once per process.

Handlers get a :class:`Services` from :mod:`foleycache.adapters.wiring` (real
AWS/Redis adapters); unit tests build one from in-memory fakes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from foleycache.core.clock import Clock, SystemClock
from foleycache.core.lease import LeaseStore
from foleycache.core.near_index import FIND_LAYOUTS, MultiIndexLayout
from foleycache.core.ports import (
    BlobStore,
    Catalog,
    HotCache,
    Inference,
    JobStore,
    MetricsSink,
    NearIndexStore,
    NullMetrics,
    WorkflowStarter,
)
from foleycache.settings import Settings
from foleycache.usecases.tiered_cache import TieredCache

if TYPE_CHECKING:
    from foleycache.usecases.near_match import NearMatcher


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
    clock: Clock = field(default_factory=SystemClock)
    metrics: MetricsSink = field(default_factory=NullMetrics)
    catalog: Catalog | None = None
    hot_index: NearIndexStore | None = None
    durable_index: NearIndexStore | None = None
    layouts: tuple[MultiIndexLayout, ...] = FIND_LAYOUTS

    @property
    def cache(self) -> TieredCache:
        return TieredCache(
            self.hot, self.cache_blobs, l1_ttl_s=self.settings.l1_ttl_s, metrics=self.metrics
        )

    @property
    def near(self) -> NearMatcher | None:
        """The near-duplicate matcher, when a durable index is configured."""
        from foleycache.usecases.near_match import NearMatcher

        if self.durable_index is None:
            return None
        return NearMatcher(
            self.layouts, self.hot_index, self.durable_index, self.cache, self.metrics
        )
