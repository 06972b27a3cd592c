"""The use cases index and find a stored video by both of its codes (real fingerprints)."""

from __future__ import annotations

import dataclasses

import numpy as np

from foleycache.core.job import JobRecord, JobStatus
from foleycache.core.ports import InferenceRequest, InferenceResult
from foleycache.fingerprint import Fingerprint
from foleycache.fingerprint.hashing import alternate_code, simhash
from foleycache.pipeline.generate import generate
from foleycache.pipeline.resolve import lease_or_wait, lookup
from foleycache.pipeline.state import PipelineState
from foleycache.services import Services
from tests.fakes import MemoryNearIndex, fake_services

MODEL = "foley-ref-1"


class WritingModel:
    """Writes a WAV-shaped blob where the request says, as the endpoint does."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.calls = 0

    def generate(self, request: InferenceRequest) -> InferenceResult:
        self.calls += 1
        key = request.output_uri.split("/", 3)[3]
        self.services.cache_blobs.put_bytes(key, b"RIFF....WAVE")
        return InferenceResult(request.output_uri, MODEL, 48000, 4.0, "test", 1.0)


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
    model = WritingModel(services)
    services = dataclasses.replace(services, inference=model)
    original = video()

    first = lease_or_wait(services, lookup(services, state_for(services, "job-1", original)))
    assert first.next == "infer"
    generate(services, first)
    member = f"{original.hex}:{alternate_code(original.vector):016x}"
    assert member in set().union(*durable.buckets.values())

    # Same pictures (vector, signatures), but a code 14 bits away: only the second code finds it.
    far = dataclasses.replace(original, code=original.code ^ ((1 << 14) - 1))
    served = lookup(services, state_for(services, "job-2", far))
    assert served.cache == "near" and model.calls == 1
