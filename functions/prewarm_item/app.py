"""Distributed Map item (the prewarm state machine): decide one manifest row.

Returns the row's plan: ``run`` with the pipeline execution's input (the map then
starts the pipeline, named by the job id), or a reason to skip it. A bad row fails
this item alone (the map tolerates it and lists it in its results).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from foleycache.adapters.wiring import services
from foleycache.core import metrics as M
from foleycache.pipeline.prewarm import prepare_item, row_from

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    svc = services()
    body = event.get("row")
    row = row_from(
        body if isinstance(body, dict) else {},
        int(event.get("index", 0)) + 1,
        svc.settings.max_prompt_chars,
    )
    plan = prepare_item(svc, row, str(event.get("model_version") or ""))
    svc.metrics.emit(M.PREWARM_ITEM, Action=plan.action.value)
    return plan.to_dict()
