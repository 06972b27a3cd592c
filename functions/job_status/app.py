"""Step Functions task: write the job's outcome (succeeded, or failed with the reason)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, Field

from foleycache.adapters.wiring import services
from foleycache.pipeline.finish import fail, succeed
from foleycache.pipeline.state import FailedState, PipelineState

logger = Logger()
tracer = Tracer()
metrics = Metrics()


class Succeeded(BaseModel):
    outcome: Literal["succeeded"]
    state: PipelineState


class Failed(BaseModel):
    outcome: Literal["failed"]
    state: FailedState


class Outcome(BaseModel):
    body: Annotated[Succeeded | Failed, Field(discriminator="outcome")]


@logger.inject_lambda_context(correlation_id_path="state.job_id")
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = Outcome.model_validate({"body": event}).body
    if isinstance(outcome, Succeeded):
        return succeed(services(), outcome.state).model_dump()
    return fail(services(), outcome.state)
