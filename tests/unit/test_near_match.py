"""Near reuse: candidates come from the index, but only verified ones are served."""

from __future__ import annotations

from typing import Any

import pytest

from foleycache.cache import indexed_lookup, names, near_match
from foleycache.cache.best_effort import (
    L1_UNAVAILABLE,
    NEAR_INDEX_UNAVAILABLE,
    BestEffortNearIndex,
)
from foleycache.cache.entry import CacheEntry
from foleycache.cache.library import FingerprintLibrary
from foleycache.cache.near_index import FIND_LAYOUTS
from foleycache.cache.near_match import NearMatcher
from foleycache.cache.tiered import TieredCache
from foleycache.core.keys import CacheKey
from foleycache.core.ports import NullMetrics
from foleycache.fingerprint import MatchDecision
from tests.fakes import MemoryBlobStore, MemoryHotCache, MemoryNearIndex

STORED = CacheKey.for_request("f0f0f0f0f0f0f0f0", "rain", "m1", 1)


class FakeFingerprint:
    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> str:
        return str(body["id"])


def fake_fingerprints(monkeypatch: pytest.MonkeyPatch, decide: Any) -> None:
    """Verification on ids, where candidates are decided and where a lent entry is checked
    against the record it was verified on (``IndexedLookup._sound_of``)."""
    for module in (near_match, indexed_lookup):
        monkeypatch.setattr(module, "Fingerprint", FakeFingerprint)
        monkeypatch.setattr(module, "decide", decide)


def matcher(same: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[NearMatcher, MemoryNearIndex]:
    fake_fingerprints(
        monkeypatch, lambda a, b: MatchDecision(3, 0.99 if same else 0.1, same, "test")
    )
    cache = TieredCache(MemoryHotCache(), MemoryBlobStore(), l1_ttl_s=60)
    cache.store(CacheEntry(STORED, names.l2_audio(STORED), 5.0, 48000, {"id": "stored"}, 0.0))
    hot, durable = MemoryNearIndex(), MemoryNearIndex()
    # As Services wires it: both indexes are best-effort (foleycache.cache.best_effort).
    metrics = NullMetrics()
    m = NearMatcher(
        FIND_LAYOUTS,
        BestEffortNearIndex(hot, metrics, L1_UNAVAILABLE),
        BestEffortNearIndex(durable, metrics, NEAR_INDEX_UNAVAILABLE),
        cache,
    )
    m.add(STORED)
    return m, hot


def query(bits_flipped: int, prompt: str = "rain") -> CacheKey:
    code = int(STORED.fingerprint, 16) ^ ((1 << bits_flipped) - 1)
    return CacheKey.for_request(f"{code:016x}", prompt, "m1", 1)


def test_a_verified_candidate_is_served(monkeypatch: pytest.MonkeyPatch) -> None:
    m, _ = matcher(True, monkeypatch)
    found = m.find(query(4), "new")  # type: ignore[arg-type]
    assert found is not None and found.entry is not None and found.entry.key == STORED


def test_the_wide_probe_finds_what_the_narrow_one_misses(monkeypatch: pytest.MonkeyPatch) -> None:
    m, _ = matcher(True, monkeypatch)
    assert m.find(query(9), "new") is not None  # type: ignore[arg-type]
    assert m.find(query(14), "new") is None  # type: ignore[arg-type]


def test_the_alternate_code_finds_a_copy_the_first_code_puts_too_far(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m, hot = matcher(True, monkeypatch)
    alternate = 0x0123_4567_89AB_CDEF
    m.add(STORED, alternate)
    assert f"{STORED.fingerprint}:{alternate:016x}" in set().union(*hot.buckets.values())
    far = query(14)  # beyond radius 11 in the fingerprint's own code
    assert m.find(far, "new", alternate ^ 0b111) is not None  # type: ignore[arg-type]
    assert m.find(far, "new", alternate ^ 0xFFF) is None  # type: ignore[arg-type]
    assert m.find(far, "new") is None  # type: ignore[arg-type]


def test_removal_takes_both_codes_out(monkeypatch: pytest.MonkeyPatch) -> None:
    m, hot = matcher(True, monkeypatch)
    alternate = 0x0123_4567_89AB_CDEF
    m.add(STORED, alternate)
    m.remove(STORED, alternate)
    assert not set().union(*hot.buckets.values())
    assert m.find(query(1), "new", alternate) is None  # type: ignore[arg-type]


def test_a_candidate_that_fails_verification_is_never_served(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m, _ = matcher(False, monkeypatch)
    assert m.find(query(1), "new") is None  # type: ignore[arg-type]


def test_another_prompt_never_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    m, _ = matcher(True, monkeypatch)
    assert m.find(query(1, prompt="thunder"), "new") is None  # type: ignore[arg-type]


def test_hot_index_down_falls_back_to_the_durable_one(monkeypatch: pytest.MonkeyPatch) -> None:
    m, hot = matcher(True, monkeypatch)
    hot.down = True
    assert m.find(query(2), "new") is not None  # type: ignore[arg-type]


def test_videos_sharing_an_alternate_code_are_each_tried(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_fingerprints(monkeypatch, lambda a, b: MatchDecision(3, 0.99, a == "right", "test"))
    cache = TieredCache(MemoryHotCache(), MemoryBlobStore(), l1_ttl_s=60)
    m = NearMatcher(FIND_LAYOUTS, MemoryNearIndex(), MemoryNearIndex(), cache)
    alternate = 0x0F0F_0F0F_0F0F_0F0F
    for code, name in (("ffffffff00000000", "right"), ("00000000ffffffff", "wrong")):
        key = CacheKey.for_request(code, "rain", "m1", 1)
        cache.store(CacheEntry(key, names.l2_audio(key), 5.0, 48000, {"id": name}, 0.0))
        m.add(key, alternate)
    query_key = CacheKey.for_request("5555555555555555", "rain", "m1", 1)  # far from both
    found = m.find(query_key, "new", alternate)  # type: ignore[arg-type]
    assert found is not None and found.fingerprint_data == {"id": "right"}


# --- the library: the index and the fingerprints are shared by every model version -------


def library_matcher(
    monkeypatch: pytest.MonkeyPatch, same: bool = True
) -> tuple[NearMatcher, TieredCache, FingerprintLibrary]:
    fake_fingerprints(
        monkeypatch, lambda a, b: MatchDecision(3, 0.99 if same else 0.1, same, "test")
    )
    hot, blobs = MemoryHotCache(), MemoryBlobStore()
    cache = TieredCache(hot, blobs, l1_ttl_s=60)
    library = FingerprintLibrary(hot, blobs, l1_ttl_s=60)
    m = NearMatcher(FIND_LAYOUTS, MemoryNearIndex(), MemoryNearIndex(), cache, library=library)
    return m, cache, library


def known(library: FingerprintLibrary, m: NearMatcher, key: CacheKey, name: str) -> None:
    """As ``generate`` commits a sound: the library's fingerprint, then the index."""
    library.put(key, {"code": key.fingerprint, "id": name})
    m.add(key)


def test_a_known_video_is_found_under_a_new_model_version_without_its_sound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m, cache, library = library_matcher(monkeypatch)
    cache.store(CacheEntry(STORED, names.l2_audio(STORED), 5.0, 48000, {"id": "stored"}, 0.0))
    known(library, m, STORED, "stored")
    new_version = CacheKey(query(4).fingerprint, STORED.prompt_md5, "m2", 1)
    found = m.find(new_version, "new")  # type: ignore[arg-type]
    assert found is not None
    assert found.key == CacheKey(STORED.fingerprint, STORED.prompt_md5, "m2", 1)
    assert found.fingerprint_data == {"code": STORED.fingerprint, "id": "stored"}
    assert found.entry is None  # m1's sound is never offered to m2
    # Under m1 the same candidate comes with m1's sound.
    old = m.find(query(4), "new")  # type: ignore[arg-type]
    assert old is not None and old.entry is not None and old.entry.key == STORED


def test_a_known_video_that_fails_verification_is_not_offered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m, _, library = library_matcher(monkeypatch, same=False)
    known(library, m, STORED, "stored")
    assert m.find(CacheKey(query(2).fingerprint, STORED.prompt_md5, "m2", 1), "new") is None  # type: ignore[arg-type]


def test_a_candidate_with_sound_is_preferred_to_a_nearer_one_without(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    m, cache, library = library_matcher(monkeypatch)
    nearer = CacheKey(query(1).fingerprint, STORED.prompt_md5, "m2", 1)
    farther = CacheKey(query(4).fingerprint, STORED.prompt_md5, "m2", 1)
    known(library, m, nearer, "nearer")  # known from m1, no m2 sound
    known(library, m, farther, "farther")
    cache.store(CacheEntry(farther, names.l2_audio(farther), 5.0, 48000, {"id": "farther"}, 0.0))
    found = m.find(CacheKey(STORED.fingerprint, STORED.prompt_md5, "m2", 1), "new")  # type: ignore[arg-type]
    assert found is not None and found.entry is not None and found.key == farther


def test_the_library_record_must_carry_its_own_code() -> None:
    library = FingerprintLibrary(MemoryHotCache(), MemoryBlobStore(), l1_ttl_s=60)
    with pytest.raises(ValueError):
        library.put(STORED, {"code": "0000000000000000"})
    blobs = library.blobs
    blobs.put_bytes(names.l2_library_fingerprint(STORED), b'{"code": "0000000000000000"}')
    assert library.get(STORED) is None
