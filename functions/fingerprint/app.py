"""Step Functions task: validate the upload and fingerprint it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

import foleycache.fingerprint.extract  # noqa: F401  (cv2 and the CNN load at init, not per request)
from foleycache.adapters.wiring import services
from foleycache.pipeline.fingerprint_upload import fingerprint_upload
from foleycache.pipeline.state import PipelineState

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(correlation_id_path="job_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=PipelineState)
def handler(event: PipelineState, context: LambdaContext) -> dict[str, Any]:
    return fingerprint_upload(services(), event).model_dump()
