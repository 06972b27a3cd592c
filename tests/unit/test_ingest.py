"""Uploads become jobs: duplicates are no-ops, odd keys and bad prompts are handled."""

from __future__ import annotations

import pytest

from foleycache.core.errors import InvalidPrompt
from foleycache.core.job import JobStatus
from foleycache.pipeline.ingest import ingest_upload, submit_job
from foleycache.services import Services
from tests.fakes import fake_services


class NoInference:
    def generate(self, request: object) -> object:
        raise AssertionError("ingest must never call the model")


@pytest.fixture
def services() -> Services:
    return fake_services(inference=NoInference())


def test_submitted_job_starts_when_its_upload_arrives(services: Services) -> None:
    job = submit_job(services, "glass breaking", "clip.mp4")
    services.uploads.put_bytes(job.key, b"video")
    result = ingest_upload(services, "foleycache-uploads", job.key, "0001")
    assert result.started and result.job_id == job.job_id
    assert services.jobs.get(job.job_id).status is JobStatus.RUNNING  # type: ignore[union-attr]


def test_duplicate_s3_events_start_one_execution(services: Services) -> None:
    key = "uploads/team a/clip (1).mp4"
    services.uploads.put_bytes(key, b"video")
    services.uploads.metadata[key] = {"prompt": "rain"}  # type: ignore[attr-defined]
    first = ingest_upload(services, "foleycache-uploads", key, "00AB")
    again = ingest_upload(services, "foleycache-uploads", key, "00AB")
    assert first.started and not again.started
    assert first.job_id == again.job_id
    assert services.workflow.calls == 1  # type: ignore[attr-defined]


def test_a_new_put_to_the_same_key_is_a_new_job(services: Services) -> None:
    key = "uploads/clip.mp4"
    services.uploads.put_bytes(key, b"video")
    services.uploads.metadata[key] = {"prompt": "rain"}  # type: ignore[attr-defined]
    a = ingest_upload(services, "foleycache-uploads", key, "0001")
    b = ingest_upload(services, "foleycache-uploads", key, "0002")
    assert a.job_id != b.job_id and a.started and b.started


def test_prompt_comes_from_percent_encoded_object_metadata(services: Services) -> None:
    key = "uploads/x.mp4"
    services.uploads.put_bytes(key, b"video")
    services.uploads.metadata[key] = {"prompt": "pluie%20sur%20le%20toit%20%E2%98%94"}  # type: ignore[attr-defined]
    result = ingest_upload(services, "foleycache-uploads", key, "01")
    assert services.jobs.get(result.job_id).prompt == "pluie sur le toit ☔"  # type: ignore[union-attr]


def test_objects_outside_uploads_are_ignored(services: Services) -> None:
    result = ingest_upload(services, "foleycache-uploads", "outputs/job/video.mp4", "01")
    assert not result.started and result.job_id == ""


def test_oversized_prompt_is_refused_before_upload(services: Services) -> None:
    with pytest.raises(InvalidPrompt):
        submit_job(services, "x" * 5000)
    assert services.jobs.jobs == {}  # type: ignore[attr-defined]


def test_upload_filename_is_made_safe(services: Services) -> None:
    job = submit_job(services, "rain", "../../etc/pass wd?.mp4")
    assert (
        job.key.startswith(f"uploads/{job.job_id}/") and ".." not in job.key and " " not in job.key
    )
