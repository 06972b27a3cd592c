"""What the API answers about a job: its record, and links to its results."""

from __future__ import annotations

from typing import Any

from foleycache.core.errors import InvalidInput, NotFound
from foleycache.core.job import JobStatus
from foleycache.services import Services

LINK_TTL_S = 3600


def describe_job(services: Services, job_id: str) -> dict[str, Any]:
    job = services.jobs.get(job_id)
    if job is None:
        raise NotFound(f"job {job_id} does not exist")
    return job.to_public()


def job_results(services: Services, job_id: str) -> dict[str, Any]:
    """Presigned GET links for every output; refused until the job has succeeded."""
    job = services.jobs.get(job_id)
    if job is None:
        raise NotFound(f"job {job_id} does not exist")
    if job.status is not JobStatus.SUCCEEDED:
        raise InvalidInput(f"job {job_id} is {job.status.value}; results exist once it succeeds")
    links = {
        name: services.uploads.presign(key, "GET", LINK_TTL_S) for name, key in job.outputs.items()
    }
    return {"job_id": job_id, "cache": job.cache, "expires_in_s": LINK_TTL_S, "outputs": links}


def upload_link(services: Services, key: str, sha256_b64: str) -> dict[str, Any]:
    """The presigned PUT for a job's upload, signed with the file's SHA-256.

    The client must send ``headers`` as given: they are part of the signature,
    and S3 refuses bytes whose SHA-256 differs, then stores the checksum, which
    lets a repeat of the same bytes be answered before decoding.
    """
    link = services.uploads.presign_upload(key, LINK_TTL_S, sha256_b64)
    return {
        "method": "PUT",
        "url": link.url,
        "key": key,
        "expires_in_s": LINK_TTL_S,
        "headers": dict(link.headers),
    }
