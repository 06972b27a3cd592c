"""REST API: submit a job (get an upload link), poll it, fetch its results.

Videos never pass through API Gateway (10 MB cap, 29 s timeout): the
client PUTs to a presigned S3 URL, and the upload's S3 event starts the job.
``POST /jobs`` takes the file's SHA-256; the link is signed with it, and the
response names the headers the PUT must carry.
Typed errors map to HTTP statuses here, in one place.

No ``from __future__ import annotations`` here: the resolver reads the
route's annotations through the tracer's wrapper, so they must be real
types for the body model to be recognised.
"""

from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from foleycache.adapters.wiring import services
from foleycache.core.errors import FoleyError, InvalidInput, NotFound
from foleycache.pipeline.ingest import submit_job
from foleycache.pipeline.job_queries import describe_job, job_results, upload_link

logger = Logger()
tracer = Tracer()
metrics = Metrics()
app = APIGatewayRestResolver(enable_validation=True)


class SubmitJob(BaseModel):
    prompt: str = Field(max_length=100_000)
    filename: str = Field(default="video.mp4", max_length=255)
    sha256: str = Field(
        max_length=100,
        description="SHA-256 of the file to upload: base64 (as S3's x-amz-checksum-sha256) "
        "or hex. The upload link is signed with it; S3 refuses other bytes.",
    )


@app.post("/jobs")
@tracer.capture_method
def create_job(body: Annotated[SubmitJob, Body()]) -> Response[dict[str, Any]]:
    job = submit_job(services(), body.prompt, body.filename, sha256=body.sha256)
    payload = {
        "job_id": job.job_id,
        "status": job.status.value,
        "upload": upload_link(services(), job.key, job.details["sha256"]),
    }
    return Response(201, content_types.APPLICATION_JSON, payload)


@app.get("/jobs/<job_id>")
@tracer.capture_method
def get_job(job_id: str) -> dict[str, Any]:
    return describe_job(services(), job_id)


@app.get("/jobs/<job_id>/results")
@tracer.capture_method
def get_results(job_id: str) -> dict[str, Any]:
    return job_results(services(), job_id)


def _error(status: int, exc: FoleyError) -> Response[dict[str, str]]:
    return Response(status, content_types.APPLICATION_JSON, {"error": str(exc), "code": exc.code})


@app.exception_handler(NotFound)  # type: ignore[untyped-decorator]
def not_found(exc: NotFound) -> Response[dict[str, str]]:
    return _error(404, exc)


@app.exception_handler(InvalidInput)  # type: ignore[untyped-decorator]
def invalid(exc: InvalidInput) -> Response[dict[str, str]]:
    return _error(400, exc)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
