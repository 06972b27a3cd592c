"""One GPU run per key: started once even when the start is retried, finished by the
endpoint's notification, and never stored under a model version it was not made by."""

from __future__ import annotations

import dataclasses

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from foleycache.adapters.sagemaker_inference import SageMakerFoley
from foleycache.cache import names
from foleycache.core.errors import EndpointUnavailable, InferenceFailed
from foleycache.core.job import JobRecord, JobStatus
from foleycache.core.lease import Lease
from foleycache.core.ports import InferenceRequest
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
    now = services.clock.now()
    assert resumed["waiter-a"] == resumed["waiter-b"] == {"next": "lookup", "lease_resumed_at": now}
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
    assert dict(services.workflow.resumed)["waiter"]["next"] == "lease"  # type: ignore[attr-defined]


def test_a_repeated_notification_is_answered_once() -> None:
    services, endpoint = setup()
    state = won(services)
    start_inference(services, state, "winner")
    notice = endpoint.notification(inference_id(state.entry_key()))
    finish_inference(services, notice)
    assert "nobody waits" in finish_inference(services, notice).line
    assert len(services.workflow.resumed) == 1  # type: ignore[attr-defined]


class RefusingEndpoint(InstantEndpoint):
    """Answers the first start with a throttle, then behaves."""

    def __init__(self, blobs: object, model_version: str) -> None:
        super().__init__(blobs, model_version)
        self.refusals = 1

    def start(self, request: object) -> None:
        if self.refusals:
            self.refusals -= 1
            raise EndpointUnavailable("endpoint foleycache-foley: ThrottlingException")
        super().start(request)


def test_a_refused_start_is_invoked_again_when_the_state_machine_retries() -> None:
    services = fake_services()
    endpoint = RefusingEndpoint(services.cache_blobs, MODEL)
    services = dataclasses.replace(services, inference=endpoint)
    state = won(services)
    with pytest.raises(EndpointUnavailable):
        start_inference(services, state, "attempt-1")
    start_inference(services, state, "attempt-2")
    assert len(endpoint.started) == 1  # the retry ran it: nothing was queued the first time


def test_a_lost_answer_is_not_invoked_again() -> None:
    runtime = _Runtime(ReadTimeoutError(endpoint_url="https://runtime.sagemaker"))
    s3 = _S3()
    foley = SageMakerFoley(runtime, s3, "foleycache-foley", input_bucket="cache")
    request = InferenceRequest("s3://u/v.mp4", "rain", "s3://c/a.wav", MODEL, 4.0, "run-1")
    foley.start(request)  # no error: the run may be queued, the notification settles it
    assert runtime.calls == 1


def test_an_endpoint_that_cannot_be_reached_is_retryable_and_named() -> None:
    runtime = _Runtime(EndpointConnectionError(endpoint_url="https://runtime.sagemaker"))
    foley = SageMakerFoley(runtime, _S3(), "foleycache-foley", input_bucket="cache")
    request = InferenceRequest("s3://u/v.mp4", "rain", "s3://c/a.wav", MODEL, 4.0, "run-1")
    with pytest.raises(EndpointUnavailable, match="foleycache-foley") as raised:
        foley.start(request)
    assert raised.value.retryable


class _Runtime:
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def invoke_endpoint_async(self, **_: object) -> None:
        self.calls += 1
        raise self.error


class _S3:
    def put_object(self, **_: object) -> None:
        return None


def test_a_failed_holder_releases_its_lease_and_resumes_its_waiters() -> None:
    from foleycache.pipeline.finish import fail
    from foleycache.pipeline.state import FailedState

    services, _ = setup()
    state = won(services)
    lease = Lease(
        services.leases, names.lease_item(state.entry_key()), duration_s=60, clock=services.clock
    )
    assert lease.wait("waiter")
    failure = {"Error": "States.Timeout", "Cause": "no notification"}
    fail(
        services, FailedState.model_validate({**state.model_dump(mode="json"), "failure": failure})
    )
    assert dict(services.workflow.resumed)["waiter"]["next"] == "lease"  # type: ignore[attr-defined]
    assert lease.try_acquire() is None  # free at once, not after the lease runs out


def test_another_jobs_run_in_flight_is_not_taken_over() -> None:
    services, endpoint = setup()
    first = won(services, "job-1")
    start_inference(services, first, "first")
    second = first.model_copy(update={"job_id": "job-2"})
    services.jobs.create(JobRecord("job-2", JobStatus.RUNNING, "rain", 0.0, 0.0))
    with pytest.raises(InferenceFailed, match="another job's run"):
        start_inference(services, second, "second")
    finish_inference(services, endpoint.notification(inference_id(first.entry_key())))
    assert [t for t, _ in services.workflow.resumed] == ["first"]  # type: ignore[attr-defined]
