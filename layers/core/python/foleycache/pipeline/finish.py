"""Pipeline end: write the outcome to the job record.

A failure's ``Cause`` is the Lambda error payload (``errorType`` and
``errorMessage``); the record keeps the typed code and the human sentence,
never a stack trace.
"""

from __future__ import annotations

import json

from foleycache.cache import names
from foleycache.cache.hit_tracking import track_hit
from foleycache.cache.library import same_video
from foleycache.cache.names import exact_scope
from foleycache.cache.repeat_memory import (
    ExactRecord,
    find_exact,
    record_digest,
    remember_exact,
    remember_failure,
)
from foleycache.cache.span_plan import SpanPlan
from foleycache.core.job import CacheOutcome, JobStatus
from foleycache.core.keys import prompt_md5
from foleycache.core.lease import Lease
from foleycache.pipeline.generate import release_and_resume
from foleycache.pipeline.job_outcome import record_failure, record_success
from foleycache.pipeline.state import FailedState, PipelineState
from foleycache.services import Services


def succeed(services: Services, state: PipelineState) -> PipelineState:
    """Record the outcome; hits are tracked here, off the lookup's latency path."""
    if (served := state.served_key()) is not None:
        track_hit(services, served)
    if state.sha256 and state.fingerprint:
        scope = exact_scope(
            state.fingerprint_version, state.sha256, state.prompt_md5, state.audio_mode
        )
        served = state.served_key() or state.entry_key()
        # A prewarm (deliver: false) has no deliverables: it records the bytes' fingerprint
        # for the library, but never replaces a record that lends another job's outputs.
        if state.deliver or find_exact(services, scope) is None:
            known = services.library.get(served)
            # Only a record of the video this job was answered as (itself, or the near
            # original it matched): it may have been rewritten for another video since.
            if known is not None and not (
                state.fingerprint_data and same_video(known, state.fingerprint_data)
            ):
                known = None
            record = ExactRecord(
                served.fingerprint,
                state.outputs,
                served.model_version,
                record_digest(known) if known else "",
                str(known.get("code", "")) if known else "",
            )
            remember_exact(services, scope, record)
    job = services.jobs.get(state.job_id)
    timings = {**(job.timings_ms if job else {}), **state.timings_ms}
    services.jobs.update(
        state.job_id,
        status=JobStatus.SUCCEEDED.value,
        stage="done",
        cache=state.cache,
        timings_ms=timings,
        outputs=state.outputs,
        updated_at=services.clock.now(),
    )
    tier = (state.cache or CacheOutcome.MISS).value
    created_at = job.created_at if job else None
    saved_s = state.duration_s
    if state.cache == CacheOutcome.PARTIAL and state.span_plan:
        # A partial result saved only the seconds the GPU was not asked for.
        saved_s = max(state.duration_s - SpanPlan.from_dict(state.span_plan).generated_s, 0.0)
    record_success(services, tier, created_at, state.sound_at, saved_s, state.model_version)
    return state


def describe_failure(error: str, cause: str) -> tuple[str, str]:
    """(code, message) from a Step Functions Error/Cause pair."""
    try:
        payload = json.loads(cause)
    except (json.JSONDecodeError, TypeError):
        payload = None
    if isinstance(payload, dict):
        return str(payload.get("errorType") or error), str(payload.get("errorMessage") or error)
    return error, cause or error


def fail(services: Services, state: FailedState) -> dict[str, str]:
    code, message = describe_failure(state.failure.Error, state.failure.Cause)
    if (key := state.held_lease_key()) is not None:
        # A holder that failed frees its lease now: its waiters contend again at once
        # instead of waiting the lease out.
        lease = Lease(
            services.leases,
            names.lease_item(key),
            duration_s=services.settings.lease_s,
            clock=services.clock,
            token=state.lease_token,
        )
        release_and_resume(lease, services, "lease")
    job = services.jobs.get(state.job_id)
    if job is not None and job.details.get("sha256"):
        remember_failure(
            services, str(job.details["sha256"]), prompt_md5(job.prompt), code, message
        )
    services.jobs.update(
        state.job_id,
        status=JobStatus.FAILED.value,
        stage="failed",
        error={"code": code, "message": message},
        updated_at=services.clock.now(),
    )
    record_failure(services, code, state.failed_stage(), state.model_version)
    return {"job_id": state.job_id, "status": "failed", "error": message, "error_code": code}
