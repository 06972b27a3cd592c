"""Last-hit tracking, so cold entries can be archived by *last use*, not age.

S3 lifecycle rules only know an object's age and tags. Every hit (and the
entry's creation) records the day on the entry; the scheduled archival job
then tags entries whose last hit was 90 days ago, and a tag-filtered
lifecycle rule moves them to Glacier Instant Retrieval.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from foleycache.cache import names
from foleycache.core.keys import CacheKey
from foleycache.services import Services

log = logging.getLogger(__name__)

#: Members the hit ranking keeps (a prewarm asks for its top N, N well below this).
RANKING_KEEP = 10_000
#: Without the ranking (L1 down or evicted), entries are ranked by the number of days
#: they were hit in this many recent days: one Query per day partition, no scan.
FALLBACK_DAYS = 7


def top_entries(services: Services, namespace: str, n: int) -> list[tuple[CacheKey, float]]:
    """The ``n`` most-hit entries of one namespace, highest first, with their hit counts.

    Read from the bounded ranking; when it is empty or unreachable, from the last
    :data:`FALLBACK_DAYS` hit-day partitions (hits counted as days hit).
    """
    ranked = services.ranking.top(names.redis_hit_ranking(namespace), n) if services.ranking else []
    if not ranked and services.catalog is not None:
        days: dict[str, float] = {}
        start = datetime.fromisoformat(today(services)).date()
        for back in range(FALLBACK_DAYS):
            day = (start - timedelta(days=back)).isoformat()
            for entry in services.catalog.hit_on(day):
                if entry.startswith(namespace + "#"):
                    days[entry] = days.get(entry, 0.0) + 1.0
        ranked = sorted(days.items(), key=lambda item: (-item[1], item[0]))[:n]
    return [(names.parse_entry_id(entry), hits) for entry, hits in ranked]


def today(services: Services) -> str:
    return datetime.fromtimestamp(services.clock.now(), UTC).date().isoformat()


def track_hit(services: Services, key: CacheKey) -> None:
    """Count the hit in the ranking, and record today's hit; a Redis ``SET NX`` marker
    keeps the latter to one durable write a day.

    On the hot path a repeat hit costs one Redis round trip; if Redis is down
    the durable (conditional, idempotent) write is made directly.
    """
    entry = names.entry_id(key)
    if services.ranking is not None:
        services.ranking.bump(
            names.redis_hit_ranking(key.namespace), entry, services.settings.l1_ttl_s, RANKING_KEEP
        )
    if services.catalog is None:
        return
    day = today(services)
    if services.hot is not None and not services.hot.add(
        names.redis_hit_marker(entry, day), b"1", 2 * 86_400
    ):
        return  # already recorded today (when Redis is down, ``add`` says "not yet")
    services.catalog.touch(entry, day)
