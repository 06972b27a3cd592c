"""Archival by last hit: the scheduled job's use case.

Each day it reads exactly one day's hit partition, ``archive_after_days``
back. An entry listed there whose last hit is still that day has not been
hit since: its L2 objects are tagged ``foleycache:archive=true`` (a
tag-filtered lifecycle rule moves them to Glacier Instant Retrieval), and it
is taken out of L1 and of both near-duplicate indexes.

A later request for an archived entry is still answered correctly: an exact
key lookup reads L2, and Glacier Instant Retrieval serves reads in
milliseconds (at a higher per-GB retrieval price), so the entry is served
and its hit re-tracked; it is no longer a *near* candidate, so a near
duplicate of it recomputes once and re-enters the index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from foleycache.cache import names
from foleycache.cache.best_effort import attempt
from foleycache.cache.hit_tracking import today
from foleycache.cache.names import parse_entry_id
from foleycache.cache.near_match import alternate_of
from foleycache.core.keys import CacheKey
from foleycache.services import Services

ARCHIVE_TAG = {"foleycache:archive": "true"}


@dataclass(frozen=True, slots=True)
class ArchivalReport:
    day: str
    examined: int
    archived: int


def _alternate(services: Services, key: CacheKey) -> int | None:
    """The entry's second find code, read from L2; without it only its own code's postings
    go (an unreadable L2 must not stop the archival run)."""
    stored = attempt(
        services.metrics,
        "L2Unavailable",
        "archival L2 read",
        lambda: services.cache.peek_l2(key),
        None,
    )
    return alternate_of(stored.fingerprint_data) if stored else None


def archive_cold_entries(services: Services, on: str | None = None) -> ArchivalReport:
    run_day = date.fromisoformat(on or today(services))
    day = (run_day - timedelta(days=services.settings.archive_after_days)).isoformat()
    if services.catalog is None:
        return ArchivalReport(day, 0, 0)
    examined = archived = 0
    for entry_id in services.catalog.hit_on(day):
        examined += 1
        last = services.catalog.last_hit(entry_id)
        if last is None or last[0] != day or last[1]:
            continue  # hit again since, or already archived
        archived += archive_entry(services, entry_id)
    services.metrics.count("Archived", archived)
    return ArchivalReport(day, examined, archived)


def archive_entry(services: Services, entry_id: str) -> bool:
    """Tag one entry's L2 objects for the lifecycle rule and drop it from L1 and both near
    indexes; False if it is unknown or already archived (idempotent)."""
    if services.catalog is None:
        return False
    last = services.catalog.last_hit(entry_id)
    if last is None or last[1]:
        return False
    key = parse_entry_id(entry_id)
    for object_key in (names.l2_audio(key), names.l2_entry(key)):
        if services.cache_blobs.head(object_key) is not None:
            services.cache_blobs.set_tags(object_key, ARCHIVE_TAG)
    if services.hot is not None:
        services.hot.delete(names.redis_entry(key))
    if (near := services.near) is not None:
        near.remove(key, _alternate(services, key))
    services.catalog.set_archived(entry_id, True)
    return True
