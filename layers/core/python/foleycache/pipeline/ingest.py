"""Turning an upload into a job: the S3 trigger's and the API's shared entry.

Three ways in, one job model:
- ``POST /v1/uploads`` then ``POST /v1/jobs`` (:mod:`.job_queries`): the upload lands
  at ``uploads/up-{24 hex}/video.{ext}`` first, and the API starts its job once asked
  to. Its S3 event is therefore ignored here (by key: moto delivers the event before it
  stores the object's metadata, so the key is all this handler can rely on).
- ``POST /jobs`` (deprecated, and ``foleycache run``): ``submit_job`` records the prompt
  and the file's SHA-256, and returns the key to upload to (``uploads/{job_id}/{name}``);
  the presigned PUT is signed with that checksum, so S3 accepts only those bytes and
  keeps the checksum, and a repeat of them is answered ``exact`` before decoding. The
  upload's S3 event then starts the job.
- A plain drop into ``uploads/``: see :func:`drop_prompt` for where its prompt comes
  from. A drop with none fails at once, with a job record that says so.

Duplicate S3 events map to the same job id. The job record is the guard
(only a pending job starts), and the execution name is the job id, so even
two racing duplicates give one execution: Step Functions treats a repeated
StartExecution with the same name and input as the same execution.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from foleycache.cache import names
from foleycache.core import metrics as M
from foleycache.core.errors import FoleyError, InvalidInput, InvalidPrompt
from foleycache.core.job import (
    JobRecord,
    JobStatus,
    is_job_id,
    is_upload_id,
    job_id_for_upload,
    new_job_id,
)
from foleycache.core.keys import validate_prompt
from foleycache.core.ports import ObjectInfo
from foleycache.pipeline.job_outcome import record_failure
from foleycache.services import Services

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
#: A plain drop's prompt may sit beside it: ``{key}.prompt.txt``, UTF-8 text, PUT first.
SIDECAR_SUFFIX = ".prompt.txt"
MAX_SIDECAR_BYTES = 16 * 1024
_SHA256_HEX = re.compile(r"[0-9A-Fa-f]{64}")
_SHA256_B64 = re.compile(r"[A-Za-z0-9+/]{43}=")


@dataclass(frozen=True, slots=True)
class IngestResult:
    job_id: str
    started: bool
    reason: str = ""


def upload_key_for(services: Services, job_id: str, filename: str) -> str:
    name = _SAFE_NAME.sub("_", filename.rsplit("/", 1)[-1]).strip("._") or "video"
    return names.upload_key(services.settings.uploads_prefix, job_id, name)


def sha256_b64(value: object) -> str:
    """A file's SHA-256 as S3 writes it (base64 of the 32 bytes), from base64 or hex.

    Strict: exactly 64 hex digits, or the canonical 44-character base64 of 32 bytes.
    """
    if not isinstance(value, str):
        raise InvalidInput("sha256 must be a string: the file's SHA-256, base64 or hex")
    if _SHA256_HEX.fullmatch(value):
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    # 43 base64 digits and "=" always decode to 32 bytes; canonical means the unused low
    # bits of the last digit are zero, so the text round-trips.
    if _SHA256_B64.fullmatch(value):
        digest = base64.b64decode(value, validate=True)
        if base64.b64encode(digest).decode("ascii") == value:
            return value
    raise InvalidInput(
        "sha256 must be the file's SHA-256 digest: 44 characters of base64 "
        "(as in S3's x-amz-checksum-sha256) or 64 hex digits"
    )


def api_prompt(prompt: object, max_chars: int) -> str:
    """A prompt from the API: as :func:`validate_prompt` checks it, and storable (a JSON
    body can carry lone surrogates, which no store or digest can encode)."""
    text = validate_prompt(prompt, max_chars)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidPrompt("the prompt is not valid Unicode text (a lone surrogate)") from exc
    return text


def submit_job(
    services: Services,
    prompt: object,
    filename: str = "video.mp4",
    sha256: object = None,
    owner: str = "",
) -> JobRecord:
    """Record a job waiting for its upload; rejects a bad prompt or checksum before any upload.

    ``sha256`` (base64 or hex) is the client's SHA-256 of the file it will upload; it
    is kept, base64, in ``details["sha256"]``. The API requires it; the local CLI,
    which uploads with the SDK's own checksum, may leave it out. ``owner`` is the
    submitting principal (the API's caller), who alone may read the job back.
    """
    text = api_prompt(prompt, services.settings.max_prompt_chars)
    details = {} if sha256 is None else {"sha256": sha256_b64(sha256)}
    job_id = new_job_id()
    key = upload_key_for(services, job_id, filename)
    job = pending_job(services, job_id, text, key, "awaiting-upload", details, owner=owner)
    services.jobs.create(job)
    return job


def pending_job(
    services: Services,
    job_id: str,
    prompt: str,
    key: str,
    stage: str,
    details: dict[str, Any],
    **fields: Any,
) -> JobRecord:
    """A job not started yet, on an upload in this deployment's uploads bucket."""
    now = services.clock.now()
    return JobRecord(
        job_id=job_id,
        status=JobStatus.PENDING,
        prompt=prompt,
        created_at=now,
        updated_at=now,
        bucket=services.settings.uploads_bucket,
        key=key,
        stage=stage,
        model_version=services.settings.model_version,
        details=details,
        **fields,
    )


def is_api_upload_key(services: Services, key: str) -> bool:
    """``uploads/up-{24 hex}/...``: an upload made through ``POST /v1/uploads``."""
    prefix = services.settings.uploads_prefix
    first = key[len(prefix) :].split("/", 1)[0] if key.startswith(prefix) else ""
    return is_upload_id(first)


def drop_prompt(services: Services, key: str, info: ObjectInfo) -> tuple[str, str, str]:
    """A plain drop's prompt: ``(prompt, where it came from, why there is none)``.

    In order: the object's ``prompt`` metadata (percent-encoded UTF-8, as S3 metadata
    is ASCII); a sidecar object ``{key}.prompt.txt`` (UTF-8 text), uploaded *before*
    the video; the configured ``DEFAULT_PROMPT``. With none of them, or with an invalid
    one, the third element says why, and the job fails with that sentence.

    Why the sidecar, and no retry of HeadObject: on AWS an object's metadata is stored
    with it, so it is there when the event arrives and a retry would only add latency;
    moto (the local stack) invokes the function *inside* the PUT, before it stores the
    metadata, so a retry there waits on itself and never sees it. A sidecar written
    first is there in both, and works for clients that cannot set metadata.
    """
    sources: list[tuple[str, str]] = []
    meta = info.metadata.get("prompt", "")
    if meta:
        sources.append(("metadata", unquote(meta, errors="replace")))
    else:
        sidecar = services.uploads.head(key + SIDECAR_SUFFIX)
        if sidecar is not None:
            if sidecar.size > MAX_SIDECAR_BYTES:
                return (
                    "",
                    "sidecar",
                    (
                        f"the prompt sidecar {key}{SIDECAR_SUFFIX} has {sidecar.size} bytes; "
                        f"the limit is {MAX_SIDECAR_BYTES}"
                    ),
                )
            body = services.uploads.get_bytes(key + SIDECAR_SUFFIX) or b""
            try:
                sources.append(("sidecar", body.decode("utf-8")))
            except UnicodeDecodeError:
                return "", "sidecar", f"the prompt sidecar {key}{SIDECAR_SUFFIX} is not UTF-8"
    if not sources and services.settings.default_prompt:
        sources.append(("default", services.settings.default_prompt))
    if not sources:
        return (
            "",
            "",
            (
                "no prompt for this upload: set the object's 'prompt' metadata, upload a "
                f"sidecar {key}{SIDECAR_SUFFIX} before the video, or configure DEFAULT_PROMPT"
            ),
        )
    source, text = sources[0]
    try:
        return validate_prompt(text, services.settings.max_prompt_chars), source, ""
    except FoleyError as exc:
        return "", source, f"the prompt from the {source} is not usable: {exc}"


def _submitted_job(services: Services, key: str) -> JobRecord | None:
    prefix = services.settings.uploads_prefix
    parts = key[len(prefix) :].split("/", 1)
    if len(parts) != 2 or not is_job_id(parts[0]):
        return None
    job = services.jobs.get(parts[0])
    return job if job is not None and job.key == key else None


def ingest_upload(services: Services, bucket: str, key: str, sequencer: str) -> IngestResult:
    """Start the pipeline for one uploaded object (``key`` already URL-decoded)."""
    if not key.startswith(services.settings.uploads_prefix) or key.endswith("/"):
        return IngestResult("", False, f"ignored: {key!r} is not an upload")
    if key.endswith(SIDECAR_SUFFIX):
        return IngestResult("", False, f"ignored: {key!r} is a prompt sidecar")
    if is_api_upload_key(services, key):
        return IngestResult("", False, f"ignored: {key!r} is an API upload (POST /v1/jobs)")
    job = _submitted_job(services, key)
    if job is None:
        info = services.uploads.head(key)
        if info is None:
            return IngestResult("", False, f"ignored: s3://{bucket}/{key} no longer exists")
        now = services.clock.now()
        job_id = job_id_for_upload(bucket, key, sequencer)
        prompt, source, problem = drop_prompt(services, key, info)
        job = JobRecord(
            job_id=job_id,
            status=JobStatus.FAILED if problem else JobStatus.PENDING,
            prompt=prompt,
            created_at=now,
            updated_at=now,
            bucket=bucket,
            key=key,
            stage="ingest" if problem else "",
            model_version=services.settings.model_version,
            error={"code": InvalidPrompt.code, "message": problem} if problem else {},
            prompt_source=source,
        )
        created = services.jobs.create(job)
        if not created:
            job = services.jobs.get(job_id) or job
        if job.status is JobStatus.FAILED:
            if created:
                services.metrics.emit(M.DROP_WITHOUT_PROMPT)
                record_failure(services, InvalidPrompt.code, "ingest")
            return IngestResult(job.job_id, False, "failed: " + job.error.get("message", ""))
    if job.bucket != bucket:
        raise InvalidInput(f"upload arrived in {bucket}, expected {job.bucket}")
    # Atomic claim: of any number of duplicate deliveries, exactly one moves the job on.
    if not services.jobs.transition(
        job.job_id, JobStatus.PENDING, JobStatus.RUNNING, stage="queued"
    ):
        return IngestResult(job.job_id, False, "duplicate event: job already started")
    try:
        services.workflow.start(job.job_id, {"job_id": job.job_id, "bucket": bucket, "key": key})
    except Exception:
        # Give the claim back so S3's retry of this event can start the job.
        services.jobs.transition(job.job_id, JobStatus.RUNNING, JobStatus.PENDING, stage="")
        raise
    return IngestResult(job.job_id, True)
