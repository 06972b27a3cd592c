"""The server's settings, read from the environment in this one place.

The inference container is its own program (it never imports
``foleycache.settings``), so it has its own small settings object; every
other module receives a ``ServerConfig`` instead of reading ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

BackendChoice = Literal["auto", "reference", "hunyuan"]
_BACKENDS: tuple[BackendChoice, ...] = ("auto", "reference", "hunyuan")


@dataclass(frozen=True)
class ServerConfig:
    """Validated once at start-up, so a typo fails the container, not a request."""

    model_version: str = "foley-ref-1"
    backend: BackendChoice = "auto"
    model_dir: Path = Path("/opt/ml/model")
    port: int = 8080
    #: ``s3://bucket/prefix`` for async results (on AWS: EndpointConfig S3OutputPath).
    async_output_s3_uri: str = ""
    #: ``s3://bucket/prefix`` for async failures (on AWS: S3FailurePath); defaults to the output.
    async_failure_s3_uri: str = ""
    async_workers: int = 1
    hunyuan_model_size: str = "xxl"
    hunyuan_config_path: Path | None = None
    hunyuan_steps: int = 50
    hunyuan_guidance_scale: float = 4.5

    @property
    def failure_s3_uri(self) -> str:
        return self.async_failure_s3_uri or self.async_output_s3_uri

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerConfig:
        env = os.environ if env is None else env
        backend = env.get("FOLEY_BACKEND", "auto").strip().lower()
        if backend not in _BACKENDS:
            raise ValueError(f"FOLEY_BACKEND must be one of {_BACKENDS}, got {backend!r}")
        for name in ("ASYNC_OUTPUT_S3_URI", "ASYNC_FAILURE_S3_URI"):
            value = env.get(name, "")
            if value and not value.startswith("s3://"):
                raise ValueError(f"{name} must be an s3:// URI, got {value!r}")
        workers = int(env.get("ASYNC_WORKERS", "1"))
        if workers < 1:
            raise ValueError("ASYNC_WORKERS must be >= 1")
        model_version = env.get("MODEL_VERSION", "foley-ref-1").strip()
        if not model_version:
            raise ValueError("MODEL_VERSION must not be empty")
        config_path = env.get("HUNYUAN_CONFIG_PATH", "")
        return cls(
            model_version=model_version,
            backend=backend,
            model_dir=Path(env.get("SM_MODEL_DIR", "/opt/ml/model")),
            port=int(env.get("PORT", "8080")),
            async_output_s3_uri=env.get("ASYNC_OUTPUT_S3_URI", "").rstrip("/"),
            async_failure_s3_uri=env.get("ASYNC_FAILURE_S3_URI", "").rstrip("/"),
            async_workers=workers,
            hunyuan_model_size=env.get("HUNYUAN_MODEL_SIZE", "xxl"),
            hunyuan_config_path=Path(config_path) if config_path else None,
            hunyuan_steps=int(env.get("HUNYUAN_STEPS", "50")),
            hunyuan_guidance_scale=float(env.get("HUNYUAN_GUIDANCE_SCALE", "4.5")),
        )
