"""L1 then L2, backfill, versioned namespaces, and Redis being down."""

from __future__ import annotations

from foleycache.cache import names
from foleycache.cache.best_effort import BestEffortHotCache
from foleycache.cache.entry import CacheEntry
from foleycache.cache.tiered import TieredCache
from foleycache.core.job import CacheOutcome
from foleycache.core.keys import CacheKey
from tests.fakes import CountingMetrics, MemoryBlobStore, MemoryHotCache

KEY = CacheKey.for_request("00000000000000ff", "rain on a tin roof", "m1", 1)


def entry(key: CacheKey = KEY) -> CacheEntry:
    return CacheEntry(key, names.l2_audio(key), 9.7, 48000, {"hex": key.fingerprint}, 1.0, "job-1")


def make(
    hot: MemoryHotCache | None = None,
) -> tuple[TieredCache, MemoryHotCache, MemoryBlobStore, CountingMetrics]:
    hot = hot or MemoryHotCache()
    blobs = MemoryBlobStore()
    metrics = CountingMetrics()
    # As Services wires it: the hot tier is best-effort (foleycache.cache.best_effort).
    l1 = BestEffortHotCache(hot, metrics)
    return TieredCache(l1, blobs, l1_ttl_s=604800, metrics=metrics), hot, blobs, metrics


def test_a_stored_entry_is_an_l1_hit_and_round_trips() -> None:
    cache, *_ = make()
    cache.store(entry())
    hit = cache.lookup(KEY)
    assert hit is not None
    assert hit[0] is CacheOutcome.L1
    assert hit[1] == entry()


def test_l2_hit_backfills_l1() -> None:
    cache, hot, _, metrics = make()
    cache.store(entry())
    hot.data.clear()
    assert cache.lookup(KEY)[0] is CacheOutcome.L2  # type: ignore[index]
    assert cache.lookup(KEY)[0] is CacheOutcome.L1  # type: ignore[index]
    assert metrics.counts["L2Hit"] == 1 and metrics.counts["L1Hit"] == 1


def test_l1_hits_refresh_the_ttl() -> None:
    cache, hot, _, _ = make()
    cache.store(entry())
    hot.ttls[names.redis_entry(KEY)] = 5
    cache.lookup(KEY)
    assert hot.ttls[names.redis_entry(KEY)] == 604800


def test_a_new_model_version_never_sees_old_entries() -> None:
    cache, *_ = make()
    cache.store(entry())
    newer = CacheKey(KEY.fingerprint, KEY.prompt_md5, "m2", KEY.fingerprint_version)
    assert cache.lookup(newer) is None


def test_redis_down_serves_from_l2_with_a_warning_metric() -> None:
    cache, hot, _, metrics = make()
    cache.store(entry())
    hot.down = True
    hit = cache.lookup(KEY)
    assert hit is not None and hit[0] is CacheOutcome.L2
    cache.store(entry())  # still reaches L2, no exception
    assert metrics.counts["L1Unavailable"] >= 2


def test_miss_is_counted() -> None:
    cache, _, _, metrics = make()
    assert cache.lookup(KEY) is None
    assert metrics.counts["Miss"] == 1
