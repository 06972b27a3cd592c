"""What a job's path through the pipeline puts in the metrics: its tier, its two
timings from creation, its lease wait, and why it failed."""

from __future__ import annotations

import dataclasses

import pytest

from foleycache.core.job import CacheOutcome, JobRecord, JobStatus
from foleycache.pipeline.finish import fail, succeed
from foleycache.pipeline.generate import finish_inference, inference_id, start_inference
from foleycache.pipeline.resolve import lease_or_wait, lookup
from foleycache.pipeline.state import FailedState, PipelineState
from foleycache.services import Services
from tests.fakes import InstantEndpoint, fake_services

MODEL = "foley-ref-1"


def job(services: Services, job_id: str) -> PipelineState:
    services.jobs.create(
        JobRecord(job_id, JobStatus.RUNNING, "rain", services.clock.now(), services.clock.now())
    )
    return PipelineState(
        job_id=job_id,
        bucket="foleycache-uploads",
        key=f"uploads/{job_id}.mp4",
        fingerprint="0123456789abcdef",
        fingerprint_version=3,
        prompt_md5="23678db5efde9ab46bce8c23a6d91b50",
        model_version=MODEL,
        duration_s=4.0,
    )


def merged(state: PipelineState, resumed: dict[str, object]) -> PipelineState:
    """What Step Functions hands the next step: the task's input plus ``$.resumed``."""
    return PipelineState.model_validate({**state.model_dump(), "resumed": resumed})


def test_a_miss_then_a_queued_hit_each_report_tier_timings_and_the_wait() -> None:
    services = fake_services()
    endpoint = InstantEndpoint(services.cache_blobs, MODEL)
    services = dataclasses.replace(services, inference=endpoint)
    clock, metrics = services.clock, services.metrics
    first, second = job(services, "job-first"), job(services, "job-second")

    first = lookup(services, first)  # a miss: on to the lease
    lease_or_wait(services, first, "token-first")
    first = merged(first, dict(services.workflow.resumed)["token-first"])  # type: ignore[attr-defined]
    clock.advance(1.0)  # type: ignore[attr-defined]
    second = lookup(services, second)
    lease_or_wait(services, second, "token-second")  # queued behind the first
    start_inference(services, first, "token-infer")
    clock.advance(5.0)  # type: ignore[attr-defined]
    finish_inference(services, endpoint.notification(inference_id(first.entry_key())))
    resumed = dict(services.workflow.resumed)  # type: ignore[attr-defined]
    first = merged(first, resumed["token-infer"])
    second = lookup(services, merged(second, resumed["token-second"]))
    assert second.cache == CacheOutcome.L1
    clock.advance(2.0)  # type: ignore[attr-defined]
    succeed(services, first)
    succeed(services, second)

    values = metrics.values  # type: ignore[attr-defined]
    assert values("JobMiss") == [1.0] and values("JobHit", Tier="l1") == [1.0]
    assert values("LeaseWait") == [1.0] and values("LeaseWaitSeconds") == [5.0]
    assert values("TimeToResult", Tier="miss") == [8.0]
    assert values("TimeToFirstSound", Tier="miss") == [6.0]
    assert values("TimeToResult", Tier="l1") == [8.0]
    assert values("TimeToFirstSound", Tier="l1") == [6.0]
    assert values("InferenceSecondsAsked") == [4.0]
    assert values("InferenceSecondsSaved", Tier="l1") == [4.0]
    assert values("JobFinished") == [1.0, 1.0]


def test_a_lease_whose_holder_ran_out_of_time_is_taken_over_and_counted() -> None:
    services = fake_services()
    stale = lookup(services, job(services, "job-stale"))
    lease_or_wait(services, stale, "token-stale")
    services.clock.advance(services.settings.lease_s + 1)  # type: ignore[attr-defined]
    lease_or_wait(services, lookup(services, job(services, "job-next")), "token-next")
    assert services.metrics.values("LeaseTakeover") == [1.0]  # type: ignore[attr-defined]
    assert dict(services.workflow.resumed)["token-next"]["next"] == "infer"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("state", "stage"),
    [
        ({"next": ""}, "fingerprint"),
        ({"next": "lookup"}, "lookup"),
        ({"next": "lease"}, "lease"),
        ({"next": "lease", "resumed": {"next": "infer"}}, "inference"),
        ({"next": "mux"}, "mux"),
        ({"next": "mux", "outputs": {"video": "outputs/j/video.mp4"}}, "package"),
    ],
)
def test_a_failure_is_counted_against_the_stage_that_failed(
    state: dict[str, object], stage: str
) -> None:
    services = fake_services()
    services.jobs.create(JobRecord("job-f", JobStatus.RUNNING, "rain", 0.0, 0.0))
    failed = FailedState.model_validate(
        {"job_id": "job-f", "failure": {"Error": "MediaError", "Cause": "boom"}, **state}
    )
    fail(services, failed)
    assert services.metrics.values("JobFailed") == [1.0]  # type: ignore[attr-defined]
    assert services.metrics.values("JobFailed", Stage=stage) == [1.0]  # type: ignore[attr-defined]


def test_bad_input_is_a_rejection_by_class_not_a_stage_failure() -> None:
    services = fake_services()
    services.jobs.create(JobRecord("job-r", JobStatus.RUNNING, "rain", 0.0, 0.0))
    failed = FailedState.model_validate(
        {"job_id": "job-r", "failure": {"Error": "VideoTooLarge", "Cause": "{}"}}
    )
    fail(services, failed)
    metrics = services.metrics
    assert metrics.values("Rejected", Class="VideoTooLarge") == [1.0]  # type: ignore[attr-defined]
    assert metrics.values("JobFailed") == []  # type: ignore[attr-defined]


def test_a_partial_job_counts_as_a_partial_hit_that_saved_only_the_reused_seconds() -> None:
    services = fake_services()
    plan = {"duration_s": 4.0, "reused": [], "generate": [[0.0, 1.5]]}
    state = job(services, "job-partial").model_copy(
        update={"cache": CacheOutcome.PARTIAL, "span_plan": plan, "sound_at": 1.0}
    )
    succeed(services, state)
    metrics = services.metrics
    assert metrics.values("JobHit", Tier="partial") == [1.0]  # type: ignore[attr-defined]
    saved = metrics.values("InferenceSecondsSaved", Tier="partial")  # type: ignore[attr-defined]
    assert saved == [pytest.approx(2.5)]
    assert metrics.values("JobMiss") == []  # type: ignore[attr-defined]
