"""Scheduled (daily): archive cache entries not hit for ``ARCHIVE_AFTER_DAYS`` days,
catching up any days a missed or failed run left (a failed run lands in its DLQ)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from foleycache.adapters.wiring import services
from foleycache.cache.archival import archive_cold_entries

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def handler(event: EventBridgeEvent, context: LambdaContext) -> dict[str, Any]:
    run_day = event.time[:10] if event.get("time") else None
    report = archive_cold_entries(
        services(), run_day, lambda: context.get_remaining_time_in_millis() / 1000
    )
    logger.info("archival run", extra=asdict(report))
    return asdict(report)
