"""What the API does: register uploads, submit jobs (answering known ones at once),
read a job, its outputs, and one caller's jobs.

The v1 flow is upload first, then the job:

1. ``register_upload``: no storage call at all. The presigned PUT signs the size, the
   video type, the SHA-256 and the caller's principal (as object metadata), so the
   object S3 keeps *is* the registration: it carries its checksum and its owner.
2. ``submit_v1_job``: one HeadObject reads both back. If S3's SHA-256 is already known
   under this prompt, model version and fingerprint version (the exact-repeat record
   that the pipeline writes when a job succeeds), and the earlier deliverables are
   still there, the job is recorded as succeeded and answered at once (200): no
   workflow, no download, no decode. Otherwise the job is recorded and the state
   machine started (202).

Every job has an owner, the caller's IAM principal; another caller's job, or upload,
is "not found", exactly like one that does not exist. Ids, keys and cursors are
checked before any storage call.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from foleycache.cache import names
from foleycache.cache.names import exact_scope
from foleycache.cache.repeat_memory import find_exact
from foleycache.core import metrics as M
from foleycache.core.errors import FoleyError, InvalidInput, InvalidVideo, NotFound, VideoTooLarge
from foleycache.core.job import (
    UPLOAD_OWNER_METADATA,
    CacheOutcome,
    JobRecord,
    JobStatus,
    idempotent_job_id,
    is_job_id,
    new_job_id,
    new_upload_id,
)
from foleycache.core.keys import CacheKey, prompt_md5
from foleycache.core.ports import ObjectInfo, PresignedUpload
from foleycache.fingerprint import FINGERPRINT_VERSION
from foleycache.media.signed_links import signed_manifests
from foleycache.pipeline.ingest import api_prompt, pending_job, sha256_b64
from foleycache.pipeline.job_outcome import record_success
from foleycache.services import Services

LINK_TTL_S = 3600
#: Upload links are short-lived: S3 checks the expiry when the PUT starts, so a long
#: upload that started in time completes.
UPLOAD_LINK_TTL_S = 900
#: Output files listed by ``GET /v1/jobs/{id}/outputs`` (a 10-minute video's DASH and
#: HLS segments are a few hundred).
MAX_OUTPUT_FILES = 2000
MAX_UPLOAD_KEY_BYTES = 1024

#: The video types an upload may declare, and the extension its key gets.
VIDEO_TYPES = {
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/x-matroska": ".mkv",
    "video/webm": ".webm",
    "video/x-msvideo": ".avi",
    "video/mpeg": ".mpg",
    "video/mp2t": ".ts",
    "video/3gpp": ".3gp",
}


# --- errors: each with a stable code; the API maps them to statuses ----------------------


class JobNotFound(NotFound):
    code = "JobNotFound"


class UploadNotFound(NotFound):
    code = "UploadNotFound"


class UploadOutsidePrefix(InvalidInput):
    code = "UploadOutsidePrefix"


class InvalidUpload(InvalidInput):
    code = "InvalidUpload"


class InvalidChecksum(InvalidInput):
    code = "InvalidChecksum"


class InvalidCursor(InvalidInput):
    code = "InvalidCursor"


class Conflict(FoleyError):
    """The request is well formed but the resource's state refuses it (409)."""

    code = "Conflict"


class JobNotSucceeded(Conflict):
    code = "JobNotSucceeded"


class IdempotencyKeyReused(Conflict):
    code = "IdempotencyKeyReused"


# --- what the API needs beyond the JobStore port ------------------------------------------


class UploadLinks(Protocol):
    def sign_video_put(
        self,
        key: str,
        expires_s: int,
        *,
        sha256_b64: str,
        size: int,
        content_type: str,
        owner: str,
    ) -> PresignedUpload: ...


@runtime_checkable
class OwnedJobs(Protocol):
    """A job store that can list one owner's jobs (DynamoDB: the ByOwner index)."""

    def decode_cursor(self, owner: str, cursor: str) -> Any:
        """Where a listing resumes; ValueError for a cursor not handed to ``owner``."""
        ...

    def list_by_owner(
        self, owner: str, status: JobStatus | None, limit: int, start: Any
    ) -> tuple[list[JobRecord], str | None]: ...


@dataclass(frozen=True, slots=True)
class SubmitOptions:
    #: Answer an upload and prompt that are already known at once (200).
    instant: bool = True
    #: Lifetime of the output links in an instant answer.
    link_ttl_s: int = LINK_TTL_S
    #: What the deliverable does with the source audio: part of the deliverable's identity
    #: (an instant answer needs a deliverable made the same way), not of the sound's.
    audio_mode: str = "replace"
    extra: dict[str, Any] = field(default_factory=dict)

    def digest_fields(self) -> dict[str, Any]:
        return {
            "instant": self.instant,
            "link_ttl_s": self.link_ttl_s,
            "audio_mode": self.audio_mode,
            **self.extra,
        }


# --- views ----------------------------------------------------------------------------------


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def reuse_share(job: JobRecord) -> float | None:
    """Share of the job's Foley audio that came from earlier results.

    A stage may record a finer figure in ``details["reuse_share"]``; otherwise any cache
    hit (exact, l1, l2, near) reused all of it and a miss none; None until the lookup ran.
    """
    explicit = job.details.get("reuse_share")
    if isinstance(explicit, int | float) and 0.0 <= explicit <= 1.0:
        return float(explicit)
    if not job.cache:
        return None
    return 0.0 if job.cache == CacheOutcome.MISS.value else 1.0


def job_view(job: JobRecord) -> dict[str, Any]:
    """A job as ``GET /v1/jobs/{id}`` shows it."""
    return {
        "job_id": job.job_id,
        "status": job.status.value,
        "stage": job.stage,
        "cache": job.cache or None,
        "reuse_share": reuse_share(job),
        "error": (
            {"error": job.error.get("message", ""), "code": job.error.get("code", "")}
            if job.error
            else None
        ),
        "timings_ms": {k: float(v) for k, v in job.timings_ms.items()},
        "prompt": job.prompt,
        "upload": job.key,
        "model_version": job.model_version or None,
        "instant": bool(job.details.get("instant")),
        "created_at": _iso(job.created_at),
        "updated_at": _iso(job.updated_at),
        "links": {"self": f"/v1/jobs/{job.job_id}", "outputs": f"/v1/jobs/{job.job_id}/outputs"},
    }


def output_links(
    services: Services, job: JobRecord, ttl_s: int, with_files: bool
) -> dict[str, Any]:
    """Presigned GET links for a job's deliverables, and optionally every file beside them
    (the DASH and HLS segments, so a client can mirror the folder and play it)."""
    links = {
        name: services.uploads.presign(key, "GET", ttl_s)
        for name, key in sorted(job.outputs.items())
    }
    files: list[dict[str, str]] | None = None
    if with_files and job.outputs.get("video"):
        prefix = job.outputs["video"].rsplit("/", 1)[0] + "/"
        files = [
            {"path": key[len(prefix) :], "url": services.uploads.presign(key, "GET", ttl_s)}
            for key in services.uploads.list_keys(prefix)[:MAX_OUTPUT_FILES]
        ]
    return {
        "job_id": job.job_id,
        "cache": job.cache or None,
        "expires_in_s": ttl_s,
        "links": links,
        "files": files,
    }


# --- reading jobs ---------------------------------------------------------------------------


def owned_job(services: Services, owner: str, job_id: str) -> JobRecord:
    """The job, if it exists and is ``owner``'s; a malformed id is never looked up."""
    if not is_job_id(job_id):
        raise JobNotFound(f"job {job_id[:80]!r} does not exist (not a job id)")
    job = services.jobs.get(job_id)
    if job is None or job.owner != owner:
        raise JobNotFound(f"job {job_id} does not exist")
    return job


def job_outputs(services: Services, owner: str, job_id: str, ttl_s: int) -> dict[str, Any]:
    job = owned_job(services, owner, job_id)
    if job.status is not JobStatus.SUCCEEDED:
        raise JobNotSucceeded(
            f"job {job_id} is {job.status.value}; its outputs exist once it succeeds"
        )
    result = output_links(services, job, ttl_s, with_files=True)
    result["playable"] = playable_links(services, job, ttl_s)
    return result


def playable_links(services: Services, job: JobRecord, ttl_s: int) -> dict[str, str] | None:
    """DASH and HLS a plain client can play from the private bucket: manifests whose every
    reference is presigned (media.signed_links), for this request's link lifetime. The
    prefix comes from the outputs, not the job id: an instant answer points at an earlier
    job's outputs."""
    if not (job.outputs.get("hls") and job.outputs.get("dash")):
        return None
    abr_prefix = job.outputs["hls"].rsplit("/", 1)[0] + "/"
    return signed_manifests(services.uploads, abr_prefix, ttl_s, secrets.token_hex(8))


def list_jobs(
    services: Services, owner: str, status: JobStatus | None, limit: int, cursor: str | None
) -> dict[str, Any]:
    store = services.jobs
    if not isinstance(store, OwnedJobs):
        raise FoleyError("this job store cannot list jobs by owner")
    try:
        start = store.decode_cursor(owner, cursor) if cursor else None
    except ValueError as exc:
        raise InvalidCursor(f"next: {exc}") from exc
    jobs, next_cursor = store.list_by_owner(owner, status, limit, start)
    return {"jobs": [job_view(job) for job in jobs], "next": next_cursor}


# --- the deprecated unversioned routes (POST /jobs, GET /jobs/{id}[/results]) ---------------


def describe_job(services: Services, job_id: str, owner: str | None = None) -> dict[str, Any]:
    if owner is not None:
        return owned_job(services, owner, job_id).to_public()
    job = services.jobs.get(job_id) if is_job_id(job_id) else None
    if job is None:
        raise NotFound(f"job {job_id[:80]} does not exist")
    return job.to_public()


def job_results(services: Services, job_id: str, owner: str | None = None) -> dict[str, Any]:
    """Presigned GET links for every output; refused until the job has succeeded."""
    if owner is not None:
        job = owned_job(services, owner, job_id)
    else:
        found = services.jobs.get(job_id) if is_job_id(job_id) else None
        if found is None:
            raise NotFound(f"job {job_id[:80]} does not exist")
        job = found
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


# --- uploads --------------------------------------------------------------------------------


def register_upload(
    services: Services,
    links: UploadLinks,
    owner: str,
    sha256: str,
    size_bytes: int,
    content_type: str,
) -> dict[str, Any]:
    """A presigned PUT for one video; nothing is stored until the client PUTs it."""
    try:
        sha = sha256_b64(sha256)
    except InvalidInput as exc:
        raise InvalidChecksum(str(exc)) from exc
    limit = services.settings.max_video_bytes
    if size_bytes > limit:
        raise VideoTooLarge(f"the upload would be {size_bytes} bytes; the limit is {limit} bytes")
    if size_bytes < 1:
        raise InvalidVideo("an upload cannot be empty")
    ext = VIDEO_TYPES.get(content_type)
    if ext is None:
        raise InvalidUpload(
            f"content type {content_type[:80]!r} is not one of {sorted(VIDEO_TYPES)}"
        )
    upload_id = new_upload_id()
    key = names.upload_key(services.settings.uploads_prefix, upload_id, "video" + ext)
    link = links.sign_video_put(
        key,
        UPLOAD_LINK_TTL_S,
        sha256_b64=sha,
        size=size_bytes,
        content_type=content_type,
        owner=owner,
    )
    return {
        "upload": key,
        "upload_id": upload_id,
        "method": "PUT",
        "url": link.url,
        "headers": dict(link.headers),
        "expires_in_s": UPLOAD_LINK_TTL_S,
        "size_bytes": size_bytes,
        "sha256": sha,
    }


def upload_key_of(services: Services, ref: str) -> str:
    """The uploads-bucket key ``ref`` names (a key, or ``s3://bucket/key``); checked for
    shape and place before anything is read."""
    settings = services.settings
    key = ref
    if ref.startswith("s3://"):
        bucket, _, key = ref[len("s3://") :].partition("/")
        if bucket != settings.uploads_bucket:
            raise UploadOutsidePrefix(
                f"upload {ref[:120]!r} is not in the uploads bucket; uploads are keys under "
                f"{settings.uploads_prefix!r} as POST /v1/uploads returns them"
            )
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        size = MAX_UPLOAD_KEY_BYTES + 1  # a lone surrogate: no S3 key
    if size > MAX_UPLOAD_KEY_BYTES or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in key):
        raise InvalidUpload(
            "an upload key is UTF-8 of at most 1024 bytes, with no control characters"
        )
    segments = key.split("/")
    if not key.startswith(settings.uploads_prefix) or any(s in ("", ".", "..") for s in segments):
        raise UploadOutsidePrefix(
            f"upload {key[:120]!r} is not under {settings.uploads_prefix!r}; uploads are the "
            "keys POST /v1/uploads returns"
        )
    return key


def _owned_upload(services: Services, owner: str, key: str) -> ObjectInfo:
    info = services.uploads.head(key)
    if info is None or info.metadata.get(UPLOAD_OWNER_METADATA) != owner:
        raise UploadNotFound(
            f"upload {key} does not exist: get a link from POST /v1/uploads and PUT the "
            "file to it first"
        )
    if info.size == 0:
        raise InvalidVideo(f"upload {key} is empty (0 bytes)")
    limit = services.settings.max_video_bytes
    if info.size > limit:
        raise VideoTooLarge(f"upload {key} is {info.size} bytes; the limit is {limit} bytes")
    return info


# --- submitting -----------------------------------------------------------------------------


def _request_digest(key: str, prompt: str, options: SubmitOptions) -> str:
    body = {"upload": key, "prompt": prompt, "options": options.digest_fields()}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _start_pipeline(services: Services, job: JobRecord) -> JobRecord:
    """Claim the pending job and start its execution (named by the job id, so a repeated
    start is the same execution); the claim is given back if the start fails."""
    if services.jobs.transition(job.job_id, JobStatus.PENDING, JobStatus.RUNNING, stage="queued"):
        try:
            services.workflow.start(
                job.job_id, {"job_id": job.job_id, "bucket": job.bucket, "key": job.key}
            )
        except Exception:
            services.jobs.transition(job.job_id, JobStatus.RUNNING, JobStatus.PENDING, stage="")
            raise
        job.status, job.stage = JobStatus.RUNNING, "queued"
    return job


def _answer(services: Services, job: JobRecord, ttl_s: int) -> tuple[int, dict[str, Any]]:
    if job.details.get("instant") and job.status is JobStatus.SUCCEEDED:
        return 200, {**job_view(job), "outputs": output_links(services, job, ttl_s, False)}
    return 202, {**job_view(job), "outputs": None}


def _replay(
    services: Services, existing: JobRecord, digest: str, options: SubmitOptions
) -> tuple[int, dict[str, Any]]:
    """A repeated ``Idempotency-Key``: the same job back, or 409 for another request."""
    if existing.request_digest != digest:
        raise IdempotencyKeyReused(
            f"this Idempotency-Key was used for another request (job {existing.job_id}); "
            "use a new key for a new request"
        )
    if existing.status is JobStatus.PENDING:  # the first attempt did not get to start it
        existing = _start_pipeline(services, existing)
    return _answer(services, existing, options.link_ttl_s)


def _instant_job(
    services: Services,
    *,
    owner: str,
    job_id: str,
    key: str,
    info: ObjectInfo,
    prompt: str,
    digest: str,
    started: float,
    audio_mode: str = "replace",
) -> JobRecord | None:
    """A succeeded job record for an upload and prompt whose result is known, or None."""
    settings = services.settings
    sha = info.sha256_b64 or ""
    prompt_digest = prompt_md5(prompt)
    scope = exact_scope(FINGERPRINT_VERSION, sha, prompt_digest, audio_mode)
    record = find_exact(services, scope)
    if record is None:
        return None
    # The version the canary split routes these bytes to (the stable one without a canary).
    version = settings.rollout().version_for(record.split_code, prompt_digest)
    # Deliverables carry one model version's sound: another version's are never lent.
    outputs = record.outputs_for(version)
    if not outputs.get("video"):
        return None
    try:
        cache_key = CacheKey(record.fingerprint, prompt_digest, version, FINGERPRINT_VERSION)
    except InvalidInput:
        return None
    # The deliverables expire (lifecycle); then the pipeline makes them again.
    if services.uploads.head(outputs["video"]) is None:
        return None
    now = services.clock.now()
    return JobRecord(
        job_id=job_id,
        status=JobStatus.SUCCEEDED,
        prompt=prompt,
        created_at=now,
        updated_at=now,
        bucket=settings.uploads_bucket,
        key=key,
        stage="done",
        cache=CacheOutcome.EXACT.value,
        fingerprint=cache_key.fingerprint,
        cache_key=str(cache_key),
        model_version=version,
        outputs=outputs,
        timings_ms={"instant": round((time.perf_counter() - started) * 1000, 3)},
        details={"sha256": sha, "bytes": info.size, "instant": True, "outputs_reused": True},
        owner=owner,
        request_digest=digest,
    )


def submit_v1_job(
    services: Services,
    owner: str,
    upload: str,
    prompt: str,
    options: SubmitOptions,
    idempotency_key: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """``POST /v1/jobs``: (200, the job with its outputs) for a known upload and prompt,
    else (202, the started job)."""
    started = time.perf_counter()
    text = api_prompt(prompt, services.settings.max_prompt_chars)
    key = upload_key_of(services, upload)
    digest = _request_digest(key, text, options)
    if idempotency_key:
        job_id = idempotent_job_id(owner, idempotency_key)
        existing = services.jobs.get(job_id)
        if existing is not None:
            return _replay(services, existing, digest, options)
    else:
        job_id = new_job_id()
    info = _owned_upload(services, owner, key)
    if options.instant and info.sha256_b64:
        instant = _instant_job(
            services,
            owner=owner,
            job_id=job_id,
            key=key,
            info=info,
            prompt=text,
            digest=digest,
            started=started,
            audio_mode=options.audio_mode,
        )
        if instant is not None:
            if not services.jobs.create(instant):  # a concurrent request with this key won
                return _replay(services, services.jobs.get(job_id) or instant, digest, options)
            services.metrics.emit(M.INSTANT_ANSWER)
            # Answered now: the sound was there at once (its length is not in the record).
            now = services.clock.now()
            record_success(
                services,
                CacheOutcome.EXACT.value,
                instant.created_at,
                now,
                0.0,
                instant.model_version,
            )
            return _answer(services, instant, options.link_ttl_s)
    details = {
        "sha256": info.sha256_b64 or "",
        "bytes": info.size,
        "audio_mode": options.audio_mode,
    }
    job = pending_job(
        services, job_id, text, key, "submitted", details, owner=owner, request_digest=digest
    )
    if not services.jobs.create(job):
        return _replay(services, services.jobs.get(job_id) or job, digest, options)
    return _answer(services, _start_pipeline(services, job), options.link_ttl_s)
