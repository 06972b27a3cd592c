"""One GPU run per key: started once even when the start is retried, finished by the
endpoint's notification, and never stored under a model version it was not made by."""

from __future__ import annotations

import dataclasses

from foleycache.cache import names
from foleycache.core.job import JobRecord, JobStatus
from foleycache.core.lease import Lease
from foleycache.pipeline.generate import finish_inference, inference_id, start_inference
from foleycache.pipeline.state import PipelineState
from foleycache.services import Services
from tests.fakes import InstantEndpoint, fake_services

MODEL = "foley-ref-1"


def won(services: Services, job_id: str = "job-1") -> PipelineState:
    services.jobs.create(JobRecord(job_id, JobStatus.RUNNING, "rain", 0.0, 0.0))
    state = PipelineState(
        job_id=job_id,
        bucket="foleycache-uploads",
        key=f"uploads/{job_id}.mp4",
        fingerprint="0123456789abcdef",
        fingerprint_version=3,
        prompt_md5="23678db5efde9ab46bce8c23a6d91b50",
        model_version=MODEL,
        duration_s=4.0,
    )
    lease = Lease(
        services.leases, names.lease_item(state.entry_key()), duration_s=60, clock=services.clock
    )
    assert lease.try_acquire() is None
    return state.model_copy(update={"next": "infer", "lease_token": lease.token})


def setup(model_version: str = MODEL) -> tuple[Services, InstantEndpoint]:
    services = fake_services()
    endpoint = InstantEndpoint(services.cache_blobs, model_version)
    return dataclasses.replace(services, inference=endpoint), endpoint


def test_a_retried_start_moves_the_token_and_does_not_run_the_model_again() -> None:
    services, endpoint = setup()
    state = won(services)
    start_inference(services, state, "attempt-1")
    start_inference(services, state, "attempt-2")  # e.g. after a read timeout
    assert len(endpoint.started) == 1
    finish_inference(services, endpoint.notification(inference_id(state.entry_key())))
    token, resumed = services.workflow.resumed[-1]  # type: ignore[attr-defined]
    assert token == "attempt-2" and resumed["next"] == "mux" and resumed["cache"] == "miss"
    assert services.cache.lookup(state.entry_key()) is not None


def test_waiters_are_resumed_to_look_up_after_a_success() -> None:
    services, endpoint = setup()
    state = won(services)
    lease = Lease(
        services.leases, names.lease_item(state.entry_key()), duration_s=60, clock=services.clock
    )
    assert lease.wait("waiter-a") and lease.wait("waiter-b")
    start_inference(services, state, "winner")
    finish_inference(services, endpoint.notification(inference_id(state.entry_key())))
    resumed = dict(services.workflow.resumed)  # type: ignore[attr-defined]
    assert resumed["waiter-a"] == resumed["waiter-b"] == {"next": "lookup"}
    assert resumed["winner"]["next"] == "mux"


def test_a_result_of_another_model_version_is_refused_and_nothing_is_stored() -> None:
    services, endpoint = setup(model_version="foley-other-9")
    state = won(services)
    lease = Lease(
        services.leases, names.lease_item(state.entry_key()), duration_s=60, clock=services.clock
    )
    assert lease.wait("waiter")
    start_inference(services, state, "winner")
    finish_inference(services, endpoint.notification(inference_id(state.entry_key())))
    (failed,) = services.workflow.failed  # type: ignore[attr-defined]
    assert failed[0] == "winner" and failed[1] == "ModelVersionMismatch"
    assert services.cache.lookup(state.entry_key()) is None
    # The lease is free again and its waiter goes back to contend for it.
    assert dict(services.workflow.resumed)["waiter"] == {"next": "lease"}  # type: ignore[attr-defined]


def test_a_repeated_notification_is_answered_once() -> None:
    services, endpoint = setup()
    state = won(services)
    start_inference(services, state, "winner")
    notice = endpoint.notification(inference_id(state.entry_key()))
    finish_inference(services, notice)
    assert "nobody waits" in finish_inference(services, notice)
    assert len(services.workflow.resumed) == 1  # type: ignore[attr-defined]
