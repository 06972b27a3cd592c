"""Archival by last hit: entries cold for 90 days are tagged and leave L1, warm ones stay; the
near index is the library's (shared by every model version), so both stay in it."""

from __future__ import annotations

from datetime import UTC, datetime

from foleycache.cache import names
from foleycache.cache.archival import ARCHIVE_TAG, archive_cold_entries
from foleycache.cache.entry import CacheEntry
from foleycache.cache.hit_tracking import track_hit
from foleycache.cache.names import index_scope as scope_of
from foleycache.core.keys import CacheKey
from foleycache.services import Services
from tests.fakes import FakeClock, MemoryCatalog, MemoryNearIndex, fake_services

DAY = 86_400.0


def make_services(clock: FakeClock) -> Services:
    return fake_services(
        clock=clock,
        catalog=MemoryCatalog(),
        hot_index=MemoryNearIndex(),
        durable_index=MemoryNearIndex(),
    )


def store(services: Services, fingerprint: str) -> CacheKey:
    key = CacheKey.for_request(fingerprint, "rain", "m1", 1)
    services.cache_blobs.put_bytes(names.l2_audio(key), b"RIFF")
    entry = CacheEntry(key, names.l2_audio(key), 3.0, 48000, {}, services.clock.now())
    services.cache.store(entry)
    services.near.add(key)  # type: ignore[union-attr]
    track_hit(services, key)
    return key


def test_entry_not_hit_for_90_days_is_archived_and_stays_known_to_the_library() -> None:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    services = make_services(clock)
    cold = store(services, "00000000000000aa")
    warm = store(services, "00000000000000bb")
    clock.advance(30 * DAY)
    track_hit(services, warm)
    clock.advance(60 * DAY)

    report = archive_cold_entries(services)

    assert report.archived == 1 and report.examined == 2
    blobs = services.cache_blobs
    assert blobs.tags[names.l2_audio(cold)] == ARCHIVE_TAG  # type: ignore[attr-defined]
    assert blobs.tags[names.l2_entry(cold)] == ARCHIVE_TAG  # type: ignore[attr-defined]
    assert names.l2_audio(warm) not in blobs.tags  # type: ignore[attr-defined]
    assert names.redis_entry(cold) not in services.hot.inner.data  # type: ignore[union-attr]
    index = services.hot_index.inner.buckets  # type: ignore[union-attr]
    members = {m for k, v in index.items() if k.startswith(scope_of(cold)) for m in v}
    assert cold.fingerprint in members and warm.fingerprint in members


def test_an_archived_entry_is_still_served_by_key() -> None:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    services = make_services(clock)
    key = store(services, "00000000000000cc")
    clock.advance(90 * DAY)
    assert archive_cold_entries(services).archived == 1
    hit = services.cache.lookup(key)
    assert hit is not None and hit[1].audio_key == names.l2_audio(key)


def test_archival_reads_no_partition_that_is_not_due() -> None:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    services = make_services(clock)
    store(services, "00000000000000dd")
    clock.advance(89 * DAY)
    assert archive_cold_entries(services).examined == 0


def test_missed_days_are_caught_up_and_a_repeated_run_does_nothing() -> None:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    services = make_services(clock)
    first = store(services, "00000000000000e1")
    clock.advance(DAY)
    second = store(services, "00000000000000e2")
    clock.advance(89 * DAY)
    assert archive_cold_entries(services).archived == 1  # day 90: the first is due
    clock.advance(3 * DAY)  # three daily runs missed: the second was due two days ago
    third = store(services, "00000000000000e3")  # hit today: not due

    report = archive_cold_entries(services)

    assert report.archived == 1 and len(report.days) == 3 and report.through == report.day
    tags = services.cache_blobs.tags  # type: ignore[attr-defined]
    assert names.l2_entry(second) in tags and names.l2_entry(third) not in tags
    assert names.l2_entry(first) in tags
    again = archive_cold_entries(services)
    assert (again.days, again.examined, again.archived) == ((), 0, 0)
    runs = services.metrics.values("ArchivalRun")  # type: ignore[attr-defined]
    assert len(runs) == 3  # the alarm's heartbeat, even from a run with nothing to do


def test_a_run_out_of_time_stops_between_days_and_the_next_continues() -> None:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    services = make_services(clock)
    keys = []
    for i in range(3):
        keys.append(store(services, f"00000000000000f{i}"))
        clock.advance(DAY)
    clock.advance(92 * DAY)
    left = iter([600.0, 10.0])

    partial = archive_cold_entries(services, seconds_left=lambda: next(left))

    assert len(partial.days) == 2 and partial.through is not None
    rest = archive_cold_entries(services)
    assert rest.days and rest.days[0] > partial.through
    assert partial.archived + rest.archived == 3


def test_an_entry_with_its_own_audio_object_has_that_object_archived() -> None:
    """A composition made at lookup (no lease) writes its sound to the job's own object."""
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    services = make_services(clock)
    key = CacheKey.for_request("00000000000000dd", "rain", "m1", 1)
    audio = names.l2_composed_audio(key, "job-00000007")
    services.cache_blobs.put_bytes(audio, b"RIFF")
    services.cache.store(CacheEntry(key, audio, 3.0, 48000, {}, clock.now()))
    track_hit(services, key)
    clock.advance(90 * DAY)
    assert archive_cold_entries(services).archived == 1
    assert services.cache_blobs.tags[audio] == ARCHIVE_TAG  # type: ignore[attr-defined]


def test_a_cold_near_alias_never_archives_its_hot_originals_audio() -> None:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    services = make_services(clock)
    original = CacheKey.for_request("00000000000000d1", "rain", "m1", 1)
    alias = CacheKey.for_request("00000000000000d3", "rain", "m1", 1)
    audio = names.l2_audio(original)
    services.cache_blobs.put_bytes(audio, b"RIFF")
    services.cache.store(CacheEntry(original, audio, 3.0, 48000, {}, clock.now()))
    near = {"near_of": str(original)}
    services.cache.store(CacheEntry(alias, audio, 3.0, 48000, {}, clock.now(), extra=near))
    track_hit(services, alias)
    for _ in range(90):  # the original stays hot
        clock.advance(DAY)
        track_hit(services, original)
    assert archive_cold_entries(services).archived == 1
    tags = services.cache_blobs.tags  # type: ignore[attr-defined]
    assert names.l2_entry(alias) in tags and audio not in tags
