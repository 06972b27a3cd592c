"""The ports a use case may touch, bundled once per process.

Handlers get a :class:`Services` from :mod:`foleycache.adapters.wiring` (real
AWS/Redis adapters); unit tests build one from in-memory fakes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from foleycache.core.clock import Clock, SystemClock
from foleycache.core.lease import LeaseStore
from foleycache.core.ports import (
    BlobStore,
    HotCache,
    Inference,
    JobStore,
    MetricsSink,
    NullMetrics,
    WorkflowStarter,
)
from foleycache.settings import Settings
from foleycache.usecases.tiered_cache import TieredCache


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

    @property
    def cache(self) -> TieredCache:
        return TieredCache(
            self.hot, self.cache_blobs, l1_ttl_s=self.settings.l1_ttl_s, metrics=self.metrics
        )
