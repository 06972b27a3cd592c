"""One finished job in the metrics, the same whichever way it finished.

A job ends in the pipeline's last step (:mod:`foleycache.pipeline.finish`) or, for an
upload and prompt already answered, at once in the API (an instant answer). Both count
here, once per job, so the hit ratio, the two timings and ``foleycache jobs list``
agree (see :mod:`foleycache.core.metrics` for what each measures). The version that
served the job is counted too (the ``...ByVersion`` metrics), so a canary's two sides can
be compared; "" (a job that failed before a version was chosen) is ``unknown``.
"""

from __future__ import annotations

from foleycache.core import metrics as M
from foleycache.core.errors import rejection_codes
from foleycache.services import Services

#: The ``ModelVersion`` of a job that ended before a version was chosen for it.
UNKNOWN_VERSION = "unknown"


def record_success(
    services: Services,
    tier: str,
    created_at: float | None,
    sound_at: float,
    saved_s: float,
    model_version: str,
) -> None:
    """``tier`` is a hit tier or ``miss``; ``sound_at`` 0 when unknown; ``saved_s`` the
    seconds of sound served without asking the model (a partial: the reused ones)."""
    version = model_version or UNKNOWN_VERSION
    services.metrics.emit(M.JOB_BY_VERSION, ModelVersion=version, Tier=tier)
    if tier == M.MISS_TIER:
        services.metrics.emit(M.MISS)
    else:
        services.metrics.emit(M.HIT, Tier=tier)
        services.metrics.emit(M.INFERENCE_SECONDS_SAVED, saved_s, Tier=tier)
    services.metrics.emit(M.JOB_FINISHED)
    if created_at is None:
        return
    now = services.clock.now()
    services.metrics.emit(M.TIME_TO_RESULT, max(now - created_at, 0.0), Tier=tier)
    services.metrics.emit(
        M.TIME_TO_RESULT_BY_VERSION, max(now - created_at, 0.0), ModelVersion=version
    )
    if sound_at:
        services.metrics.emit(M.TIME_TO_FIRST_SOUND, max(sound_at - created_at, 0.0), Tier=tier)


def record_failure(services: Services, code: str, stage: str, model_version: str = "") -> None:
    """Bad input is a rejection (by its code); anything else a failure of ``stage``, and of
    the version that served the job."""
    services.metrics.emit(M.JOB_FINISHED)
    if code in rejection_codes():
        services.metrics.emit(M.REJECTED, Class=code)
    else:
        services.metrics.emit(M.JOB_FAILED, Stage=stage)
        services.metrics.emit(
            M.JOB_FAILED_BY_VERSION, ModelVersion=model_version or UNKNOWN_VERSION
        )
