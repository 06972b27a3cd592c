"""The API's upload carries the client's SHA-256: validated at submit, signed, and used."""

from __future__ import annotations

import base64
import hashlib

import pytest

from foleycache.cache.repeat_memory import remember_failure
from foleycache.core.errors import InvalidInput, InvalidVideo
from foleycache.core.keys import prompt_md5
from foleycache.pipeline.fingerprint_upload import fingerprint_upload
from foleycache.pipeline.ingest import sha256_b64, submit_job
from foleycache.pipeline.job_queries import upload_link
from foleycache.pipeline.state import PipelineState
from foleycache.services import Services
from tests.fakes import fake_services

DIGEST = hashlib.sha256(b"the video").digest()
B64 = base64.b64encode(DIGEST).decode()
OTHER = base64.b64encode(hashlib.sha256(b"other bytes").digest()).decode()
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# The 43rd digit carries 4 bits of the digest and 2 unused ones: setting one decodes to the
# same bytes, but is not the text S3 writes.
NON_CANONICAL = B64[:42] + _ALPHABET[_ALPHABET.index(B64[42]) | 1] + "="


@pytest.fixture
def services() -> Services:
    return fake_services()


@pytest.mark.parametrize("given", [B64, DIGEST.hex(), DIGEST.hex().upper()])
def test_base64_and_hex_give_the_base64_s3_uses(given: str) -> None:
    assert sha256_b64(given) == B64


def test_the_non_canonical_example_is_the_same_digest() -> None:
    assert NON_CANONICAL != B64 and base64.b64decode(NON_CANONICAL) == DIGEST


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        B64[:-1],  # no padding
        B64.rstrip("=") + "==",
        " " + B64,
        B64 + "\n",
        "-" + B64[1:],  # base64url
        NON_CANONICAL,
        DIGEST.hex()[:-1],
        DIGEST.hex() + "0",
        "g" * 64,
        base64.b64encode(hashlib.md5(b"x").digest()).decode(),  # 16 bytes
        None,
        42,
        DIGEST,
    ],
)
def test_anything_else_is_refused(bad: object) -> None:
    with pytest.raises(InvalidInput):
        sha256_b64(bad)


def test_submit_records_the_checksum_and_the_link_signs_it(services: Services) -> None:
    job = submit_job(services, "rain", "clip.mp4", sha256=DIGEST.hex())
    assert services.jobs.get(job.job_id).details["sha256"] == B64  # type: ignore[union-attr]
    link = upload_link(services, job.key, B64)
    assert link["method"] == "PUT" and link["key"] == job.key
    assert link["headers"]["x-amz-checksum-sha256"] == B64
    assert link["headers"]["x-amz-sdk-checksum-algorithm"] == "SHA256"


def test_a_bad_checksum_is_refused_before_any_job_exists(services: Services) -> None:
    with pytest.raises(InvalidInput, match="SHA-256"):
        submit_job(services, "rain", "clip.mp4", sha256="not-a-digest")
    assert services.jobs.jobs == {}  # type: ignore[attr-defined]


def _uploaded(services: Services, stored: str | None) -> PipelineState:
    job = submit_job(services, "rain", "clip.mp4", sha256=B64)
    services.uploads.put_bytes(job.key, b"not really a video")
    if stored is not None:
        services.uploads.checksums[job.key] = stored  # type: ignore[attr-defined]
    return PipelineState(job_id=job.job_id, bucket=services.uploads.bucket, key=job.key)


def test_the_checksum_is_used_before_anything_is_downloaded(services: Services) -> None:
    state = _uploaded(services, B64)
    remember_failure(services, B64, prompt_md5("rain"), "InvalidVideo", "not a video")
    with pytest.raises(InvalidVideo, match="remembered"):
        fingerprint_upload(services, state)
    assert services.jobs.get(state.job_id).details["sha256"] == B64  # type: ignore[union-attr]


def test_an_object_whose_checksum_is_not_the_declared_one_fails_and_is_not_remembered(
    services: Services,
) -> None:
    state = _uploaded(services, OTHER)
    with pytest.raises(InvalidInput, match="not the one declared"):
        fingerprint_upload(services, state)
    # The failure memory keys on details.sha256: empty, so neither checksum is blamed.
    assert services.jobs.get(state.job_id).details["sha256"] == ""  # type: ignore[union-attr]


def test_a_declared_checksum_s3_did_not_keep_is_not_trusted(services: Services) -> None:
    state = _uploaded(services, None)
    remember_failure(services, B64, prompt_md5("rain"), "InvalidVideo", "not a video")
    with pytest.raises(InvalidVideo, match="not a media file") as caught:  # ffprobe said so
        fingerprint_upload(services, state)
    assert "remembered" not in str(caught.value)
    assert services.jobs.get(state.job_id).details["sha256"] == ""  # type: ignore[union-attr]


def test_a_vanished_upload_is_not_remembered_under_the_declared_checksum(
    services: Services,
) -> None:
    job = submit_job(services, "rain", "clip.mp4", sha256=B64)
    state = PipelineState(job_id=job.job_id, bucket=services.uploads.bucket, key=job.key)
    with pytest.raises(InvalidInput, match="does not exist"):
        fingerprint_upload(services, state)
    assert services.jobs.get(job.job_id).details["sha256"] == ""  # type: ignore[union-attr]
