"""Pipeline steps 2-3: find the audio in the cache, or win the right to make it.

``lookup`` checks L1 then L2 under the exact key, verifying any hit against
the stored fingerprint (equal 64-bit codes are a candidate, never proof),
then the near-duplicate index. ``lease_or_wait`` coalesces: it re-checks the
cache, then exactly one concurrent request wins the lease and runs inference;
the others queue their task tokens on the lease and are resumed by the winner
when its run ends, to be served its result. If the winner dies, its lease
expires and the waiters' timeout sends them back to contend.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from foleycache.cache import names
from foleycache.cache.entry import CacheEntry
from foleycache.cache.span_plan import plan_spans
from foleycache.core.job import CacheOutcome
from foleycache.core.lease import Lease
from foleycache.fingerprint import Fingerprint, decide
from foleycache.fingerprint.hashing import alternate_code
from foleycache.fingerprint.span_match import whole_offset_s
from foleycache.pipeline.compose import compose_and_store, index_entry, record_partial
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
            "next": "mux",
        }
    )


def _served(
    services: Services, state: PipelineState, fingerprint: Fingerprint | None
) -> PipelineState | None:
    """An entry under this exact key, *verified*: equal codes are a candidate, never proof."""
    hit = services.cache.lookup(state.entry_key())
    if hit is None:
        return None
    outcome, entry = hit
    if fingerprint is not None and entry.fingerprint_data:
        decision = decide(Fingerprint.from_dict(entry.fingerprint_data), fingerprint)
        if not decision.same:
            services.metrics.count("KeyCollisionRejected")
            log.warning(
                "entry %s has this code but is another video: %s", entry.key, decision.reason
            )
            return None
    return _serve(services, state, outcome, entry)


def _near(
    services: Services, state: PipelineState, fingerprint: Fingerprint | None
) -> PipelineState | None:
    matcher = services.near
    if matcher is None or fingerprint is None:
        return None
    found = matcher.find(state.entry_key(), fingerprint, alternate_code(fingerprint.vector))
    if found is None:
        return None
    entry, decision = found
    offset = whole_offset_s(
        fingerprint.span_codes, Fingerprint.from_dict(entry.fingerprint_data).span_codes
    )
    if offset is not None and abs(offset) > WHOLE_OFFSET_S:
        # Same pictures, shifted in time (a trim at one end, other footage at the other):
        # its sound would be out of sync. The span search aligns it exactly instead.
        services.metrics.count("NearShiftedRejected")
        log.info("near candidate %s is shifted by %.1f s", entry.key, offset)
        return None
    services.metrics.count("NearHit")
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
    services.jobs.update(
        state.job_id, media={"near_of": str(entry.key), "near_reason": decision.reason}
    )
    return _serve(services, state, CacheOutcome.NEAR, entry)


def _spans(
    services: Services, state: PipelineState, fingerprint: Fingerprint | None
) -> PipelineState:
    """Reuse across cuts: verified shared spans become a plan; the GPU generates the rest.

    Runs only after the exact and whole-video lookups missed. A plan that covers the
    whole video is composed here (no GPU run); otherwise it travels with the state to
    the run, which generates only its uncovered spans (``generate.start_inference``).
    """
    index = services.spans
    missed = state.model_copy(update={"next": "lease", "span_plan": {}})
    if index is None or fingerprint is None or not len(fingerprint.span_codes):
        return missed
    found = index.find(state.entry_key(), fingerprint)
    plan = plan_spans(fingerprint.duration_s, found) if found else None
    if plan is None:
        return missed
    services.metrics.count("SpanPlan")
    if plan.generate:
        return state.model_copy(update={"next": "lease", "span_plan": plan.to_dict()})
    entry = compose_and_store(
        services, state.entry_key(), plan, state.fingerprint_data, state.job_id, None
    )
    index_entry(services, state.entry_key(), state.fingerprint_data)
    record_partial(services, state.job_id, plan)
    return _serve(services, state, CacheOutcome.PARTIAL, entry)


def lookup(services: Services, state: PipelineState) -> PipelineState:
    """exact -> whole-video near -> shared spans: each only when the one before missed."""
    timer = QuietStage("lookup")
    fingerprint = _fingerprint(state)
    served = _served(services, state, fingerprint) or _near(services, state, fingerprint)
    return timer.stamp(served or _spans(services, state, fingerprint))


def lease_or_wait(services: Services, state: PipelineState, task_token: str) -> None:
    """Re-check the cache, then take the lease or queue behind its holder.

    The state machine waits on ``task_token`` (``.waitForTaskToken``); this step resumes
    it at once when it knows the answer (a hit: mux; the lease won: infer; the lease gone
    meanwhile: look again), and otherwise leaves it queued on the lease, where the holder
    resumes it when its run ends. Nothing polls.
    """
    timer = QuietStage("lease")
    served = _served(services, state, _fingerprint(state))
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
        won = state.model_copy(update={"next": "infer", "lease_token": lease.token})
        services.workflow.resume(task_token, resumption(timer.stamp(won)))
        return
    if not lease.wait(task_token):  # released between our attempt and now: look again
        services.workflow.resume(task_token, {"next": "lookup"})
        return
    services.metrics.count("LeaseWait")
    services.jobs.update(state.job_id, stage="waiting")
