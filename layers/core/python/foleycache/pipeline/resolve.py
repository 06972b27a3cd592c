"""Pipeline steps 2-3: find the audio in the cache, or win the right to make it.

``lookup`` checks L1 then L2 under the exact key, verifying any hit against
the stored fingerprint (equal 64-bit codes are a candidate, never proof: another
video under the code sends this one to the code's next key slot, which the state
then carries through the lease, the run and the commit),
then the near-duplicate index of the fingerprint library, which every model
version shares: a verified known video with no sound under this version
sends the job to make it under that video's key. Only when both missed, the span
index (reuse across cuts) plans which seconds reuse stored sound of this model
version. ``lease_or_wait`` coalesces: it re-checks the
cache, then exactly one concurrent request wins the lease and runs inference;
the others queue their task tokens on the lease and are resumed by the winner
when its run ends, to be served its result. If the winner dies, its lease
expires and the waiters' timeout sends them back to contend.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np

from foleycache.cache import names
from foleycache.cache.entry import CacheEntry
from foleycache.cache.span_plan import plan_spans
from foleycache.core import metrics as M
from foleycache.core.job import CacheOutcome
from foleycache.core.keys import KEY_SLOTS, CacheKey, is_slot_of, slot_fingerprints
from foleycache.core.lease import Lease
from foleycache.fingerprint import Fingerprint, decide
from foleycache.fingerprint.hashing import alternate_code
from foleycache.fingerprint.span_match import whole_offset_s
from foleycache.pipeline.compose import (
    compose_and_store,
    index_entry,
    record_in_library,
    record_partial,
)
from foleycache.pipeline.generate import release_and_resume
from foleycache.pipeline.stage_timer import QuietStage
from foleycache.pipeline.state import PipelineState, resumption
from foleycache.services import Services

log = logging.getLogger(__name__)

#: Largest offset at which a whole-video near match is served as it is (one span step).
WHOLE_OFFSET_S = 0.1


def _fingerprint(state: PipelineState) -> Fingerprint | None:
    return Fingerprint.from_dict(state.fingerprint_data) if state.fingerprint_data else None


def _serve(
    services: Services, state: PipelineState, outcome: CacheOutcome, entry: CacheEntry
) -> PipelineState:
    return state.model_copy(
        update={
            "cache": outcome,
            "audio_key": entry.audio_key,
            "served_fingerprint": entry.key.fingerprint,
            "next": state.after_audio(),
            "sound_at": services.clock.now(),
        }
    )


def _is_this_video(stored: dict[str, Any], fingerprint: Fingerprint) -> bool:
    """Whether a stored fingerprint is this video's: the signature decision, and its span
    codes aligned at zero (the decision accepts a trim up to 1 s off, whose sound would
    be out of sync)."""
    other = Fingerprint.from_dict(dict(stored))
    if not decide(other, fingerprint).same:
        return False
    if np.array_equal(other.span_codes, fingerprint.span_codes):
        return True  # the same fingerprint (the hit path's common case): no shift to find
    offset = whole_offset_s(fingerprint.span_codes, other.span_codes)
    return offset is None or abs(offset) <= WHOLE_OFFSET_S


def _served(
    services: Services, state: PipelineState, fingerprint: Fingerprint | None
) -> PipelineState | None:
    """An entry under this exact key, *verified*: equal codes are a candidate, never proof."""
    return _at_key(services, state, fingerprint)[0]


def _at_key(
    services: Services, state: PipelineState, fingerprint: Fingerprint | None
) -> tuple[PipelineState | None, bool]:
    """(the entry under this exact key served, if it is this video's; whether it is another
    video's)."""
    hit = services.cache.lookup(state.entry_key())
    if hit is None:
        return None, False
    outcome, entry = hit
    if (
        fingerprint is not None
        and entry.fingerprint_data
        and not _is_this_video(entry.fingerprint_data, fingerprint)
    ):
        services.metrics.emit(M.KEY_COLLISION_REJECTED)
        log.warning("entry %s has this code but is another video", entry.key)
        return None, True
    return _serve(services, state, outcome, entry), False


def own_key(
    services: Services,
    state: PipelineState,
    fingerprint: Fingerprint,
    taken: frozenset[str] = frozenset(),
) -> CacheKey:
    """The key this video's sound lives (or is to be made) under: the first slot of its
    code (:data:`foleycache.core.keys.KEY_SLOTS`) whose library record is this video, or
    that has none.

    Equal codes are a candidate, never proof, and a trim often keeps its original's code:
    without slots, the trim's sound would be committed over the original's entry and
    library record. The library is shared by every model version, so every version
    agrees on who holds which slot. Chosen at lookup and carried in the state: the run
    and the commit use the state's key, and the lease step only checks it (a job whose
    slot another video took meanwhile looks again). Were every slot another video's, the
    code's own key is used (and overwritten). ``taken``: slots whose entry is known to be
    another video's, whatever the library says."""
    base = state.entry_key()
    code = state.fingerprint_data.get("code")
    if not (isinstance(code, str) and is_slot_of(state.fingerprint, code)):
        code = state.fingerprint
    for slot in slot_fingerprints(code):
        key = replace(base, fingerprint=slot)
        if slot not in taken:
            known = services.library.get(key)
            if known is None or _is_this_video(known, fingerprint):
                return key
        services.metrics.emit(M.KEY_SLOT_TAKEN)
    return replace(base, fingerprint=code)


def _own(
    services: Services, state: PipelineState, fingerprint: Fingerprint | None
) -> tuple[PipelineState, PipelineState | None]:
    """(the state at this video's own key, and its verified entry there served, or None).

    The key the state carries is tried first, so a hit costs no library read."""
    served, collided = _at_key(services, state, fingerprint)
    if served is not None or fingerprint is None:
        return state, served
    taken = {state.fingerprint} if collided else set()
    for _ in range(KEY_SLOTS):
        key = own_key(services, state, fingerprint, frozenset(taken))
        if key == state.entry_key():
            return state, None
        log.info("code %s is another video's: this one's key is %s", state.fingerprint, key)
        services.jobs.update(state.job_id, fingerprint=key.fingerprint, cache_key=str(key))
        state = state.model_copy(update={"fingerprint": key.fingerprint, "cache_key": str(key)})
        served, collided = _at_key(services, state, fingerprint)
        if served is not None or not collided:
            return state, served
        taken.add(key.fingerprint)  # an entry there without a library record (an alias)
    return state, None


def _near(
    services: Services, state: PipelineState, fingerprint: Fingerprint | None
) -> PipelineState | None:
    matcher = services.near
    if matcher is None or fingerprint is None:
        return None
    found = matcher.find(state.entry_key(), fingerprint, alternate_code(fingerprint.vector))
    if found is None:
        return None
    offset = whole_offset_s(
        fingerprint.span_codes, Fingerprint.from_dict(found.fingerprint_data).span_codes
    )
    if offset is not None and abs(offset) > WHOLE_OFFSET_S:
        # Same pictures, shifted in time (a trim at one end, other footage at the other):
        # its sound would be out of sync, and sound made from this upload would be out of
        # sync for the known video. The span search aligns it exactly instead.
        services.metrics.emit(M.NEAR_SHIFTED_REJECTED)
        log.info("near candidate %s is shifted by %.1f s", found.key, offset)
        return None
    near = {"near_of": str(found.key), "near_reason": found.decision.reason}
    if found.entry is None:
        return _make_for_known(services, state, found.key, found.fingerprint_data, near)
    entry = found.entry
    services.metrics.emit(M.NEAR_MATCH)
    # An alias under this video's own key (same audio, this video's fingerprint), so the
    # next copy with these exact pictures is one L1 read. It is not added to the near
    # index: chaining near matches could drift away from the video the audio was made for.
    services.cache.store(
        replace(
            entry,
            key=state.entry_key(),
            fingerprint_data=fingerprint.to_dict(),
            created_at=services.clock.now(),
            source_job=state.job_id,
            extra={"near_of": str(entry.key)},
        )
    )
    # The library says whose key it is, so no other video takes its slot (under any model
    # version); the alias is still not indexed.
    record_in_library(services, state.entry_key(), state.fingerprint_data)
    services.jobs.update(state.job_id, media=near)
    return _serve(services, state, CacheOutcome.NEAR, entry)


def _make_for_known(
    services: Services,
    state: PipelineState,
    known: CacheKey,
    fingerprint_data: dict[str, Any],
    near: dict[str, str],
) -> PipelineState:
    """A verified near copy of a known video that has no sound under this model version
    (a new version, or its sound archived): the sound is made once, under the known
    video's key, so every copy of it contends for one lease and one GPU run, as they
    shared one entry before. The entry then carries the known fingerprint, so the
    known video's exact lookups verify against itself."""
    services.metrics.emit(M.NEAR_KNOWN_WITHOUT_SOUND)
    services.jobs.update(state.job_id, cache_key=str(known), media=near)
    return state.model_copy(
        update={
            "fingerprint": known.fingerprint,
            "fingerprint_data": fingerprint_data,
            "cache_key": str(known),
            "span_plan": {},  # the known video's whole sound is made, not a partial
            "next": "lease",
            "lease_from": state.lease_from or services.clock.now(),
        }
    )


def _spans(
    services: Services, state: PipelineState, fingerprint: Fingerprint | None
) -> PipelineState:
    """Reuse across cuts: verified shared spans become a plan; the GPU generates the rest.

    Runs only after the exact and whole-video lookups missed. A plan that covers the
    whole video is composed here (no GPU run); otherwise it travels with the state to
    the run, which generates only its uncovered spans (``generate.start_inference``).
    """
    index = services.spans
    lease_from = state.lease_from or services.clock.now()
    missed = state.model_copy(update={"next": "lease", "span_plan": {}, "lease_from": lease_from})
    if index is None or fingerprint is None or not len(fingerprint.span_codes):
        return missed
    found = index.find(state.entry_key(), fingerprint)
    plan = (
        plan_spans(
            fingerprint.duration_s,
            found,
            samples=len(fingerprint.span_codes),
            query=fingerprint.span_codes,
            lags_s=fingerprint.span_lags_s,
        )
        if found
        else None
    )
    if plan is None:
        return missed
    services.metrics.emit(M.SPAN_PLAN)
    if plan.generate:
        return missed.model_copy(update={"span_plan": plan.to_dict()})
    # Composed without the lease (nothing runs on the GPU): into this job's own audio
    # object, so a run that holds the lease and commits under the key meanwhile (another
    # video, before the library knew either) never changes the sound this job serves.
    key = state.entry_key()
    entry = compose_and_store(
        services,
        key,
        plan,
        state.fingerprint_data,
        state.job_id,
        None,
        audio_key=names.l2_composed_audio(key, state.job_id),
    )
    index_entry(services, state.entry_key(), state.fingerprint_data)
    record_partial(services, state.job_id, plan)
    served = state.model_copy(update={"span_plan": plan.to_dict()})
    return _serve(services, served, CacheOutcome.PARTIAL, entry)


def lookup(services: Services, state: PipelineState) -> PipelineState:
    """exact -> whole-video near -> shared spans: each only when the one before missed."""
    timer = QuietStage("lookup")
    state = _ended_lease_wait(services, state)
    fingerprint = _fingerprint(state)
    state, served = _own(services, state, fingerprint)
    served = served or _near(services, state, fingerprint)
    return timer.stamp(served or _spans(services, state, fingerprint))


def _ended_lease_wait(services: Services, state: PipelineState) -> PipelineState:
    """A job a lease holder resumed: its wait, from its first lease attempt, is over."""
    if not (state.lease_resumed_at and state.lease_from):
        return state
    waited = max(state.lease_resumed_at - state.lease_from, 0.0)
    services.metrics.emit(M.LEASE_WAIT_SECONDS, waited)
    return state.model_copy(update={"lease_from": 0.0, "lease_resumed_at": 0.0})


def lease_or_wait(services: Services, state: PipelineState, task_token: str) -> None:
    """Re-check the cache, then take the lease or queue behind its holder.

    The state machine waits on ``task_token`` (``.waitForTaskToken``); this step resumes
    it at once when it knows the answer (a hit: mux; the lease won: infer; the lease gone
    meanwhile: look again), and otherwise leaves it queued on the lease, where the holder
    resumes it when its run ends. Nothing polls.
    """
    timer = QuietStage("lease")
    fingerprint = _fingerprint(state)
    served = _served(services, state, fingerprint)
    if served is not None:
        services.workflow.resume(task_token, resumption(timer.stamp(served)))
        return
    lease = Lease(
        services.leases,
        names.lease_item(state.entry_key()),
        duration_s=services.settings.lease_s,
        clock=services.clock,
    )
    if lease.try_acquire() is None:
        if lease.took_over:
            services.metrics.emit(M.LEASE_TAKEOVER)
        try:
            answer = _settled_meanwhile(services, state, fingerprint)
        except Exception:
            release_and_resume(lease, services, "lease")  # never leave it held by no one
            raise
        if answer is not None:
            release_and_resume(lease, services, "lookup")
            if isinstance(answer, PipelineState):
                answer = resumption(timer.stamp(answer))
            services.workflow.resume(task_token, answer)
            return
        won = state.model_copy(update={"next": "infer", "lease_token": lease.token})
        services.workflow.resume(task_token, resumption(timer.stamp(won)))
        return
    if not lease.wait(task_token):  # released between our attempt and now: look again
        services.workflow.resume(task_token, {"next": "lookup"})
        return
    services.metrics.emit(M.LEASE_WAIT)
    services.jobs.update(state.job_id, stage="waiting")


def _settled_meanwhile(
    services: Services, state: PipelineState, fingerprint: Fingerprint | None
) -> PipelineState | dict[str, Any] | None:
    """Checked once the lease is held: what changed since this job's lookup, as the answer
    to resume it with, or None to run. A run that held the lease may have committed in
    between: this video's sound (serve it), or another video's under this slot; or the
    library may now name another video here. Then lookup's own walk over the slots says
    where this video belongs, and the job looks again if that is elsewhere (lookup walks
    the same way, so the two agree and nothing loops; ``slot_rechecks`` bounds it anyway).
    The jobs that reach the lease without a lookup on this key (known bytes, a near copy
    of a known video) are checked here too."""
    served, collided = _at_key(services, state, fingerprint)
    if served is not None:
        return served
    if fingerprint is None or state.slot_rechecks >= KEY_SLOTS:
        return None
    if not collided:
        known = services.library.get(state.entry_key())
        if known is None or _is_this_video(known, fingerprint):
            return None
    walked, served = _own(services, state, fingerprint)
    if served is not None:
        return served
    if walked.entry_key() == state.entry_key():
        return None
    return {"next": "lookup", "slot_rechecks": state.slot_rechecks + 1}
