"""Step Functions task: run the Foley model once and fill both cache tiers."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from foleycache.adapters.wiring import services
from foleycache.pipeline.generate import generate
from foleycache.pipeline.state import PipelineState

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(correlation_id_path="job_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=PipelineState)
def handler(event: PipelineState, context: LambdaContext) -> dict[str, Any]:
    return generate(services(), event).model_dump()
