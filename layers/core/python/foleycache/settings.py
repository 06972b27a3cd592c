"""All configuration, read from the environment in one place.

The same variables configure Lambda (set by ``template.yaml``), the local
stack (set by ``foleycache stack``) and the inference container; endpoints of
AWS services are *not* here, because boto3 reads ``AWS_ENDPOINT_URL_<SERVICE>``
itself, which is what keeps local and deployed code identical.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from foleycache.core.rollout import Rollout

DAY_S = 86_400


class Settings(BaseModel):
    """Validated settings; built once per process (per Lambda container)."""

    model_config = ConfigDict(frozen=True)

    # Resource names have no defaults: a function missing one fails at cold start
    # instead of reading or writing another deployment's bucket. The template sets them.
    uploads_bucket: str = Field(alias="UPLOADS_BUCKET", min_length=3)
    cache_bucket: str = Field(alias="CACHE_BUCKET", min_length=3)
    table_name: str = Field(alias="TABLE_NAME", min_length=3)
    endpoint_name: str = Field(alias="SAGEMAKER_ENDPOINT_NAME", min_length=1)
    #: Part of every cache key; the template's ModelVersion parameter is its one source.
    model_version: str = Field(alias="MODEL_VERSION", min_length=1)
    #: A canary (issue 15): the candidate version, its endpoint and its share of cache keys
    #: (by hash, see :mod:`foleycache.core.rollout`). MODEL_VERSION stays the stable one.
    candidate_model_version: str = Field("", alias="CANDIDATE_MODEL_VERSION")
    candidate_endpoint_name: str = Field("", alias="CANDIDATE_ENDPOINT_NAME")
    canary_share: float = Field(0.0, alias="CANARY_SHARE", ge=0.0, le=1.0)
    #: The prewarm Distributed Map (infra/statemachine/prewarm.asl.json); only its starters.
    prewarm_state_machine_arn: str | None = Field(None, alias="PREWARM_STATE_MACHINE_ARN")
    #: Only the ingest function starts executions (see :meth:`require`).
    state_machine_arn: str | None = Field(None, alias="STATE_MACHINE_ARN")
    #: Only functions inside the VPC can reach Valkey; elsewhere it is absent (no L1).
    redis_url: str = Field("", alias="REDIS_URL")

    uploads_prefix: str = Field("uploads/", alias="UPLOADS_PREFIX")
    outputs_prefix: str = Field("outputs/", alias="OUTPUTS_PREFIX")

    l1_ttl_s: int = Field(7 * DAY_S, alias="L1_TTL_SECONDS", gt=0)
    archive_after_days: int = Field(90, alias="ARCHIVE_AFTER_DAYS", gt=0)
    negative_ttl_s: int = Field(600, alias="NEGATIVE_TTL_SECONDS", ge=0)
    # Longer than the Inference state may wait (3,600 s): a holder whose run is still in
    # flight never loses its lease to a waiter, which would start the run a second time.
    lease_s: int = Field(3700, alias="LEASE_SECONDS", gt=0)

    max_video_bytes: int = Field(2 * 1024**3, alias="MAX_VIDEO_BYTES", gt=0)
    max_duration_s: float = Field(600.0, alias="MAX_DURATION_SECONDS", gt=0)
    max_pixels: int = Field(3840 * 2160, alias="MAX_PIXELS", gt=0)
    max_fps: float = Field(120.0, alias="MAX_FPS", gt=0)
    max_frames: int = Field(36_000, alias="MAX_FRAMES", gt=0)
    # What the one encode may cost (width x height x frames): ~10 min of 1080p60 fits
    # the mux Lambda's 900 s.
    max_encoded_pixels: int = Field(1920 * 1080 * 36_000, alias="MAX_ENCODED_PIXELS", gt=0)
    #: A lower ABR rung for copied (deliverable) video costs an encode; off by default.
    ladder_on_copy: bool = Field(False, alias="LADDER_ON_COPY")
    max_prompt_chars: int = Field(1000, alias="MAX_PROMPT_CHARS", gt=0)
    default_prompt: str = Field("", alias="DEFAULT_PROMPT")

    segment_s: float = Field(2.0, alias="SEGMENT_SECONDS", gt=0)
    ffmpeg: str = Field("ffmpeg", alias="FFMPEG_PATH")
    ffprobe: str = Field("ffprobe", alias="FFPROBE_PATH")
    work_dir: str = Field("/tmp", alias="WORK_DIR")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        known = {f.alias for f in cls.model_fields.values() if f.alias}
        return cls.model_validate({k: v for k, v in env.items() if k in known})

    def rollout(self) -> Rollout:
        """Which version serves which key (stable, candidate, share)."""
        return Rollout(self.model_version, self.candidate_model_version, self.canary_share)

    def endpoint_for(self, version: str) -> str:
        """The endpoint that serves ``version``: SageMaker async endpoints take no target
        variant, so a candidate runs on an endpoint of its own."""
        if version == self.model_version:
            return self.endpoint_name
        if version and version == self.candidate_model_version and self.candidate_endpoint_name:
            return self.candidate_endpoint_name
        raise ConfigurationError(
            f"no endpoint serves model version {version!r}: it is neither MODEL_VERSION "
            f"({self.model_version!r}) nor a CANDIDATE_MODEL_VERSION with a CANDIDATE_ENDPOINT_NAME"
        )

    def require(self, *names: str) -> None:
        """Fail at cold start when a setting this function needs is unset."""
        missing = [
            field.alias or name
            for name, field in type(self).model_fields.items()
            if name in names and not getattr(self, name)
        ]
        if missing:
            raise ConfigurationError(f"missing environment variable(s): {', '.join(missing)}")


class ConfigurationError(RuntimeError):
    """The function's environment lacks a setting it needs (a deployment error)."""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use (cold start) and then reused."""
    return Settings.from_env()
