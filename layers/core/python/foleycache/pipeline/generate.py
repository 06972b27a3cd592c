"""Pipeline step 4: run the Foley model once, then fill both cache tiers.

The model writes its WAV straight to the L2 audio key; this step then writes
the L2 entry (the commit point) and L1, and only then releases the lease, so
a waiter that sees the lease gone always finds the result. On failure the
lease is released too, so a waiter can try instead of waiting out the lease.
"""

from __future__ import annotations

import logging

from foleycache.cache import names
from foleycache.cache.entry import CacheEntry
from foleycache.cache.hit_tracking import track_hit
from foleycache.cache.near_match import alternate_of
from foleycache.core.errors import ModelVersionMismatch
from foleycache.core.job import CacheOutcome
from foleycache.core.lease import Lease
from foleycache.core.ports import InferenceRequest
from foleycache.pipeline.fingerprint_upload import load_job
from foleycache.pipeline.stage_timer import stage
from foleycache.pipeline.state import PipelineState
from foleycache.services import Services

log = logging.getLogger(__name__)


def generate(services: Services, state: PipelineState) -> PipelineState:
    settings = services.settings
    key = state.entry_key()
    job = load_job(services, state.job_id)
    lease = Lease(
        services.leases,
        names.lease_item(key),
        duration_s=settings.lease_s,
        clock=services.clock,
        token=state.lease_token,
    )
    with stage(services.jobs, state.job_id, "inference"), lease:
        result = services.inference.generate(
            InferenceRequest(
                video_uri=f"s3://{state.bucket}/{state.key}",
                prompt=job.prompt,
                output_uri=f"s3://{settings.cache_bucket}/{names.l2_audio(key)}",
                model_version=key.model_version,
                duration_s=state.duration_s,
            )
        )
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
        )
        services.cache.store(entry)
        services.metrics.count("InferenceCall")
        if (near := services.near) is not None:
            near.add(key, alternate_of(state.fingerprint_data))
        track_hit(services, key)
    services.jobs.update(state.job_id, cache=CacheOutcome.MISS)
    return state.model_copy(
        update={
            "cache": CacheOutcome.MISS,
            "audio_key": entry.audio_key,
            "next": "mux",
            "lease_token": "",
        }
    )
