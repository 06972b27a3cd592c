"""Two videos with one 64-bit code: the second takes the next key slot, and neither's
sound is overwritten by the other's (a trim often keeps its original's code)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from foleycache.cache import names
from foleycache.cache.entry import CacheEntry
from foleycache.cache.library import FingerprintLibrary
from foleycache.cache.repeat_memory import find_exact
from foleycache.core import metrics as M
from foleycache.core.errors import StorageUnavailable
from foleycache.core.job import CacheOutcome
from foleycache.core.keys import KEY_SLOTS, CacheKey, is_slot_of, slot_fingerprints
from foleycache.core.lease import Lease
from foleycache.fingerprint import Fingerprint
from foleycache.fingerprint import extract as extract_module
from foleycache.pipeline import resolve
from foleycache.pipeline.fingerprint_upload import fingerprint_upload
from foleycache.pipeline.finish import succeed
from foleycache.pipeline.generate import finish_inference, inference_id, start_inference
from foleycache.pipeline.resolve import lease_or_wait, lookup
from foleycache.pipeline.state import PipelineState
from foleycache.services import Services
from tests.fakes import InstantEndpoint, fake_services
from tests.unit.test_fingerprint_library import CLIP, Decoder, Rollout, synthetic_fingerprint
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


# --- the whole pipeline, across model versions ---------------------------------------------


def _upload(stack: Rollout, services: Services, sha: str) -> PipelineState:
    """An upload of ``stack``'s clip whose bytes S3 knows by ``sha``."""
    state = stack.upload(services)
    services.uploads.checksums[state.key] = sha  # type: ignore[attr-defined]
    return state


def test_two_videos_with_one_code_keep_their_own_slots_under_every_model_version(
    clips_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = synthetic_fingerprint(7)
    second = dataclasses.replace(synthetic_fingerprint(8), code=first.code)  # another video
    decoder = Decoder(first)
    monkeypatch.setattr(extract_module, "fingerprint_video", decoder)
    stack = Rollout(clips_dir / CLIP)
    a = stack.under("model-a")
    one = stack.run(a, _upload(stack, a, "c2hhLW9uZQ=="))
    decoder.fingerprint = second
    two = stack.run(a, _upload(stack, a, "c2hhLXR3bw=="))
    assert one.cache == two.cache == "miss"
    slots = slot_fingerprints(first.hex)
    assert one.entry_key().fingerprint == slots[0] and two.entry_key().fingerprint == slots[1]
    assert two.audio_key != one.audio_key
    # The first video's entry and library record are its own still; the second's are beside.
    kept = a.cache.get_l2(one.entry_key())
    assert kept is not None and kept.fingerprint_data == first.to_dict()
    assert a.library.get(one.entry_key()) == first.to_dict()
    assert a.library.get(two.entry_key()) == second.to_dict()

    # Known bytes skip decoding and go to their own slot: each is an exact hit on its sound.
    again = stack.run(a, _upload(stack, a, "c2hhLXR3bw=="))
    assert again.cache == "exact" and again.audio_key == two.audio_key
    again = stack.run(a, _upload(stack, a, "c2hhLW9uZQ=="))
    assert again.cache == "exact" and again.audio_key == one.audio_key

    # A new model version reads the slots from the library, which every version shares:
    # the second video's sound is made under its slot, never over the first's key ...
    b = stack.under("model-b")
    made = stack.run(b, _upload(stack, b, "c2hhLXR3bw=="))
    assert made.cache == "miss" and made.entry_key().fingerprint == slots[1]
    # ... and other bytes of the second video, decoded, find it there.
    decoded = stack.run(b, _upload(stack, b, "c2hhLXR3by1hZ2Fpbg=="))
    assert decoded.cache in ("l1", "l2") and decoded.audio_key == made.audio_key
    assert decoder.calls == 3
    decoder.fingerprint = first
    own = stack.run(b, _upload(stack, b, "c2hhLW9uZS1hZ2Fpbg=="))
    assert own.cache == "miss" and own.entry_key().fingerprint == slots[0]
    assert len(stack.endpoints["model-b"].started) == 2


def _both_looked_up(
    clips_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Fingerprint, Fingerprint, Services, PipelineState, PipelineState]:
    """Two videos with one code, each fingerprinted and looked up before either has sound:
    (first, second, the services, the first's state, the second's)."""
    first = synthetic_fingerprint(7)
    second = dataclasses.replace(synthetic_fingerprint(8), code=first.code)
    decoder = Decoder(first)
    monkeypatch.setattr(extract_module, "fingerprint_video", decoder)
    stack = Rollout(clips_dir / CLIP)
    a = stack.under("model-a")
    one = lookup(a, fingerprint_upload(a, _upload(stack, a, "c2hhLW9uZQ==")))
    decoder.fingerprint = second
    two = lookup(a, fingerprint_upload(a, _upload(stack, a, "c2hhLXR3bw==")))
    return first, second, a, one, two


def test_a_job_queued_behind_another_videos_lease_on_its_code_moves_to_the_next_slot(
    clips_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both arrive before either has sound: one lease on the code, one run. The waiter is
    resumed to look again, finds the other video there, and takes the next slot."""
    first, _, a, one, two = _both_looked_up(clips_dir, monkeypatch)
    assert one.entry_key() == two.entry_key()  # nothing known yet: both on the code
    lease_or_wait(a, one, "lease-1")
    lease_or_wait(a, two, "lease-2")  # queued behind the first
    resumed = a.workflow.resumed  # type: ignore[attr-defined]
    assert [token for token, _ in resumed] == ["lease-1"]
    one = Rollout._resumed(a, one, "lease-1")
    start_inference(a, one, "infer-1")
    finish_inference(a, InstantEndpoint.notification(inference_id(one.entry_key())))
    assert sorted(token for token, _ in resumed[1:]) == ["infer-1", "lease-2"]
    (answer,) = [answer for token, answer in resumed if token == "lease-2"]
    two = PipelineState.model_validate({**two.model_dump(), "resumed": answer})
    assert two.next == "lookup"
    two = lookup(a, two)
    assert two.next == "lease" and two.entry_key().fingerprint == slot_fingerprints(first.hex)[1]
    assert a.library.get(one.entry_key()) == first.to_dict()


def _video_run(stack: Rollout, services: Services, sha: str) -> PipelineState:
    return stack.run(services, _upload(stack, services, sha))


def test_a_lease_won_after_another_video_committed_under_the_key_is_given_back(
    clips_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second video's lookup ran before the first committed; its Lease step runs only
    after the first released. It must not make its sound over the first's."""
    first, second, a, one, two = _both_looked_up(clips_dir, monkeypatch)
    lease_or_wait(a, one, "lease-1")
    one = Rollout._resumed(a, one, "lease-1")
    start_inference(a, one, "infer-1")
    finish_inference(a, InstantEndpoint.notification(inference_id(one.entry_key())))
    lease_or_wait(a, two, "lease-2")  # the lease is free again: won, then given back
    two = Rollout._resumed(a, two, "lease-2")
    assert two.next == "lookup" and two.entry_key() == one.entry_key()
    two = lookup(a, two)
    assert two.entry_key().fingerprint == slot_fingerprints(first.hex)[1]
    lease_or_wait(a, two, "lease-3")
    two = Rollout._resumed(a, two, "lease-3")
    assert two.next == "infer"
    start_inference(a, two, "infer-3")
    finish_inference(a, InstantEndpoint.notification(inference_id(two.entry_key())))
    kept = a.cache.get_l2(one.entry_key())
    assert kept is not None and kept.fingerprint_data == first.to_dict()
    made = a.cache.get_l2(two.entry_key())
    assert made is not None and made.fingerprint_data == second.to_dict()


def test_with_every_slot_taken_known_bytes_are_never_answered_with_another_videos_sound(
    clips_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = synthetic_fingerprint(7)
    others = [synthetic_fingerprint(20 + i) for i in range(KEY_SLOTS)]
    videos = [base] + [dataclasses.replace(v, code=base.code) for v in others]
    decoder = Decoder(base)
    monkeypatch.setattr(extract_module, "fingerprint_video", decoder)
    stack = Rollout(clips_dir / CLIP)
    a = stack.under("model-a")
    runs = []
    for i, video in enumerate(videos):
        decoder.fingerprint = video
        runs.append(_video_run(stack, a, f"c2hh{i:04d}"))
    slots = [run.entry_key().fingerprint for run in runs]
    assert slots[:KEY_SLOTS] == slot_fingerprints(base.hex)
    assert slots[-1] == base.hex  # the last video overwrote the code's own key
    # The first video's bytes again: the library's record under its key is another
    # video's now, so the bytes are decoded and the first video's sound made again.
    decoder.fingerprint = base
    calls = decoder.calls
    again = _video_run(stack, a, "c2hh0000")
    assert decoder.calls == calls + 1 and again.cache == "miss"
    entry = a.cache.get_l2(again.entry_key())
    assert entry is not None and entry.fingerprint_data == base.to_dict()
    assert again.audio_key == entry.audio_key
    # And the last video's bytes, whose record now names the first video: decoded too.
    decoder.fingerprint = videos[-1]
    last = _video_run(stack, a, f"c2hh{KEY_SLOTS:04d}")
    assert decoder.calls == calls + 2
    entry = a.cache.get_l2(last.entry_key())
    assert entry is not None and entry.fingerprint_data == videos[-1].to_dict()


def test_an_entry_under_the_code_that_aligns_only_at_a_shift_is_another_video() -> None:
    """The signature decision tolerates a second of trim, but the sound would be a second
    out of sync: the shifted copy takes the next slot and reuses the stored sound at the
    right offset instead."""
    services = services_with_index()
    source_codes = codes(200)
    stored = fingerprint(source_codes, 1)
    audio = RNG.integers(-9000, 9000, 20 * RATE).astype(np.int16)
    key = store(services, stored, audio)
    services.library.put(key, stored.to_dict())
    shifted = dataclasses.replace(
        stored, span_codes=np.concatenate([codes(10), source_codes[:190]])
    )  # same code, same signature vector: one second of other footage in front
    out = resolve.lookup(services, query_state(services, shifted))
    assert out.next == "lease" and out.audio_key == ""  # not served the stored sound whole
    assert out.entry_key().fingerprint == slot_fingerprints(stored.hex)[1]
    (reused,) = out.span_plan["reused"]  # the GPU makes the first second, no more
    assert reused["source"] == str(key) and reused["offset_s"] == pytest.approx(-1.0)
    kept = services.cache.get_l2(key)
    assert kept is not None and kept.fingerprint_data == stored.to_dict()


def _lease_answer(services: Services, state: PipelineState, token: str) -> dict[str, Any]:
    resolve.lease_or_wait(services, state, token)
    found, answer = services.workflow.resumed[-1]  # type: ignore[attr-defined]
    assert found == token
    return dict(answer)


def _alias(services: Services, fp: Fingerprint) -> CacheKey:
    """An entry under ``fp``'s code with no library record (a near alias from before the
    aliases had one): another video's, as far as a same-code video can tell."""
    key = CacheKey.for_request(fp.hex, PROMPT, MODEL, fp.version)
    services.cache.store(CacheEntry(key, "cache/elsewhere.wav", 10.0, RATE, fp.to_dict(), 0.0))
    return key


def test_lookup_and_lease_agree_on_the_slot_so_a_job_never_loops_between_them() -> None:
    services = services_with_index()
    other = fingerprint(codes(100), 1)
    _alias(services, other)
    mine = dataclasses.replace(fingerprint(codes(100), 2), code=other.code)
    state = resolve.lookup(services, query_state(services, mine))
    assert state.entry_key().fingerprint == slot_fingerprints(other.hex)[1]
    assert _lease_answer(services, state, "lease-1")["next"] == "infer"


def test_with_every_slot_taken_lookup_and_lease_agree_on_the_codes_own_key() -> None:
    services = services_with_index()
    first = fingerprint(codes(100), 1)
    _alias(services, first)  # the code's own key: an entry, no record
    for n, slot in enumerate(slot_fingerprints(first.hex)[1:], start=2):
        other = dataclasses.replace(fingerprint(codes(100), n), code=first.code)
        services.library.put(
            CacheKey.for_request(slot, PROMPT, MODEL, other.version),
            {**other.to_dict(), "code": first.hex},
        )
    mine = dataclasses.replace(fingerprint(codes(100), 9), code=first.code)
    state = resolve.lookup(services, query_state(services, mine))
    assert state.entry_key().fingerprint == first.hex
    assert _lease_answer(services, state, "lease-1")["next"] == "infer"


def test_the_lease_step_sends_a_job_back_to_look_again_a_bounded_number_of_times() -> None:
    services = services_with_index()
    first = fingerprint(codes(100), 1)
    key = CacheKey.for_request(first.hex, PROMPT, MODEL, first.version)
    services.library.put(key, first.to_dict())  # the code is the first video's
    mine = dataclasses.replace(fingerprint(codes(100), 2), code=first.code)
    state = query_state(services, mine)  # at the code's key, as known bytes would come
    assert _lease_answer(services, state, "lease-1") == {"next": "lookup", "slot_rechecks": 1}
    tired = state.model_copy(update={"slot_rechecks": KEY_SLOTS})
    assert _lease_answer(services, tired, "lease-2")["next"] == "infer"


def test_a_lease_is_given_back_when_checking_it_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    services = services_with_index()
    mine = fingerprint(codes(100), 2)
    state = query_state(services, mine)

    def broken(self: FingerprintLibrary, key: CacheKey) -> None:
        raise StorageUnavailable("library down")

    monkeypatch.setattr(FingerprintLibrary, "get", broken)
    with pytest.raises(StorageUnavailable):
        resolve.lease_or_wait(services, state, "lease-1")
    monkeypatch.undo()
    lease = Lease(
        services.leases, names.lease_item(state.entry_key()), duration_s=60, clock=services.clock
    )
    assert lease.try_acquire() is None  # free again


def test_bytes_are_not_recorded_as_a_video_the_library_no_longer_describes() -> None:
    """Answered at a key whose library record another video's run replaced before this job
    finished: its exact-bytes record must not name that video."""
    services = services_with_index()
    mine = fingerprint(codes(100), 1)
    state = query_state(services, mine).model_copy(
        update={"sha256": "c2hhLW9uZQ==", "cache": CacheOutcome.L1, "served_fingerprint": mine.hex}
    )
    services.library.put(state.entry_key(), mine.to_dict())
    succeed(services, state)
    scope = names.exact_scope(mine.version, "c2hhLW9uZQ==", state.prompt_md5, "replace")
    record = find_exact(services, scope)
    assert record is not None and record.names(mine.to_dict())
    other = dataclasses.replace(fingerprint(codes(100), 2), code=mine.code)
    services.library.put(state.entry_key(), other.to_dict())
    succeed(services, state)
    record = find_exact(services, scope)
    assert record is not None and not record.names(other.to_dict())
