"""Step Functions task (``.waitForTaskToken``): re-check the cache, then win the lease or
queue behind its holder, who resumes this task when its run ends."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from foleycache.adapters.wiring import services
from foleycache.pipeline.resolve import lease_or_wait
from foleycache.pipeline.state import WaitingTask

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(correlation_id_path="state.job_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=WaitingTask)
def handler(event: WaitingTask, context: LambdaContext) -> dict[str, Any]:
    lease_or_wait(services(), event.state, event.task_token)
    return {"job_id": event.state.job_id}
