"""Last-hit tracking, so cold entries can be archived by *last use*, not age.

S3 lifecycle rules only know an object's age and tags. Every hit (and the
entry's creation) records the day on the entry; the scheduled archival job
then tags entries whose last hit was 90 days ago, and a tag-filtered
lifecycle rule moves them to Glacier Instant Retrieval.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from foleycache.cache import names
from foleycache.core.keys import CacheKey
from foleycache.services import Services

log = logging.getLogger(__name__)


def today(services: Services) -> str:
    return datetime.fromtimestamp(services.clock.now(), UTC).date().isoformat()


def track_hit(services: Services, key: CacheKey) -> None:
    """Record today's hit; a Redis ``SET NX`` marker keeps it to one durable write a day.

    On the hot path a repeat hit costs one Redis round trip; if Redis is down
    the durable (conditional, idempotent) write is made directly.
    """
    if services.catalog is None:
        return
    day = today(services)
    entry = names.entry_id(key)
    if services.hot is not None and not services.hot.add(
        names.redis_hit_marker(entry, day), b"1", 2 * 86_400
    ):
        return  # already recorded today (when Redis is down, ``add`` says "not yet")
    services.catalog.touch(entry, day)
