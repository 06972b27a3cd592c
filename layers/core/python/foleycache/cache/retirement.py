"""Retiring a model version after a promotion: its entries go to archival, nothing scanned.

A promotion changes which version serves; the old version's entries will never be
asked for again, and waiting ``archive_after_days`` for them to go cold would keep them
in L1, the near indexes and S3 Standard for months. The versions registry records the
retirement (the archival run notices a new stable version itself, so a promotion in the
cloud, a parameter change, needs no extra step); the archival run then sweeps the
hit-day partitions that can hold the retired version's live entries, one Query per day:
every entry not archived yet was last hit within ``archive_after_days`` of the
retirement, so it is listed in one of those partitions. A couple of days after the
retirement are swept too, for jobs that were in flight across the switch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from foleycache.cache.archival import MIN_SECONDS_FOR_A_DAY, archive_entry
from foleycache.cache.hit_tracking import today
from foleycache.cache.names import parse_entry_id
from foleycache.core import metrics as M
from foleycache.services import Services

#: Days after the retirement still swept (jobs in flight across the switch).
STRAGGLER_DAYS = 2


@dataclass(frozen=True, slots=True)
class RetirementReport:
    retired_now: list[str] = field(default_factory=list)
    restored_now: list[str] = field(default_factory=list)
    days_swept: int = 0
    archived: int = 0


def retire_version(services: Services, version: str, on: str | None = None) -> bool:
    """Record ``version`` as retired today; False if it already was (idempotent)."""
    if services.versions is None:
        return False
    day = date.fromisoformat(on or today(services))
    start = day - timedelta(days=services.settings.archive_after_days)
    return services.versions.retire(version, day.isoformat(), start.isoformat())


def note_serving_version(services: Services, on: str | None = None) -> RetirementReport:
    """Compare the stable version with the one last seen: a change is a promotion (or a
    rollback) whose previous version retires, and whose new one, if retired, is restored."""
    registry = services.versions
    if registry is None:
        return RetirementReport()
    current = services.settings.model_version
    previous = registry.serving()
    if previous == current:
        return RetirementReport()
    restored = [current] if any(r.version == current for r in registry.retired()) else []
    if restored:
        registry.restore(current)
    retired = [previous] if previous and retire_version(services, previous, on) else []
    registry.set_serving(current)
    return RetirementReport(retired_now=retired, restored_now=restored)


def sweep_retired(
    services: Services, on: str | None = None, seconds_left: Callable[[], float] | None = None
) -> RetirementReport:
    """Archive the retired versions' entries found in the day partitions not swept yet;
    stops between days when little of the run's time is left (the next run resumes)."""
    registry, catalog = services.versions, services.catalog
    if registry is None or catalog is None:
        return RetirementReport()
    run_day = date.fromisoformat(on or today(services))
    serving = set(services.settings.rollout().versions())
    days = archived = 0
    for retired in registry.retired():
        if retired.version in serving:  # rolled back to, or a candidate again: not swept
            continue
        end = min(run_day, date.fromisoformat(retired.retired_on) + timedelta(STRAGGLER_DAYS))
        day = date.fromisoformat(retired.swept_to)
        while day <= end:
            if days and seconds_left is not None and seconds_left() < MIN_SECONDS_FOR_A_DAY:
                break
            for entry_id in catalog.hit_on(day.isoformat()):
                if parse_entry_id(entry_id).model_version == retired.version:
                    archived += archive_entry(services, entry_id)
            day += timedelta(days=1)
            days += 1
            registry.set_swept_to(retired.version, day.isoformat())  # resumable per day
    services.metrics.emit(M.ARCHIVED_RETIRED, archived)
    return RetirementReport(days_swept=days, archived=archived)
