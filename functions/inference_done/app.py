"""SNS subscriber: the endpoint's success and error notifications resume the waiting job."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.data_classes import SNSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from foleycache.adapters.wiring import services
from foleycache.pipeline.generate import finish_inference

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=SNSEvent)
def handler(event: SNSEvent, context: LambdaContext) -> dict[str, Any]:
    handled = []
    for record in event.records:
        done = finish_inference(services(), json.loads(record.sns.message))
        logger.set_correlation_id(done.job_id or None)  # the job this notice resumed
        logger.info("inference done", extra={"outcome": done.line})
        handled.append(done.line)
    return {"handled": handled}
