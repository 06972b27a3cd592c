"""Invalidating a model version removes only its L1 keys and marks only its L2 objects."""

from __future__ import annotations

from foleycache.cache import names
from foleycache.cache.archival import ARCHIVE_TAG
from foleycache.cache.entry import CacheEntry
from foleycache.cache.invalidation import invalidate_model_version
from foleycache.core.keys import CacheKey
from tests.fakes import fake_services


def test_only_the_named_version_is_removed_and_marked() -> None:
    services = fake_services()
    keys = {
        v: CacheKey.for_request("0123456789abcdef", "rain", v, 1) for v in ("old", "old2", "new")
    }
    for key in keys.values():
        services.cache_blobs.put_bytes(names.l2_audio(key), b"RIFF")
        services.cache.store(CacheEntry(key, names.l2_audio(key), 1.0, 48000, {}, 0.0))

    report = invalidate_model_version(services, "old")

    assert report.l1_keys_removed == 1 and report.l2_objects_marked == 2
    hot = services.hot.inner.data  # type: ignore[union-attr]
    assert names.redis_entry(keys["old"]) not in hot
    assert names.redis_entry(keys["old2"]) in hot and names.redis_entry(keys["new"]) in hot
    tags = services.cache_blobs.tags  # type: ignore[attr-defined]
    assert tags[names.l2_entry(keys["old"])] == ARCHIVE_TAG
    assert names.l2_entry(keys["old2"]) not in tags and names.l2_entry(keys["new"]) not in tags
