"""Two videos with one 64-bit code: the second takes the next key slot, and neither's
sound is overwritten by the other's (a trim often keeps its original's code)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from foleycache.cache.library import FingerprintLibrary
from foleycache.core import metrics as M
from foleycache.core.keys import KEY_SLOTS, CacheKey, is_slot_of, slot_fingerprints
from foleycache.pipeline import resolve
from tests.fakes import fake_services
from tests.unit.test_span_reuse import (
    MODEL,
    PROMPT,
    RATE,
    RNG,
    codes,
    fingerprint,
    query_state,
    services_with_index,
    store,
)


def test_slots_are_near_neighbours_of_the_code_and_nothing_else() -> None:
    code = "36af5290eb906bbe"
    slots = slot_fingerprints(code)
    assert len(slots) == len(set(slots)) == KEY_SLOTS and slots[0] == code
    assert all((int(s, 16) ^ int(code, 16)).bit_count() <= 1 for s in slots)
    assert all(is_slot_of(s, code) for s in slots)
    assert not is_slot_of("36af5290eb906bb8", code)  # three bits away
    assert not is_slot_of(code, "None") and not is_slot_of(code, "")


def test_a_trim_with_its_originals_code_gets_its_own_key_and_leaves_the_original_alone() -> None:
    services = services_with_index()
    source_codes = codes(200)
    audio = RNG.integers(-9000, 9000, 20 * RATE).astype(np.int16)
    original = fingerprint(source_codes, 1)
    original_key = store(services, original, audio)
    assert services.library is not None
    services.library.put(original_key, original.to_dict())
    trimmed = dataclasses.replace(fingerprint(source_codes[53:153].copy(), 2), code=original.code)

    out = resolve.lookup(services, query_state(services, trimmed))
    assert out.cache == "partial"  # composed from the original's spans, not served its sound
    slot = out.entry_key()
    assert slot.fingerprint == slot_fingerprints(original.hex)[1]
    assert services.metrics.counts[M.KEY_COLLISION_REJECTED.name] == 1  # type: ignore[attr-defined]
    job = services.jobs.get("job-00000001")
    assert job is not None and job.cache_key == str(slot)
    # The original's entry, sound and library record are untouched ...
    kept = services.cache.get_l2(original_key)
    assert kept is not None and kept.fingerprint_data["duration_s"] == original.duration_s
    known = services.library.get(original_key)
    assert known is not None and known["duration_s"] == original.duration_s
    mine = services.library.get(slot)
    assert mine is not None and mine["duration_s"] == trimmed.duration_s
    # ... and each video's repeat is an exact hit on its own key.
    again = resolve.lookup(services, query_state(services, original, "job-00000002"))
    assert again.cache in ("l1", "l2") and again.entry_key() == original_key
    again = resolve.lookup(services, query_state(services, trimmed, "job-00000003"))
    assert again.cache in ("l1", "l2") and again.entry_key() == slot


def test_a_library_record_answers_only_for_its_own_code_and_slots() -> None:
    services = fake_services()
    library = FingerprintLibrary(None, services.cache_blobs, l1_ttl_s=60)
    fp = fingerprint(codes(30), 4)
    data = fp.to_dict()
    for slot in slot_fingerprints(fp.hex):
        key = CacheKey.for_request(slot, PROMPT, MODEL, fp.version)
        library.put(key, data)
        assert library.get(key) == data
    stranger = CacheKey.for_request(f"{fp.code ^ 0xF0:016x}", PROMPT, MODEL, fp.version)
    with pytest.raises(ValueError, match="is not"):
        library.put(stranger, data)
