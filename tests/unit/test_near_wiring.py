"""The use cases index and find a stored video by both of its codes (real fingerprints)."""

from __future__ import annotations

import dataclasses

import numpy as np

from foleycache.core.job import JobRecord, JobStatus
from foleycache.fingerprint import Fingerprint
from foleycache.fingerprint.hashing import alternate_code, simhash
from foleycache.pipeline.generate import finish_inference, inference_id, start_inference
from foleycache.pipeline.resolve import lease_or_wait, lookup
from foleycache.pipeline.state import PipelineState
from foleycache.services import Services
from tests.fakes import InstantEndpoint, MemoryNearIndex, fake_services

MODEL = "foley-ref-1"


def video() -> Fingerprint:
    rng = np.random.default_rng(11)
    vector = rng.standard_normal(512).astype(np.float32)
    vector /= np.linalg.norm(vector)
    signatures = rng.integers(0, 2**63, size=8, dtype=np.uint64)
    return Fingerprint(int(simhash(vector)[0]), vector, signatures, 4.0, 8)


def state_for(services: Services, job_id: str, fp: Fingerprint) -> PipelineState:
    services.jobs.create(JobRecord(job_id, JobStatus.RUNNING, "rain", 0.0, 0.0))
    return PipelineState(
        job_id=job_id,
        bucket="foleycache-uploads",
        key=f"uploads/{job_id}.mp4",
        fingerprint=fp.hex,
        fingerprint_version=fp.version,
        prompt_md5="23678db5efde9ab46bce8c23a6d91b50",
        model_version=MODEL,
        fingerprint_data=fp.to_dict(),
        duration_s=fp.duration_s,
    )


def test_a_copy_beyond_radius_11_is_found_by_the_alternate_code() -> None:
    hot, durable = MemoryNearIndex(), MemoryNearIndex()
    services = fake_services(hot_index=hot, durable_index=durable)
    model = InstantEndpoint(services.cache_blobs, MODEL)
    services = dataclasses.replace(services, inference=model)
    original = video()

    looked = lookup(services, state_for(services, "job-1", original))
    lease_or_wait(services, looked, "lease-token")
    workflow = services.workflow
    first = PipelineState.model_validate(
        {**looked.model_dump(), "resumed": workflow.resumed[-1][1]}
    )
    assert first.next == "infer"
    start_inference(services, first, "infer-token")
    finish_inference(services, model.notification(inference_id(first.entry_key())))
    assert workflow.resumed[-1][0] == "infer-token"
    member = f"{original.hex}:{alternate_code(original.vector):016x}"
    assert member in set().union(*durable.buckets.values())

    # Same pictures (vector, signatures), but a code 14 bits away: only the second code finds it.
    far = dataclasses.replace(original, code=original.code ^ ((1 << 14) - 1))
    served = lookup(services, state_for(services, "job-2", far))
    assert served.cache == "near" and len(model.started) == 1
