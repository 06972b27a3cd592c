"""On demand: retire one model version's cache entries, one bounded page per invocation.

Invoke with ``{"model_version": "...", "cursor": null}``; the answer says how much this
page did, whether it is ``done``, and else the ``cursor`` to invoke again with
(``foleycache cache invalidate`` loops until done; see README, "Invalidating a model
version"). Each page is idempotent, so a page repeated after a failure is harmless.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field

from foleycache.adapters.wiring import services
from foleycache.cache.invalidation import DEFAULT_BUDGET, InvalidationCursor, invalidate_page

logger = Logger()
tracer = Tracer()
metrics = Metrics()


class InvalidateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_version: str = Field(min_length=1, max_length=64)
    cursor: dict[str, Any] | None = None
    budget: int = Field(DEFAULT_BUDGET, ge=1, le=50_000)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=InvalidateRequest)
def handler(event: InvalidateRequest, context: LambdaContext) -> dict[str, Any]:
    cursor = InvalidationCursor.parse(event.cursor)
    page = invalidate_page(services(), event.model_version, cursor, event.budget)
    logger.info("invalidation page", extra=asdict(page))
    return asdict(page)
