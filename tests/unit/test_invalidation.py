"""Invalidating a model version removes only its L1 keys and marks only its L2 objects."""

from __future__ import annotations

from foleycache.core.entry import CacheEntry
from foleycache.core.keys import CacheKey
from foleycache.usecases.archival import ARCHIVE_TAG
from foleycache.usecases.invalidation import invalidate_model_version
from tests.fakes import fake_services


def test_only_the_named_version_is_removed_and_marked() -> None:
    services = fake_services()
    keys = {
        v: CacheKey.for_request("0123456789abcdef", "rain", v, 1) for v in ("old", "old2", "new")
    }
    for key in keys.values():
        services.cache_blobs.put_bytes(key.l2_audio, b"RIFF")
        services.cache.store(CacheEntry(key, key.l2_audio, 1.0, 48000, {}, 0.0))

    report = invalidate_model_version(services, "old")

    assert report.l1_keys_removed == 1 and report.l2_objects_marked == 2
    hot = services.hot.data  # type: ignore[union-attr]
    assert keys["old"].redis_entry not in hot
    assert keys["old2"].redis_entry in hot and keys["new"].redis_entry in hot
    tags = services.cache_blobs.tags  # type: ignore[attr-defined]
    assert tags[keys["old"].l2_entry] == ARCHIVE_TAG
    assert keys["old2"].l2_entry not in tags and keys["new"].l2_entry not in tags
