"""Archival by last hit: the scheduled job's use case.

Each run reads the hit partitions from the day after its watermark (the last
day it finished) up to ``archive_after_days`` back, oldest first, and moves the
watermark after each day: a missed or failed run is caught up by the next one,
and a repeated run finds nothing left to do. Partitions expire 120 days after
their day (``adapters/dynamodb_catalog.py``), so at most
:data:`MAX_CATCH_UP_DAYS` are still there to read; a first run reads all of them.
Re-reading a day is harmless: an archived entry is skipped, tagging is
idempotent. An entry listed in a partition whose last hit is still that day
has not been hit since: its L2 objects are tagged ``foleycache:archive=true`` (a
tag-filtered lifecycle rule moves them to Glacier Instant Retrieval), and it
is taken out of L1.

It stays in the near-duplicate and span indexes: they belong to the fingerprint
library, which every model version shares (:mod:`foleycache.cache.library`),
so archiving one version's sound (a cold entry, or a retired version's) must
not make the video unknown to the others. (An archived sound lent to a partial
result is read from Glacier Instant Retrieval in milliseconds, like a served one.)

A later request for an archived entry is still answered correctly: an exact
key lookup reads L2, and Glacier Instant Retrieval serves reads in
milliseconds (at a higher per-GB retrieval price), so the entry is served
and its hit re-tracked. A near duplicate of it is verified against the
library's fingerprint (standard storage) first, so the retrieval is paid
only for a match that is then served.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from foleycache.cache import names
from foleycache.cache.hit_tracking import today
from foleycache.cache.names import parse_entry_id
from foleycache.core import metrics as M
from foleycache.services import Services

ARCHIVE_TAG = {"foleycache:archive": "true"}


#: Hit partitions live 120 days and archival reads them 90 days late: 30 are readable.
MAX_CATCH_UP_DAYS = 30
#: A run stops between days when less than this is left of its time (the next run
#: continues from the watermark).
MIN_SECONDS_FOR_A_DAY = 60.0


@dataclass(frozen=True, slots=True)
class ArchivalReport:
    day: str  # the newest day due (``archive_after_days`` before the run)
    examined: int
    archived: int
    days: tuple[str, ...] = ()  # the partitions this run processed, oldest first
    through: str | None = None  # the watermark after the run


def archive_cold_entries(
    services: Services, on: str | None = None, seconds_left: Callable[[], float] | None = None
) -> ArchivalReport:
    """Archive what is due up to ``on`` (default today), catching up missed days."""
    run_day = date.fromisoformat(on or today(services))
    due = run_day - timedelta(days=services.settings.archive_after_days)
    if services.catalog is None:
        return ArchivalReport(due.isoformat(), 0, 0)
    through = services.catalog.archived_through()
    start = due - timedelta(days=MAX_CATCH_UP_DAYS - 1)
    if through is not None:
        start = max(start, date.fromisoformat(through) + timedelta(days=1))
    examined = archived = 0
    days: list[str] = []
    day = start
    while day <= due:
        if days and seconds_left is not None and seconds_left() < MIN_SECONDS_FOR_A_DAY:
            break
        seen, done = _archive_day(services, day.isoformat())
        examined, archived = examined + seen, archived + done
        services.catalog.set_archived_through(day.isoformat())
        days.append(day.isoformat())
        day += timedelta(days=1)
    services.metrics.emit(M.ARCHIVED, archived)
    services.metrics.emit(M.ARCHIVAL_DAYS, len(days))
    services.metrics.emit(M.ARCHIVAL_RUN)
    return ArchivalReport(
        due.isoformat(), examined, archived, tuple(days), services.catalog.archived_through()
    )


def _archive_day(services: Services, day: str) -> tuple[int, int]:
    """(examined, archived) for one hit partition."""
    assert services.catalog is not None
    examined = archived = 0
    for entry_id in services.catalog.hit_on(day):
        examined += 1
        last = services.catalog.last_hit(entry_id)
        if last is None or last[0] != day or last[1]:
            continue  # hit again since, or already archived
        archived += archive_entry(services, entry_id)
    return examined, archived


def archive_entry(services: Services, entry_id: str) -> bool:
    """Tag one entry's L2 objects for the lifecycle rule and take it out of L1; False if
    it is unknown or already archived (idempotent). The near index is the library's and
    keeps the video (see the module docstring). The retirement sweep archives through
    here too (:mod:`foleycache.cache.retirement`)."""
    if services.catalog is None:
        return False
    last = services.catalog.last_hit(entry_id)
    if last is None or last[1]:
        return False
    key = parse_entry_id(entry_id)
    # The entry names its audio: a composition made at lookup has its own object beside
    # the key's. A near alias names its original's, which is not this entry's to archive.
    entry = services.cache.peek_l2(key)
    own = entry is not None and entry.audio_key.startswith(names.l2_prefix(key))
    audio = entry.audio_key if entry is not None and own else names.l2_audio(key)
    for object_key in (audio, names.l2_entry(key)):
        if services.cache_blobs.head(object_key) is not None:
            services.cache_blobs.set_tags(object_key, ARCHIVE_TAG)
    if services.hot is not None:
        services.hot.delete(names.redis_entry(key))
    services.catalog.set_archived(entry_id, True)
    return True
