"""Pipeline end: write the outcome to the job record.

A failure's ``Cause`` is the Lambda error payload (``errorType`` and
``errorMessage``); the record keeps the typed code and the human sentence,
never a stack trace.
"""

from __future__ import annotations

import json

from foleycache.core.job import JobStatus
from foleycache.usecases.pipeline_state import FailedState, PipelineState
from foleycache.usecases.services import Services


def succeed(services: Services, state: PipelineState) -> PipelineState:
    services.jobs.update(
        state.job_id,
        status=JobStatus.SUCCEEDED.value,
        stage="done",
        cache=state.cache,
        outputs=state.outputs,
        updated_at=services.clock.now(),
    )
    services.metrics.count(f"Job{state.cache.capitalize() or 'Unknown'}")
    return state


def describe_failure(error: str, cause: str) -> tuple[str, str]:
    """(code, message) from a Step Functions Error/Cause pair."""
    try:
        payload = json.loads(cause)
    except (json.JSONDecodeError, TypeError):
        payload = None
    if isinstance(payload, dict):
        return str(payload.get("errorType") or error), str(payload.get("errorMessage") or error)
    return error, cause or error


def fail(services: Services, state: FailedState) -> dict[str, str]:
    code, message = describe_failure(state.failure.Error, state.failure.Cause)
    services.jobs.update(
        state.job_id,
        status=JobStatus.FAILED.value,
        stage="failed",
        error={"code": code, "message": message},
        updated_at=services.clock.now(),
    )
    services.metrics.count("JobFailed")
    return {"job_id": state.job_id, "status": "failed", "error": message, "error_code": code}
