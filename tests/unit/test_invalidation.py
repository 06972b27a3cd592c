"""Invalidating a model version removes only its L1 keys and marks only its L2 objects."""

from __future__ import annotations

import json

import pytest

from foleycache.cache import names
from foleycache.cache.archival import ARCHIVE_TAG
from foleycache.cache.entry import CacheEntry
from foleycache.cache.invalidation import (
    InvalidationCursor,
    invalidate_model_version,
    invalidate_page,
)
from foleycache.core.errors import InvalidInput
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


def test_pages_resume_from_their_cursor_and_cover_everything_once() -> None:
    services = fake_services()
    for i in range(23):
        key = CacheKey.for_request(f"{i:016x}", "rain", "old", 1)
        services.cache_blobs.put_bytes(names.l2_audio(key), b"RIFF")
        services.cache.store(CacheEntry(key, names.l2_audio(key), 1.0, 48000, {}, 0.0))
    keep = CacheKey.for_request("f" * 16, "rain", "new", 1)
    services.cache.store(CacheEntry(keep, names.l2_audio(keep), 1.0, 48000, {}, 0.0))

    pages, cursor = [], None
    while True:
        page = invalidate_page(services, "old", InvalidationCursor.parse(cursor), budget=7)
        pages.append(page)
        assert page.l1_keys_removed + page.l2_objects_marked <= 7
        if page.done:
            break
        cursor = json.loads(json.dumps(page.cursor))  # it travels as JSON (a Lambda event)

    assert len(pages) > 3 and pages[-1].cursor is None
    assert sum(p.l1_keys_removed for p in pages) == 23
    assert sum(p.l2_objects_marked for p in pages) == 46  # entry.json + foley.wav each
    hot = services.hot.inner.data  # type: ignore[union-attr]
    assert [k for k in hot if k.startswith("fc:old/")] == [] and names.redis_entry(keep) in hot
    tags = services.cache_blobs.tags  # type: ignore[attr-defined]
    assert names.l2_entry(keep) not in tags


def test_a_repeated_page_changes_nothing_more() -> None:
    services = fake_services()
    key = CacheKey.for_request("0123456789abcdef", "rain", "old", 1)
    services.cache.store(CacheEntry(key, names.l2_audio(key), 1.0, 48000, {}, 0.0))
    first = invalidate_model_version(services, "old")
    again = invalidate_model_version(services, "old")
    assert first.l1_keys_removed == 1 and again.l1_keys_removed == 0
    assert first.l2_objects_marked == again.l2_objects_marked == 1  # tagging is idempotent


@pytest.mark.parametrize(
    "cursor", ["abc", {"pattern": -1}, {"scan": "x"}, {"pattern": 0, "evil": 1}, [1, 2]]
)
def test_a_cursor_that_no_page_handed_out_is_refused(cursor: object) -> None:
    with pytest.raises(InvalidInput, match="cursor"):
        InvalidationCursor.parse(cursor)


def test_with_redis_down_l2_is_still_marked_and_the_report_says_so() -> None:
    services = fake_services()
    key = CacheKey.for_request("0123456789abcdef", "rain", "old", 1)
    services.cache.store(CacheEntry(key, names.l2_audio(key), 1.0, 48000, {}, 0.0))
    services.hot.inner.down = True  # type: ignore[union-attr]
    report = invalidate_model_version(services, "old")
    assert not report.l1_available and report.l2_objects_marked == 1
