"""Archival by last hit: entries cold for 90 days are tagged and de-indexed, warm ones stay."""

from __future__ import annotations

from datetime import UTC, datetime

from foleycache.core.entry import CacheEntry
from foleycache.core.keys import CacheKey
from foleycache.usecases.archival import ARCHIVE_TAG, archive_cold_entries
from foleycache.usecases.hit_tracking import track_hit
from foleycache.usecases.near_match import scope_of
from foleycache.usecases.services import Services
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
    services.cache_blobs.put_bytes(key.l2_audio, b"RIFF")
    entry = CacheEntry(key, key.l2_audio, 3.0, 48000, {}, services.clock.now())
    services.cache.store(entry)
    services.near.add(key)  # type: ignore[union-attr]
    track_hit(services, key)
    return key


def test_entry_not_hit_for_90_days_is_archived_and_leaves_the_index() -> None:
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
    assert blobs.tags[cold.l2_audio] == ARCHIVE_TAG  # type: ignore[attr-defined]
    assert blobs.tags[cold.l2_entry] == ARCHIVE_TAG  # type: ignore[attr-defined]
    assert warm.l2_audio not in blobs.tags  # type: ignore[attr-defined]
    assert cold.redis_entry not in services.hot.data  # type: ignore[union-attr]
    index = services.hot_index.buckets  # type: ignore[union-attr]
    members = {m for k, v in index.items() if k.startswith(scope_of(cold)) for m in v}
    assert cold.fingerprint not in members and warm.fingerprint in members


def test_an_archived_entry_is_still_served_by_key() -> None:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    services = make_services(clock)
    key = store(services, "00000000000000cc")
    clock.advance(90 * DAY)
    assert archive_cold_entries(services).archived == 1
    hit = services.cache.lookup(key)
    assert hit is not None and hit[1].audio_key == key.l2_audio


def test_archival_reads_only_one_day_partition() -> None:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    services = make_services(clock)
    store(services, "00000000000000dd")
    clock.advance(89 * DAY)
    assert archive_cold_entries(services).examined == 0
