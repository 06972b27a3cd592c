"""Retiring a model version's cache entries, in bounded, resumable batches.

Correctness never depends on this: a new ``MODEL_VERSION`` is a new
namespace for the sound, so old entries are simply never addressed again.
It removes that version's sound only, never the fingerprint library (the
stored fingerprints, exact-bytes records and near index), which the other
versions share; the patterns in :mod:`foleycache.cache.names` cannot select
it. (Retiring a *fingerprint* version would be retiring its library and
every model's entries under it; a new ``FINGERPRINT_VERSION`` is a new
library, so nothing depends on that either, and it is not built.)
Invalidation only reclaims space: L1 keys are removed with an incremental ``SCAN`` plus
``UNLINK`` in small batches (no ``KEYS``, no blocking ``DEL``; each batch is
one short command, so Redis keeps serving), and L2 objects are tagged for
the archive lifecycle rule rather than deleted, so an operator can still
recover them.

A version may hold millions of objects, more than one Lambda invocation can
tag, so the work is split into pages: :func:`invalidate_page` does at most
``budget`` items and returns an :class:`InvalidationCursor` saying where it
stopped (the Redis SCAN cursor of the current pattern, or the last L2 key
tagged). Both are positions a later call can start from, days later: a SCAN
cursor is stateless on the server, and S3 lists after a key. Every step is
idempotent (unlinking a gone key, tagging a tagged object), so a page that
is repeated after a crash, or a run restarted from the start, is still right.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from foleycache.cache import names
from foleycache.cache.archival import ARCHIVE_TAG
from foleycache.cache.best_effort import BestEffortHotCache
from foleycache.core import metrics as M
from foleycache.core.errors import InvalidInput
from foleycache.core.keys import validate_model_version
from foleycache.services import Services

BATCH = 500
#: Items (L1 keys scanned or L2 objects tagged) one page may touch: a few seconds of work,
#: far inside a Lambda's 900 s, so a page is never cut off halfway.
DEFAULT_BUDGET = 5_000


@dataclass(frozen=True, slots=True)
class InvalidationCursor:
    """Where a run stands: L1 patterns first (``pattern`` indexes
    :func:`names.redis_version_patterns`, ``scan`` is its SCAN cursor), then L2 after
    ``after`` (a key; "" from the start)."""

    pattern: int = 0
    scan: int = 0
    after: str = ""
    l1_done: bool = False

    @classmethod
    def parse(cls, raw: Any) -> InvalidationCursor:
        """A cursor handed back by an earlier page; anything else is refused, loudly."""
        if raw is None or raw == {}:
            return cls()
        if not isinstance(raw, dict) or set(raw) - {"pattern", "scan", "after", "l1_done"}:
            raise InvalidInput(f"not an invalidation cursor: {str(raw)[:200]}")
        try:
            cursor = cls(
                pattern=int(raw.get("pattern", 0)),
                scan=int(raw.get("scan", 0)),
                after=str(raw.get("after", "")),
                l1_done=bool(raw.get("l1_done", False)),
            )
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"not an invalidation cursor: {exc}") from exc
        if cursor.pattern < 0 or cursor.scan < 0:
            raise InvalidInput("an invalidation cursor never holds a negative position")
        return cursor

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class InvalidationPage:
    model_version: str
    l1_keys_removed: int
    l2_objects_marked: int
    l1_available: bool
    done: bool
    #: Pass it back to continue; None once ``done``.
    cursor: dict[str, Any] | None = field(default=None)


@dataclass(frozen=True, slots=True)
class InvalidationReport:
    model_version: str
    l1_keys_removed: int
    l2_objects_marked: int
    l1_available: bool
    pages: int = 1


def invalidate_page(
    services: Services,
    model_version: str,
    cursor: InvalidationCursor | None = None,
    budget: int = DEFAULT_BUDGET,
) -> InvalidationPage:
    """At most ``budget`` items of a version's invalidation, from ``cursor`` on."""
    if budget < 1:
        raise InvalidInput("an invalidation page needs a budget of at least one item")
    version = validate_model_version(model_version)
    at = cursor or InvalidationCursor()
    removed = marked = spent = 0
    available = True
    patterns = names.redis_version_patterns(version)
    if not at.l1_done and services.hot is None:
        at = InvalidationCursor(after=at.after, l1_done=True)
    elif not at.l1_done and services.hot is not None:
        failures = _failures(services)
        pattern, scan = at.pattern, at.scan
        while pattern < len(patterns) and spent < budget:
            scan, gone = services.hot.delete_matching_page(
                patterns[pattern], scan, min(BATCH, budget - spent)
            )
            removed += gone
            # A SCAN step may find nothing and still not be done: it costs one item, so a
            # sparse keyspace cannot hold one page forever.
            spent += max(gone, 1)
            if scan == 0:
                pattern += 1
            if _failures(services) != failures:
                available = False  # Redis is down: its keys expire by their TTL anyway
                pattern, scan = len(patterns), 0
        at = InvalidationCursor(pattern, scan, at.after, l1_done=pattern >= len(patterns))
    after, more_l2 = at.after, True
    if at.l1_done and spent < budget:
        keys, more_l2 = services.cache_blobs.list_page(
            names.l2_version_prefix(version), after, budget - spent
        )
        for key in keys:
            services.cache_blobs.set_tags(key, ARCHIVE_TAG)
            marked += 1
            after = key
    done = at.l1_done and not more_l2
    services.metrics.emit(M.INVALIDATED_L1_KEYS, removed)
    services.metrics.emit(M.INVALIDATED_L2_OBJECTS, marked)
    next_cursor = None if done else InvalidationCursor(at.pattern, at.scan, after, at.l1_done)
    return InvalidationPage(
        version,
        removed,
        marked,
        available,
        done,
        next_cursor.to_dict() if next_cursor else None,
    )


def invalidate_model_version(
    services: Services, model_version: str, budget: int = DEFAULT_BUDGET
) -> InvalidationReport:
    """The whole invalidation, page after page, in this process (the local CLI, tests)."""
    cursor: InvalidationCursor | None = None
    removed = marked = pages = 0
    available = True
    while True:
        page = invalidate_page(services, model_version, cursor, budget)
        removed += page.l1_keys_removed
        marked += page.l2_objects_marked
        available = available and page.l1_available
        pages += 1
        if page.done:
            return InvalidationReport(page.model_version, removed, marked, available, pages)
        cursor = InvalidationCursor.parse(page.cursor)


def _failures(services: Services) -> int:
    hot = services.hot
    return hot.failures if isinstance(hot, BestEffortHotCache) else 0
