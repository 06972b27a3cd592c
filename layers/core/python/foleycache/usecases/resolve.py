"""Pipeline steps 2-3: find the audio in the cache, or win the right to make it.

``lookup`` checks L1 then L2. ``lease_or_wait`` is the coalescing loop that
Step Functions drives (``Wait`` state, then this step again): it re-checks the
cache first, because while we waited the winner may have stored its result;
only then does it try the lease. Exactly one concurrent request wins and
runs inference; the others are served the winner's result. If the winner
dies, its lease expires and the next waiter wins.
"""

from __future__ import annotations

import json

from foleycache.core.errors import InferenceFailed
from foleycache.core.job import CacheOutcome
from foleycache.core.lease import Lease
from foleycache.fingerprint import Fingerprint
from foleycache.usecases.fingerprint_upload import key_of
from foleycache.usecases.hit_tracking import track_hit
from foleycache.usecases.pipeline_state import PipelineState
from foleycache.usecases.services import Services
from foleycache.usecases.stage_timer import stage


def _served(services: Services, state: PipelineState) -> PipelineState | None:
    hit = services.cache.lookup(key_of(state))
    if hit is None:
        return None
    outcome, entry = hit
    track_hit(services, entry.key)
    services.jobs.update(state.job_id, cache=outcome.value)
    return state.model_copy(
        update={"cache": outcome.value, "audio_key": entry.audio_key, "next": "mux"}
    )


def _near(services: Services, state: PipelineState) -> PipelineState | None:
    matcher = services.near
    raw = services.cache_blobs.get_bytes(state.fingerprint_ref) if state.fingerprint_ref else None
    if matcher is None or raw is None:
        return None
    found = matcher.find(key_of(state), Fingerprint.from_dict(json.loads(raw)))
    if found is None:
        return None
    entry, decision = found
    services.metrics.count("NearHit")
    track_hit(services, entry.key)
    services.jobs.update(
        state.job_id,
        cache=CacheOutcome.NEAR.value,
        media={"near_of": str(entry.key), "near_reason": decision.reason},
    )
    return state.model_copy(
        update={"cache": CacheOutcome.NEAR.value, "audio_key": entry.audio_key, "next": "mux"}
    )


def lookup(services: Services, state: PipelineState) -> PipelineState:
    with stage(services.jobs, state.job_id, "lookup"):
        served = _served(services, state) or _near(services, state)
    return served or state.model_copy(update={"next": "lease"})


def lease_or_wait(services: Services, state: PipelineState) -> PipelineState:
    with stage(services.jobs, state.job_id, "lease"):
        served = _served(services, state)
        if served is not None:
            return served
        lease = Lease(
            services.leases,
            key_of(state).lease_id,
            duration_s=services.settings.lease_s,
            clock=services.clock,
        )
        holder = lease.try_acquire()
        if holder is None:
            return state.model_copy(update={"next": "infer", "lease_token": lease.token})
        if state.waited_s >= services.settings.lease_wait_max_s:
            raise InferenceFailed(
                f"gave up after waiting {state.waited_s:.0f} s for another job making this audio"
            )
        services.metrics.count("LeaseWait")
        return state.model_copy(update={"next": "wait", "waited_s": state.waited_s + state.wait_s})
