"""What happens when an optional store is down, decided here once: a metric and a miss.

L1 (Redis) is an accelerator, never a dependency, and each near-duplicate index only
*finds* candidates. So a failure of either must cost latency or reuse, never a job:
every :class:`~foleycache.core.errors.StorageUnavailable` they raise becomes one count of
the store's metric, a warning, and the answer "nothing there" (reads) or "skipped"
(writes). The durable stores the pipeline depends on (L2, the job table, leases) are
not wrapped: their failures reach Step Functions, which retries them.

``Services`` wraps its optional stores on construction, so no use case handles these
failures itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from foleycache.core import metrics as M
from foleycache.core.errors import StorageUnavailable
from foleycache.core.metrics import Metric
from foleycache.core.ports import HotCache, MetricsSink, NearIndexStore

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The metric a failing hot tier counts (dashboards and `cache stats` read it).
L1_UNAVAILABLE = M.L1_UNAVAILABLE
#: The metric a failing durable near index counts (reuse missed, not an error).
NEAR_INDEX_UNAVAILABLE = M.NEAR_INDEX_UNAVAILABLE


class _Guard:
    def __init__(self, metrics: MetricsSink, metric: Metric) -> None:
        self.metrics = metrics
        self.metric = metric
        self.failures = 0

    def attempt(self, what: str, call: Callable[[], T], fallback: T) -> T:
        try:
            return call()
        except StorageUnavailable as exc:
            self.failures += 1
            self.metrics.emit(self.metric)
            log.warning("%s skipped (%s): %s", what, self.metric.name, exc)
            return fallback


class BestEffortHotCache(_Guard):
    """A :class:`HotCache` that never raises ``StorageUnavailable``."""

    def __init__(self, inner: HotCache, metrics: MetricsSink) -> None:
        super().__init__(metrics, L1_UNAVAILABLE)
        self.inner = inner

    def get(self, key: str, ttl_s: int) -> bytes | None:
        return self.attempt("L1 get", lambda: self.inner.get(key, ttl_s), None)

    def set(self, key: str, value: bytes, ttl_s: int) -> None:
        self.attempt("L1 set", lambda: self.inner.set(key, value, ttl_s), None)

    def add(self, key: str, value: bytes, ttl_s: int) -> bool:
        """Unknown when down, so True: the caller then makes its durable write itself."""
        return self.attempt("L1 add", lambda: self.inner.add(key, value, ttl_s), True)

    def delete(self, *keys: str) -> int:
        return self.attempt("L1 delete", lambda: self.inner.delete(*keys), 0)

    def delete_matching(self, pattern: str, batch: int) -> int:
        return self.attempt(
            "L1 delete_matching", lambda: self.inner.delete_matching(pattern, batch), 0
        )

    def delete_matching_page(self, pattern: str, cursor: int, batch: int) -> tuple[int, int]:
        """Down: (0, 0), the scan ends (the keys expire by their TTL)."""
        return self.attempt(
            "L1 delete_matching_page",
            lambda: self.inner.delete_matching_page(pattern, cursor, batch),
            (0, 0),
        )


class BestEffortNearIndex(_Guard):
    """A :class:`NearIndexStore` that never raises ``StorageUnavailable``."""

    def __init__(self, inner: NearIndexStore, metrics: MetricsSink, metric: Metric) -> None:
        super().__init__(metrics, metric)
        self.inner = inner

    def add(self, scope: str, buckets: list[str], member: str) -> None:
        self.attempt("index add", lambda: self.inner.add(scope, buckets, member), None)

    def remove(self, scope: str, buckets: list[str], member: str) -> None:
        self.attempt("index remove", lambda: self.inner.remove(scope, buckets, member), None)

    def members(self, scope: str, buckets: list[str]) -> set[str]:
        return self.attempt("index read", lambda: self.inner.members(scope, buckets), set())


def attempt(
    metrics: MetricsSink, metric: Metric, what: str, call: Callable[[], T], fallback: T
) -> T:
    """One best-effort call on a store that is not wrapped (a maintenance read)."""
    return _Guard(metrics, metric).attempt(what, call, fallback)
