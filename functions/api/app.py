"""REST API (v1): uploads, jobs, their outputs, and the OpenAPI document of all of it.

Videos never pass through API Gateway (10 MB cap, 29 s timeout): ``POST /v1/uploads``
hands out a presigned S3 PUT that signs the size, the video type, the SHA-256 and the
caller; the client PUTs the file, then ``POST /v1/jobs`` names the upload and a prompt.
An upload and prompt whose result is already known is answered at once (200, with the
outputs); anything else starts the pipeline (202). See
:mod:`foleycache.pipeline.job_queries`.

Every request is the caller's: the owner of a job is the IAM principal that API
Gateway's ``AWS_IAM`` authorizer put in ``requestContext.identity.userArn`` (an assumed
role without its session name). Another caller's job or upload answers 404, like one
that does not exist.

Every 4xx and 5xx is ``{"error": sentence, "code": StableCode}``: typed errors, the
resolver's validation errors (422, or 400 ``MalformedJson``), unknown routes, a wrong
content type, an oversized body, and unexpected failures (500 ``InternalError``).
``docs/openapi.json`` is generated from this module (``python -m
foleycache.local.api_server openapi --write``); a test fails when they differ.

The unversioned ``/jobs`` routes of the first API still work (deprecated, not in the
OpenAPI document): ``POST /jobs`` records a job that the upload's S3 event starts.

No ``from __future__ import annotations`` here: the resolver reads the
route's annotations through the tracer's wrapper, so they must be real
types for the body model to be recognised.
"""

import base64
import binascii
import json
from datetime import datetime
from functools import lru_cache
from http import HTTPStatus
from typing import Annotated, Any, Literal, get_args

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from foleycache.adapters.s3_blobs import S3BlobStore
from foleycache.adapters.s3_upload_links import S3UploadLinks
from foleycache.adapters.wiring import services
from foleycache.core import metrics as M
from foleycache.core.errors import (
    FoleyError,
    InvalidInput,
    NotFound,
    StorageUnavailable,
    VideoTooLarge,
)
from foleycache.core.job import JobStatus, normalise_principal
from foleycache.pipeline.ingest import submit_job
from foleycache.pipeline.job_queries import (
    LINK_TTL_S,
    VIDEO_TYPES,
    Conflict,
    SubmitOptions,
    describe_job,
    job_outputs,
    job_results,
    job_view,
    list_jobs,
    owned_job,
    register_upload,
    submit_v1_job,
    upload_link,
)
from foleycache.settings import get_settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver(enable_validation=True)
get_settings().require("state_machine_arn")  # POST /v1/jobs starts executions

#: JSON bodies here are a few hundred bytes; API Gateway itself stops at 10 MB.
MAX_BODY_BYTES = 64 * 1024
#: The schema's bound on a prompt; the configured MAX_PROMPT_CHARS (1000) applies after
#: normalisation, with code InvalidPrompt.
PROMPT_MAX_CHARS = 1000
JOB_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{7,63}$"
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,128}$"
S3_MAX_PUT_BYTES = 5 * 1024**3

OPENAPI: dict[str, Any] = {
    "title": "foleycache",
    "version": "1.0.0",
    "summary": "AI Foley sound for videos, answered from a cache when the video is known.",
    "description": (
        "Upload a video with the presigned PUT from POST /v1/uploads, then POST /v1/jobs "
        "with the upload and a prompt. A known upload and prompt is answered at once "
        "(200, with the outputs); anything else is queued (202): poll GET /v1/jobs/{job_id}, "
        "then GET /v1/jobs/{job_id}/outputs. Requests are signed with AWS SigV4 (IAM) for "
        "service execute-api; a job belongs to the principal that created it. Every error "
        "is {error, code}."
    ),
    "security_schemes": {
        "sigv4": APIKey.model_validate(
            {
                "name": "Authorization",
                "in": APIKeyIn.header,
                "description": "AWS Signature Version 4 for service execute-api (IAM).",
            }
        )
    },
    "security": [{"sigv4": []}],
}

VideoContentType = Literal[
    "video/mp4",
    "video/quicktime",
    "video/x-matroska",
    "video/webm",
    "video/x-msvideo",
    "video/mpeg",
    "video/mp2t",
    "video/3gpp",
]
assert set(get_args(VideoContentType)) == set(VIDEO_TYPES), "keep the schema's types in step"
JobStatusName = Literal["pending", "running", "succeeded", "failed"]
CacheTier = Literal["miss", "exact", "l1", "l2", "near", "partial"]


# --- models ------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer."""

    error: str = Field(description="What is wrong, in a sentence.")
    code: str = Field(description="Stable, machine-readable: what a client branches on.")


class CreateUpload(_Strict):
    sha256: str = Field(
        pattern=r"^([0-9A-Fa-f]{64}|[A-Za-z0-9+/]{43}=)$",
        description="SHA-256 of the file: 64 hex digits, or base64 (as S3's "
        "x-amz-checksum-sha256). The link is signed with it: S3 refuses other bytes.",
    )
    size_bytes: int = Field(
        ge=1,
        le=S3_MAX_PUT_BYTES,
        description="The file's exact size. The link signs it (content-length), so it is "
        "the size limit of the upload; above MAX_VIDEO_BYTES (2 GiB) the API answers 413.",
    )
    content_type: VideoContentType = Field(description="The video's media type (signed).")


class UploadLink(BaseModel):
    upload: str = Field(description="The upload's key: what POST /v1/jobs takes.")
    upload_id: str
    method: Literal["PUT"]
    url: str = Field(description="Presigned SigV4 URL; valid for expires_in_s.")
    headers: dict[str, str] = Field(description="Send exactly these with the PUT: they are signed.")
    expires_in_s: int
    size_bytes: int
    sha256: str = Field(description="The checksum, base64, as S3 keeps it.")


class JobOptions(_Strict):
    instant: bool = Field(
        True,
        description="Answer a known upload and prompt at once (200). False always queues a "
        "new run of the pipeline (which may still be served from the cache).",
    )
    link_expires_s: int = Field(
        LINK_TTL_S, ge=60, le=43_200, description="Lifetime of the output links in a 200."
    )
    audio_mode: Literal["replace", "mix", "add"] = Field(
        "replace",
        description="The source's audio: replaced by the Foley, mixed under it (EBU R128), "
        "or kept as a second, labelled track.",
    )


class CreateJob(_Strict):
    upload: str = Field(
        min_length=1,
        max_length=2048,
        description="The upload key POST /v1/uploads returned (or s3://bucket/key).",
    )
    prompt: str = Field(
        min_length=1,
        max_length=PROMPT_MAX_CHARS,
        description="What the Foley should sound like. Whitespace is collapsed; an empty "
        "prompt or one with control characters is refused (400 InvalidPrompt).",
    )
    options: JobOptions = Field(default_factory=lambda: JobOptions.model_validate({}))


class JobError(BaseModel):
    error: str
    code: str


class JobLinks(BaseModel):
    self_: str = Field(alias="self")
    outputs: str


class OutputFile(BaseModel):
    path: str = Field(description="Relative to the job's output folder (manifests refer to it).")
    url: str


class OutputLinks(BaseModel):
    job_id: str
    cache: CacheTier | None
    expires_in_s: int
    links: dict[str, str] = Field(
        description="Presigned GET per deliverable: audio (WAV), video (MP4), dash, hls."
    )
    files: list[OutputFile] | None = Field(
        description="Every file of the outputs folder (DASH/HLS segments included), so a "
        "client can mirror it; null in an instant answer."
    )
    playable: dict[str, str] | None = Field(
        default=None,
        description="dash and hls manifests a player can stream as they are: every segment "
        "reference inside is presigned for expires_in_s.",
    )


class Job(BaseModel):
    job_id: str
    status: JobStatusName
    stage: str = Field(description="The stage running now, or the one that failed.")
    cache: CacheTier | None = Field(description="Where the audio came from; null until known.")
    reuse_share: float | None = Field(
        ge=0.0,
        le=1.0,
        description="Share of the audio reused from earlier results: 1.0 on any hit, "
        "0.0 on a miss, the share of seconds not generated on a partial reuse (shared "
        "spans of a trimmed, extended or re-cut video), null until known.",
    )
    error: JobError | None = Field(description="Why the job failed.")
    timings_ms: dict[str, float]
    prompt: str
    upload: str
    model_version: str | None
    instant: bool = Field(description="Answered at once from an earlier identical job.")
    created_at: datetime
    updated_at: datetime
    links: JobLinks


class JobAnswer(Job):
    outputs: OutputLinks | None = Field(description="Present when the answer is instant (200).")


class JobPage(BaseModel):
    jobs: list[Job]
    next: str | None = Field(description="Pass as ?next= for the next page; null at the end.")


# --- errors --------------------------------------------------------------------------------


class MissingIdentity(FoleyError):
    code = "MissingIdentity"


_STATUS: tuple[tuple[type[FoleyError], int], ...] = (
    (MissingIdentity, 403),
    (VideoTooLarge, 413),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 400),
    (StorageUnavailable, 503),
)


def _error_body(status: int, error: str, code: str) -> Response[dict[str, str]]:
    return Response(status, content_types.APPLICATION_JSON, {"error": error, "code": code})


def _responses(*codes: int, ok: dict[int, Any]) -> dict[int, Any]:
    """The OpenAPI responses of a route: its own, and the shared error format."""
    common = {400, 403, 413, 415, 422, 429, 500, 503}
    described = {
        code: {"description": HTTPStatus(code).phrase, "content": {"application/json": model}}
        for code, model in ok.items()
    }
    for code in sorted(common | set(codes)):
        described[code] = {
            "description": HTTPStatus(code).phrase,
            "content": {"application/json": {"model": ErrorBody}},
        }
    return described


@app.exception_handler(FoleyError)  # type: ignore[untyped-decorator]
def foley_error(exc: FoleyError) -> Response[dict[str, str]]:
    status = next((s for cls, s in _STATUS if isinstance(exc, cls)), 500)
    if isinstance(exc, InvalidInput):
        services().metrics.emit(M.REJECTED, Class=exc.code)
    if status >= 500:
        logger.warning("request failed", extra={"code": exc.code, "error": str(exc)})
    response = _error_body(status, str(exc), exc.code)
    if status == 503:
        response.headers["Retry-After"] = "1"
    return response


@app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
def validation_error(exc: RequestValidationError) -> Response[dict[str, str]]:
    errors = exc.errors()
    if any(tuple(e.get("loc", ()))[:1] == ("response",) for e in errors):
        # The resolver reports an answer that breaks its own model this way: our bug, a
        # 500, never a 422 blamed on the caller.
        logger.error("a response broke its model", extra={"errors": str(errors)[:2000]})
        return _error_body(500, "internal error: the answer failed validation", "InternalError")
    if any(e.get("type") == "json_invalid" for e in errors):
        detail = next(e for e in errors if e.get("type") == "json_invalid")
        reason = detail.get("ctx", {}).get("error", "not JSON")
        return _error_body(400, f"the body is not valid JSON: {reason}", "MalformedJson")
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg') or err.get('type')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return _error_body(422, "; ".join(parts) + more, "ValidationError")


@app.exception_handler(RequestUnsupportedContentType)  # type: ignore[untyped-decorator]
def unsupported_type(exc: RequestUnsupportedContentType) -> Response[dict[str, str]]:
    return _error_body(415, "send the body as application/json", "UnsupportedMediaType")


@app.not_found
def no_route(exc: NotFoundError) -> Response[dict[str, str]]:
    event = app.current_event
    return _error_body(404, f"no route {event.http_method} {event.path[:200]}", "RouteNotFound")


@app.exception_handler(Exception)  # type: ignore[untyped-decorator]
def unexpected(exc: Exception) -> Response[dict[str, str]]:
    logger.exception("unexpected error")
    request_id = app.current_event.request_context.request_id
    return _error_body(500, f"internal error (request {request_id})", "InternalError")


# --- who is asking ---------------------------------------------------------------------------


def caller() -> str:
    """The caller's principal from the request context (set by API Gateway's IAM authorizer;
    locally by ``foleycache api serve``). No identity, no access."""
    arn = app.current_event.request_context.identity.user_arn or ""
    owner = normalise_principal(arn)
    if owner is None:
        raise MissingIdentity("the request carries no IAM identity: sign it with SigV4")
    return owner


@lru_cache(maxsize=1)
def upload_links() -> S3UploadLinks:
    uploads = services().uploads
    if not isinstance(uploads, S3BlobStore):
        raise FoleyError("uploads are not in S3")
    return S3UploadLinks(uploads.client, uploads.bucket)


# --- v1 -------------------------------------------------------------------------------------


@app.post(
    "/v1/uploads",
    summary="Get a presigned PUT for one video",
    operation_id="createUpload",
    tags=["uploads"],
    responses=_responses(400, ok={201: {"model": UploadLink}}),
)
@tracer.capture_method
def create_upload(body: Annotated[CreateUpload, Body()]) -> Response[UploadLink]:
    owner = caller()
    link = register_upload(
        services(), upload_links(), owner, body.sha256, body.size_bytes, body.content_type
    )
    return Response(201, content_types.APPLICATION_JSON, link)  # type: ignore[arg-type]


@app.post(
    "/v1/jobs",
    summary="Add Foley to an upload: at once if known (200), else queued (202)",
    operation_id="createJob",
    tags=["jobs"],
    responses=_responses(400, 404, 409, ok={200: {"model": JobAnswer}, 202: {"model": JobAnswer}}),
)
@tracer.capture_method
def create_job_v1(
    body: Annotated[CreateJob, Body()],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            pattern=IDEMPOTENCY_KEY_PATTERN,
            description="Repeat a submission safely: the same key (per caller) returns the "
            "same job; reusing it for another request is 409.",
        ),
    ] = None,
) -> Response[JobAnswer]:
    owner = caller()
    options = SubmitOptions(
        instant=body.options.instant,
        link_ttl_s=body.options.link_expires_s,
        audio_mode=body.options.audio_mode,
    )
    status, answer = submit_v1_job(
        services(), owner, body.upload, body.prompt, options, idempotency_key
    )
    headers = {"Location": answer["links"]["self"]}
    return Response(status, content_types.APPLICATION_JSON, answer, headers)  # type: ignore[arg-type]


@app.get(
    "/v1/jobs/<job_id>",
    summary="A job: status, stage, cache tier, reuse share, error, timings",
    operation_id="getJob",
    tags=["jobs"],
    responses=_responses(404, ok={200: {"model": Job}}),
)
@tracer.capture_method
def get_job_v1(
    job_id: Annotated[str, Path(pattern=JOB_ID_PATTERN, max_length=64)],
) -> Response[Job]:
    job = owned_job(services(), caller(), job_id)
    return Response(200, content_types.APPLICATION_JSON, job_view(job))  # type: ignore[arg-type]


@app.get(
    "/v1/jobs/<job_id>/outputs",
    summary="Presigned links to a succeeded job's outputs",
    operation_id="getJobOutputs",
    tags=["jobs"],
    responses=_responses(404, 409, ok={200: {"model": OutputLinks}}),
)
@tracer.capture_method
def get_outputs_v1(
    job_id: Annotated[str, Path(pattern=JOB_ID_PATTERN, max_length=64)],
    expires_in_s: Annotated[int, Query(ge=60, le=43_200)] = LINK_TTL_S,
) -> Response[OutputLinks]:
    links = job_outputs(services(), caller(), job_id, expires_in_s)
    return Response(200, content_types.APPLICATION_JSON, links)  # type: ignore[arg-type]


@app.get(
    "/v1/jobs",
    summary="The caller's jobs, newest first",
    operation_id="listJobs",
    tags=["jobs"],
    responses=_responses(400, ok={200: {"model": JobPage}}),
)
@tracer.capture_method
def list_jobs_v1(
    status: Annotated[JobStatusName | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    next_page: Annotated[str | None, Query(alias="next", max_length=2048)] = None,
) -> Response[JobPage]:
    page = list_jobs(services(), caller(), JobStatus(status) if status else None, limit, next_page)
    return Response(200, content_types.APPLICATION_JSON, page)  # type: ignore[arg-type]


@app.get(
    "/v1/openapi.json",
    summary="This document",
    operation_id="getOpenApi",
    tags=["meta"],
    responses=_responses(ok={200: {"schema": {"type": "object"}}}),
)
def get_openapi() -> Response[dict[str, Any]]:
    return Response(200, content_types.APPLICATION_JSON, json.loads(openapi_document()))


@lru_cache(maxsize=1)
def openapi_document() -> str:
    """The OpenAPI document of the v1 routes, as committed in ``docs/openapi.json``."""
    generated = json.loads(app.get_openapi_json_schema(**OPENAPI))
    return json.dumps(generated, indent=2, sort_keys=True) + "\n"


# --- the first, unversioned API (deprecated; same owners and error format) -------------------


class SubmitJob(BaseModel):
    prompt: str = Field(max_length=100_000)
    filename: str = Field(default="video.mp4", max_length=255)
    sha256: str = Field(
        max_length=100,
        description="SHA-256 of the file to upload: base64 (as S3's x-amz-checksum-sha256) "
        "or hex. The upload link is signed with it; S3 refuses other bytes.",
    )


@app.post("/jobs", include_in_schema=False, deprecated=True)
@tracer.capture_method
def create_job(body: Annotated[SubmitJob, Body()]) -> Response[dict[str, Any]]:
    owner = caller()
    job = submit_job(services(), body.prompt, body.filename, sha256=body.sha256, owner=owner)
    payload = {
        "job_id": job.job_id,
        "status": job.status.value,
        "upload": upload_link(services(), job.key, job.details["sha256"]),
    }
    return Response(201, content_types.APPLICATION_JSON, payload)


@app.get("/jobs/<job_id>", include_in_schema=False, deprecated=True)
@tracer.capture_method
def get_job(job_id: str) -> dict[str, Any]:
    return describe_job(services(), job_id, caller())


@app.get("/jobs/<job_id>/results", include_in_schema=False, deprecated=True)
@tracer.capture_method
def get_results(job_id: str) -> dict[str, Any]:
    return job_results(services(), job_id, caller())


# --- the Lambda entry ---------------------------------------------------------------------------


def _raw_error(status: int, error: str, code: str) -> dict[str, Any]:
    """An answer given before the resolver runs, in the proxy format it would use."""
    return {
        "statusCode": status,
        "multiValueHeaders": {"Content-Type": [content_types.APPLICATION_JSON]},
        "body": json.dumps({"error": error, "code": code}),
        "isBase64Encoded": False,
    }


def precheck(event: dict[str, Any]) -> dict[str, Any] | None:
    """What the resolver does not check: a body must be small, JSON and UTF-8.

    (The resolver would parse form and multipart bodies too, and fail on non-UTF-8 with a
    500.) A base64 body (a binary media type) is decoded here, once.
    """
    body = event.get("body")
    if body is None or body == "":
        return None
    if len(body) > MAX_BODY_BYTES * (4 / 3 if event.get("isBase64Encoded") else 1):
        return _raw_error(413, f"the body is over {MAX_BODY_BYTES} bytes", "PayloadTooLarge")
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        return _raw_error(
            415,
            f"the body must be application/json, not {media[:80] or 'untyped'}",
            "UnsupportedMediaType",
        )
    if event.get("isBase64Encoded"):
        try:
            event["body"] = base64.b64decode(body, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return _raw_error(400, "the body is not UTF-8 JSON", "MalformedJson")
        event["isBase64Encoded"] = False
    return None


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    refused = precheck(event)
    if refused is not None:
        return refused
    return app.resolve(event, context)
