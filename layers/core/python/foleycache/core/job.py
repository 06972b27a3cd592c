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
#: An upload made through the API (``POST /v1/uploads``): ``up-`` and 24 hex digits.
UPLOAD_ID_RE = re.compile(r"^up-[0-9a-f]{24}$")
#: The S3 object metadata (``x-amz-meta-`` + this) naming the principal an API upload
#: belongs to; the presigned PUT signs it, so only the API can set it.
UPLOAD_OWNER_METADATA = "foleycache-owner"
#: What an IAM principal's ARN may hold here (ASCII, no spaces or control characters).
_PRINCIPAL_RE = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::[0-9]{12}:[\x21-\x7e]{1,400}$")
_ASSUMED_ROLE_RE = re.compile(r"^(arn:aws[a-z-]*:sts::[0-9]{12}:assumed-role/[^/]+)/[^/]+$")


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
    PARTIAL = "partial"  # verified shared spans reused, only the rest generated


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
    return bool(JOB_ID_RE.fullmatch(text))  # fullmatch: "$" would let a final "\n" in


def idempotent_job_id(owner: str, idempotency_key: str) -> str:
    """The job id every submission with this client key maps to, per owner.

    A retried ``POST /v1/jobs`` with the same ``Idempotency-Key`` addresses the
    same job record, so the conditional create is the guard, as for S3 events.
    """
    digest = hashlib.sha256(f"{owner}\0{idempotency_key}".encode()).hexdigest()
    return "job-" + digest[:20]


def new_upload_id() -> str:
    return "up-" + secrets.token_hex(12)


def is_upload_id(text: str) -> bool:
    return bool(UPLOAD_ID_RE.fullmatch(text))


def normalise_principal(arn: str) -> str | None:
    """The owner a caller's IAM identity stands for, or None if it is not an IAM ARN.

    An assumed role's session name is dropped (``.../assumed-role/Role/session`` ->
    ``.../assumed-role/Role``): a pipeline's role is one caller whatever it names its
    sessions. Users and roles are kept as they are.
    """
    if not _PRINCIPAL_RE.fullmatch(arn):
        return None
    session = _ASSUMED_ROLE_RE.fullmatch(arn)
    return session.group(1) if session else arn


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
    #: The IAM principal that submitted it through the API ("" for plain S3 drops):
    #: the API shows a job to its owner only.
    owner: str = ""
    #: Digest of the API submission (upload, prompt, options): a repeated
    #: ``Idempotency-Key`` must come with the same request. Kept apart from ``details``,
    #: which the pipeline's stages rewrite.
    request_digest: str = ""
    #: Where a plain drop's prompt came from: metadata, sidecar or default ("" otherwise).
    prompt_source: str = ""

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
