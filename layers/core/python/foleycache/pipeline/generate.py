"""Pipeline step 4: run the Foley model once, asynchronously, then fill both cache tiers.

``start_inference`` queues one run on the endpoint and returns; the state machine waits
on its task token, without polling. When the endpoint's notification arrives,
``finish_inference`` checks the result, writes the L2 entry (the commit point) and L1,
releases the lease, and resumes the job and every job queued behind the lease. A failed
run releases the lease too, and its waiters go back to contend for it.

One GPU run per key, even under retries: the inference id is derived from the cache key,
and a retried start that finds its run already recorded only moves the waiting task
token to itself instead of invoking again.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from foleycache.cache import names
from foleycache.cache.entry import CacheEntry
from foleycache.cache.hit_tracking import track_hit
from foleycache.cache.span_plan import SpanPlan
from foleycache.core import metrics as M
from foleycache.core.errors import (
    FoleyError,
    InferenceFailed,
    LeaseNotOwned,
    ModelVersionMismatch,
    StorageUnavailable,
)
from foleycache.core.job import CacheOutcome
from foleycache.core.keys import CacheKey
from foleycache.core.lease import Lease
from foleycache.core.ports import InferenceRequest, InferenceResult, PendingRun
from foleycache.pipeline.compose import compose_and_store, index_entry, record_partial
from foleycache.pipeline.fingerprint_upload import load_job
from foleycache.pipeline.state import PipelineState, resumption
from foleycache.services import Services

log = logging.getLogger(__name__)


def inference_id(key: CacheKey) -> str:
    """Deterministic per cache key (the lease makes one run per key at a time)."""
    return hashlib.sha256(str(key).encode() + f"#fp{key.fingerprint_version}".encode()).hexdigest()[
        :32
    ]


def start_inference(services: Services, state: PipelineState, task_token: str) -> None:
    settings = services.settings
    key = state.entry_key()
    job = load_job(services, state.job_id)
    run = PendingRun(inference_id(key), task_token, state.model_dump(mode="json"), state.job_id)
    services.jobs.update(state.job_id, stage="inference")
    if not services.pending.put(run):
        if not services.pending.replace_token(run.inference_id, task_token, state.job_id):
            raise InferenceFailed(
                f"another job's run for {key} is still in flight; this job does not take it over"
            )
        services.metrics.emit(M.INFERENCE_START_RETRIED)
        return
    plan = SpanPlan.from_dict(state.span_plan) if state.span_plan else None
    # A partial run generates only the plan's spans, into a staging key: the entry's
    # audio is the composition, written when the run is finished.
    output = names.generated_audio(run.inference_id) if plan else names.l2_audio(key)
    request = InferenceRequest(
        video_uri=f"s3://{state.bucket}/{state.key}",
        prompt=job.prompt,
        output_uri=f"s3://{settings.cache_bucket}/{output}",
        model_version=key.model_version,
        duration_s=state.duration_s,
        inference_id=run.inference_id,
        spans=plan.generate if plan else (),
    )
    try:
        services.inference.start(request)
    except FoleyError:
        # The endpoint answered no: nothing is queued, so a retry must invoke again.
        services.pending.delete(run.inference_id)
        raise
    services.metrics.emit(M.INFERENCE_CALL)
    services.metrics.emit(M.INFERENCE_CALL_BY_VERSION, ModelVersion=key.model_version)
    services.metrics.emit(M.INFERENCE_SECONDS_ASKED, plan.generated_s if plan else state.duration_s)


@dataclass(frozen=True, slots=True)
class NoticeHandled:
    """What one notification did, for the log: ``job_id`` is its correlation id."""

    job_id: str
    line: str


def finish_inference(services: Services, message: dict[str, Any]) -> NoticeHandled:
    """Handle one notification of the endpoint; returns what happened, for the log."""
    notice = services.inference.notice_from(message)
    run = services.pending.get(notice.inference_id)
    if run is None:
        return NoticeHandled("", f"{notice.inference_id}: nobody waits (a repeated notification)")
    state = PipelineState.model_validate(run.state)
    key = state.entry_key()
    lease = Lease(
        services.leases,
        names.lease_item(key),
        duration_s=services.settings.lease_s,
        clock=services.clock,
        token=state.lease_token,
    )
    try:
        entry = _store(services, state, key, services.inference.read_result(notice))
    except StorageUnavailable:
        raise  # not the run's fault: the record stays, and SNS delivers the notice again
    except FoleyError as err:
        release_and_resume(lease, services, "lease")
        services.workflow.fail_task(run.task_token, err.code, str(err))
        services.pending.delete(notice.inference_id)
        return NoticeHandled(state.job_id, f"{notice.inference_id}: failed ({err.code})")
    release_and_resume(lease, services, "lookup")
    outcome = CacheOutcome.PARTIAL if state.span_plan else CacheOutcome.MISS
    if state.span_plan:
        record_partial(services, state.job_id, SpanPlan.from_dict(state.span_plan))
    else:
        services.jobs.update(state.job_id, cache=CacheOutcome.MISS)
    done = state.model_copy(
        update={
            "cache": outcome,
            "audio_key": entry.audio_key,
            "next": state.after_audio(),
            "lease_token": "",
            "sound_at": services.clock.now(),
        }
    )
    # Only what this step decided: the rest of the job's state is its own, in its execution.
    services.workflow.resume(run.task_token, resumption(done))
    services.pending.delete(notice.inference_id)
    return NoticeHandled(state.job_id, f"{notice.inference_id}: stored {key}")


def _store(
    services: Services, state: PipelineState, key: CacheKey, result: InferenceResult
) -> CacheEntry:
    if result.model_version != key.model_version:
        raise ModelVersionMismatch(
            f"the endpoint serves {result.model_version!r}, not {key.model_version!r}"
        )
    entry = CacheEntry(
        key=key,
        audio_key=names.l2_audio(key),
        duration_s=result.duration_s,
        sample_rate=result.sample_rate,
        fingerprint_data=state.fingerprint_data,
        created_at=services.clock.now(),
        source_job=state.job_id,
        backend=result.backend,
        extra={"windows": list(result.windows), "weights_digest": result.weights_digest},
    )
    if state.span_plan:
        # Reuse across cuts: the run made only the plan's spans; compose them with the
        # stored sound of the verified spans into this key's audio (the commit point).
        plan = SpanPlan.from_dict(state.span_plan)
        generated = names.generated_audio(inference_id(key))
        entry = compose_and_store(
            services, key, plan, state.fingerprint_data, state.job_id, generated, entry
        )
    else:
        services.cache.store(entry)
    index_entry(services, key, state.fingerprint_data)
    track_hit(services, key)
    services.jobs.record_timing(state.job_id, "inference", result.inference_ms)
    services.metrics.emit(M.GPU_SECONDS, result.inference_ms / 1000)
    return entry


def release_and_resume(lease: Lease, services: Services, then: str) -> None:
    """Release after the entry is committed, then resume every waiter: to look the cache
    up (a success) or to contend for the lease again (a failure)."""
    try:
        waiters = lease.release()
    except LeaseNotOwned:
        log.warning("lease on %s expired before the run ended", lease.key)
        return
    resumed = {"next": then, "lease_resumed_at": services.clock.now()}
    for waiter in waiters:
        services.workflow.resume(waiter, resumed)  # merged into the waiter's own state
    services.metrics.emit(M.LEASE_WAITERS_RESUMED, len(waiters))
