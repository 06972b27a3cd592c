"""The job record: one per upload, the single place a user reads progress and errors.

Every stage writes its status and timing to this record (as AWS's
Video-on-Demand solution does), so a failed job says which stage failed and
why, and a duplicate S3 event, which maps to the same job id, changes nothing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

JOB_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{7,63}$")


class JobStatus(StrEnum):
    PENDING = "pending"  # submitted through the API, waiting for its upload
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class CacheOutcome(StrEnum):
    MISS = "miss"
    EXACT = "exact"  # same bytes (S3 checksum), answered before decoding
    L1 = "l1"
    L2 = "l2"
    NEAR = "near"  # a verified near-duplicate's result


def new_job_id() -> str:
    return "job-" + secrets.token_hex(10)


def job_id_for_upload(bucket: str, key: str, sequencer: str) -> str:
    """A job id that every delivery of one S3 event maps to.

    S3 delivers events at least once; the ``sequencer`` is the same for
    duplicates of one PUT and grows for a new PUT to the same key. The id is
    also the Step Functions execution name, so a duplicate start is a no-op.
    """
    digest = hashlib.sha256(f"{bucket}\0{key}\0{sequencer}".encode()).hexdigest()
    return "s3-" + digest[:28]


def is_job_id(text: str) -> bool:
    return bool(JOB_ID_RE.match(text))


@dataclass(slots=True)
class JobRecord:
    job_id: str
    status: JobStatus
    prompt: str
    created_at: float
    updated_at: float
    bucket: str = ""
    key: str = ""
    stage: str = ""
    cache: str = ""
    fingerprint: str = ""
    cache_key: str = ""
    model_version: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    error: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    media: dict[str, Any] = field(default_factory=dict)

    def to_public(self) -> dict[str, Any]:
        """The record as users see it (API responses, ``foleycache run --json``)."""
        body: dict[str, Any] = {
            "job_id": self.job_id,
            "status": self.status.value,
            "stage": self.stage,
            "cache": self.cache,
            "fingerprint": self.fingerprint,
            "cache_key": self.cache_key,
            "model_version": self.model_version,
            "outputs": dict(self.outputs),
            "timings_ms": dict(self.timings_ms),
            "source": {"bucket": self.bucket, "key": self.key},
            "details": {**self.details, **self.media},
        }
        if self.error:
            body["error"] = self.error.get("message", "")
            body["error_code"] = self.error.get("code", "")
        return body
