"""Step Functions task (``.waitForTaskToken``): start the model's one run for this key; the
endpoint's notification resumes the task (functions/inference_done)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from foleycache.adapters.wiring import services
from foleycache.pipeline.generate import start_inference
from foleycache.pipeline.state import WaitingTask

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(correlation_id_path="state.job_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=WaitingTask)
def handler(event: WaitingTask, context: LambdaContext) -> dict[str, Any]:
    start_inference(services(), event.state, event.task_token)
    return {"job_id": event.state.job_id}
