"""S3 trigger: start one pipeline execution per uploaded object.

Keys arrive URL-encoded (``+`` for spaces) and are decoded here. Duplicate
deliveries map to the same job id and are no-ops. The test event S3 sends
when a notification is configured has no records and is ignored.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from foleycache.adapters.wiring import services
from foleycache.pipeline.ingest import ingest_upload
from foleycache.settings import get_settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
get_settings().require("state_machine_arn")  # the one function that starts executions


def _event_order(record: dict[str, Any]) -> str:
    """S3's per-key ``sequencer``; same for duplicate deliveries of one PUT.

    Emulators may omit it; the ETag plus the event time is then the closest
    stand-in (equal for duplicates of one event, different for a new PUT).
    """
    obj = record["s3"]["object"]
    return str(obj.get("sequencer") or f"{obj.get('eTag', '')}@{record.get('eventTime', '')}")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=S3Event)
def handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    records = event.raw_event.get("Records", [])  # absent in S3's s3:TestEvent
    results = [
        ingest_upload(
            services(),
            r.s3.bucket.name,
            unquote_plus(r.s3.get_object.key),
            _event_order(r.raw_event),
        )
        for r in (event.records if records else [])
    ]
    for result in results:
        logger.set_correlation_id(result.job_id or None)
        logger.info(
            "ingest",
            extra={"job_id": result.job_id, "started": result.started, "reason": result.reason},
        )
    return {
        "jobs": [r.job_id for r in results if r.job_id],
        "started": sum(r.started for r in results),
    }
