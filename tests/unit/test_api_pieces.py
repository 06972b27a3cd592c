"""The API's pure parts: principals, ids, listing cursors, the local server's event and
throttle, and where a plain drop's prompt comes from."""

from __future__ import annotations

import pytest

from foleycache.adapters.dynamodb_jobs import DynamoJobStore, InvalidCursor, _encode_cursor
from foleycache.core.job import (
    JobStatus,
    idempotent_job_id,
    is_job_id,
    is_upload_id,
    new_upload_id,
    normalise_principal,
)
from foleycache.local.api_server import PRINCIPAL_HEADER, TokenBucket, build_event
from foleycache.pipeline.ingest import SIDECAR_SUFFIX, drop_prompt, ingest_upload
from foleycache.services import Services
from tests.fakes import fake_services

ALICE = "arn:aws:iam::123456789012:user/alice"


def test_an_assumed_role_is_one_owner_whatever_its_session() -> None:
    a = normalise_principal("arn:aws:sts::123456789012:assumed-role/Pipeline/run-1")
    b = normalise_principal("arn:aws:sts::123456789012:assumed-role/Pipeline/run-2")
    assert a == b == "arn:aws:sts::123456789012:assumed-role/Pipeline"
    assert normalise_principal(ALICE) == ALICE


@pytest.mark.parametrize(
    "text", ["", "alice", "arn:aws:iam::123:user/x", ALICE + " ", ALICE + "\n", "arn:aws:s3:::b"]
)
def test_anything_but_an_iam_arn_is_no_principal(text: str) -> None:
    assert normalise_principal(text) is None


def test_ids_are_checked_whole() -> None:
    assert is_job_id("job-0123456789abcdef0123")
    assert not is_job_id("job-0123456789abcdef0123\n")  # "$" would have let this in
    assert not is_job_id("j" * 65)
    assert is_upload_id(new_upload_id()) and not is_upload_id("up-xyz")


def test_an_idempotency_key_maps_to_one_job_per_owner() -> None:
    one = idempotent_job_id(ALICE, "k1")
    assert one == idempotent_job_id(ALICE, "k1") and is_job_id(one)
    assert one != idempotent_job_id("arn:aws:iam::123456789012:user/bob", "k1")


def test_a_cursor_is_accepted_only_for_its_owner_and_shape() -> None:
    key = {
        "pk": {"S": "JOB#job-0123456789abcdef0123"},
        "sk": {"S": "JOB"},
        "owner_pk": {"S": ALICE},
        "owner_sk": {"S": "0000001700000000.000000#job-0123456789abcdef0123"},
    }
    cursor = _encode_cursor(key)
    assert DynamoJobStore.decode_cursor(ALICE, cursor) == key
    for bad in ("", "!!", "bm90IGpzb24", _encode_cursor({**key, "sk": {"S": "LEASE"}})):
        with pytest.raises(InvalidCursor):
            DynamoJobStore.decode_cursor(ALICE, bad)
    with pytest.raises(InvalidCursor):
        DynamoJobStore.decode_cursor("arn:aws:iam::123456789012:user/bob", cursor)


def test_the_local_server_builds_the_event_api_gateway_sends() -> None:
    event = build_event(
        "GET",
        "/v1/jobs/job%2D1?status=running&limit=5&limit=6",
        [("Accept", "application/json"), (PRINCIPAL_HEADER, ALICE)],
        b"",
        ALICE,
        "127.0.0.1",
    )
    assert event["path"] == "/v1/jobs/job-1" and event["httpMethod"] == "GET"
    assert event["queryStringParameters"] == {"status": "running", "limit": "6"}
    assert event["multiValueQueryStringParameters"]["limit"] == ["5", "6"]
    assert PRINCIPAL_HEADER not in event["headers"]  # only the server reads it
    assert event["requestContext"]["identity"]["userArn"] == ALICE
    assert event["body"] is None and event["isBase64Encoded"] is False
    binary = build_event("POST", "/v1/jobs", [], b"\xff\xfe", ALICE, "127.0.0.1")
    assert binary["isBase64Encoded"] is True


def test_the_token_bucket_allows_a_burst_then_the_rate_per_key() -> None:
    bucket = TokenBucket(rate=10, burst=3)
    assert [bucket.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a", now=0.0) == pytest.approx(0.1)
    assert bucket.take("b", now=0.0) == 0.0  # another caller has its own bucket
    assert bucket.take("a", now=0.1) == 0.0  # one token back after 1/rate


@pytest.fixture
def services() -> Services:
    return fake_services()


def _drop(services: Services, key: str, data: bytes = b"video") -> None:
    services.uploads.put_bytes(key, data)


def test_a_sidecar_gives_a_drop_its_prompt(services: Services) -> None:
    key = "uploads/cam/clip.mp4"
    _drop(services, key + SIDECAR_SUFFIX, "pluie  sur le toit ☔".encode())
    _drop(services, key)
    info = services.uploads.head(key)
    assert info is not None
    assert drop_prompt(services, key, info) == ("pluie sur le toit ☔", "sidecar", "")
    sidecar = ingest_upload(services, "foleycache-uploads", key + SIDECAR_SUFFIX, "01")
    assert not sidecar.started and sidecar.job_id == ""  # the sidecar itself is no job


def test_metadata_comes_before_a_sidecar(services: Services) -> None:
    key = "uploads/both.mp4"
    _drop(services, key + SIDECAR_SUFFIX, b"from the sidecar")
    _drop(services, key)
    services.uploads.metadata[key] = {"prompt": "from%20metadata"}  # type: ignore[attr-defined]
    info = services.uploads.head(key)
    assert info is not None
    assert drop_prompt(services, key, info)[:2] == ("from metadata", "metadata")


@pytest.mark.parametrize(
    ("sidecar", "why"),
    [
        (None, "no prompt for this upload"),
        (b"\xff\xfe not utf-8", "is not UTF-8"),
        (b"x" * 20_000, "the limit is"),
        (b"bell\x07", "control characters"),
        (b"   ", "empty"),
    ],
)
def test_a_drop_without_a_usable_prompt_fails_with_a_record_that_says_why(
    services: Services, sidecar: bytes | None, why: str
) -> None:
    key = "uploads/quiet.mp4"
    if sidecar is not None:
        _drop(services, key + SIDECAR_SUFFIX, sidecar)
    _drop(services, key)
    result = ingest_upload(services, "foleycache-uploads", key, "07")
    assert not result.started and why in result.reason
    job = services.jobs.get(result.job_id)
    assert job is not None and job.status is JobStatus.FAILED and job.stage == "ingest"
    assert job.error["code"] == "InvalidPrompt" and why in job.error["message"]
    assert services.workflow.calls == 0  # type: ignore[attr-defined]
    again = ingest_upload(services, "foleycache-uploads", key, "07")  # a duplicate event
    assert again.job_id == result.job_id and not again.started


def test_the_default_prompt_serves_a_drop_with_none(services: Services) -> None:
    services.settings = services.settings.model_copy(update={"default_prompt": "room tone"})
    key = "uploads/plain.mp4"
    _drop(services, key)
    result = ingest_upload(services, "foleycache-uploads", key, "08")
    job = services.jobs.get(result.job_id)
    assert result.started and job is not None
    assert job.prompt == "room tone" and job.prompt_source == "default"


def test_an_api_upload_is_left_to_post_v1_jobs(services: Services) -> None:
    key = f"uploads/{new_upload_id()}/video.mp4"
    _drop(services, key)
    result = ingest_upload(services, "foleycache-uploads", key, "09")
    assert not result.started and result.job_id == "" and "API upload" in result.reason
