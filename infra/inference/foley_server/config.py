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

BackendChoice = Literal["reference", "hunyuan"]
_BACKENDS: tuple[BackendChoice, ...] = ("reference", "hunyuan")
ModelSize = Literal["xl", "xxl"]
_SIZES: tuple[ModelSize, ...] = ("xl", "xxl")

#: The longest window HunyuanVideo-Foley scores (it ignores everything after 15 s).
HUNYUAN_MAX_WINDOW_S = 15.0
#: The shortest it scores: its synchronisation features take 16 frames at 25 fps
#: (shared/notes/foley-model.md), so a clip under 0.64 s has no segment to condition on.
HUNYUAN_MIN_WINDOW_S = 0.64
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class ServerConfig:
    """Validated once at start-up, so a typo fails the container, not a request."""

    #: ``MODEL_VERSION`` when set: the version this endpoint reports and accepts. ``None``:
    #: the version derived from the backend and its weights digest (``ModelIdentity``).
    model_version: str | None = None
    #: Chosen explicitly; nothing is picked by what hardware happens to be present.
    backend: BackendChoice = "reference"
    model_dir: Path = Path("/opt/ml/model")
    port: int = 8080
    #: ``s3://bucket/prefix`` for async results (on AWS: EndpointConfig S3OutputPath).
    async_output_s3_uri: str = ""
    #: ``s3://bucket/prefix`` for async failures (on AWS: S3FailurePath); defaults to the output.
    async_failure_s3_uri: str = ""
    async_workers: int = 1
    #: Longest window one model run sees; longer clips are cut into overlapping windows.
    window_s: float = 10.0
    #: Overlap of neighbouring windows, joined there by an equal-power crossfade.
    window_overlap_s: float = 1.0
    #: Longest clip accepted at all (400 ``VideoTooLarge`` beyond it).
    max_duration_s: float = 600.0
    hunyuan_model_size: ModelSize = "xxl"
    #: Explicit config YAML; else ``<model_dir>/configs/``, else ``hunyuan_config_dir``.
    hunyuan_config_path: Path | None = None
    #: Where the image keeps upstream's ``configs/`` (Dockerfile.gpu sets it).
    hunyuan_config_dir: Path | None = None
    hunyuan_steps: int = 50
    hunyuan_guidance_scale: float = 4.5
    #: ``None``: upstream's default negative prompt ("noisy, harsh").
    hunyuan_neg_prompt: str | None = None
    #: Upstream's ``enable_offload``: less GPU memory, but models are reloaded every window.
    hunyuan_offload: bool = False
    hunyuan_device: str = "cuda"

    def __post_init__(self) -> None:
        if self.backend not in _BACKENDS:
            raise ValueError(_backend_message(str(self.backend)))
        if self.hunyuan_model_size not in _SIZES:
            raise ValueError(f"HUNYUAN_MODEL_SIZE must be one of {_SIZES}")
        if not self.window_s >= 1.0:
            raise ValueError(f"FOLEY_WINDOW_S must be >= 1 s, got {self.window_s}")
        if not 0.0 <= self.window_overlap_s <= self.window_s / 3.0:
            raise ValueError(
                "FOLEY_WINDOW_OVERLAP_S must be between 0 and a third of FOLEY_WINDOW_S "
                f"(so only neighbouring windows overlap), got {self.window_overlap_s}"
            )
        if self.max_duration_s <= 0:
            raise ValueError("FOLEY_MAX_DURATION_S must be > 0")
        if self.backend == "hunyuan" and self.window_s > HUNYUAN_MAX_WINDOW_S:
            raise ValueError(
                f"FOLEY_WINDOW_S={self.window_s:g} is longer than the {HUNYUAN_MAX_WINDOW_S:g} s "
                "HunyuanVideo-Foley scores; the rest of each window would be silent"
            )
        if self.hunyuan_steps < 1 or self.hunyuan_guidance_scale <= 0:
            raise ValueError("HUNYUAN_STEPS must be >= 1 and HUNYUAN_GUIDANCE_SCALE > 0")

    @property
    def failure_s3_uri(self) -> str:
        return self.async_failure_s3_uri or self.async_output_s3_uri

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerConfig:
        env = os.environ if env is None else env
        backend = env.get("FOLEY_BACKEND", "reference").strip().lower() or "reference"
        if backend not in _BACKENDS:
            raise ValueError(_backend_message(backend))
        for name in ("ASYNC_OUTPUT_S3_URI", "ASYNC_FAILURE_S3_URI"):
            value = env.get(name, "")
            if value and not value.startswith("s3://"):
                raise ValueError(f"{name} must be an s3:// URI, got {value!r}")
        workers = int(env.get("ASYNC_WORKERS", "1"))
        if workers < 1:
            raise ValueError("ASYNC_WORKERS must be >= 1")
        model_version = env.get("MODEL_VERSION", "").strip() or None
        size = env.get("HUNYUAN_MODEL_SIZE", "xxl").strip().lower()
        if size not in _SIZES:
            raise ValueError(f"HUNYUAN_MODEL_SIZE must be one of {_SIZES}, got {size!r}")
        config_path = env.get("HUNYUAN_CONFIG_PATH", "").strip()
        config_dir = env.get("HUNYUAN_CONFIG_DIR", "").strip()
        neg_prompt = env.get("HUNYUAN_NEG_PROMPT", "").strip()
        return cls(
            model_version=model_version,
            backend=backend,
            model_dir=Path(env.get("SM_MODEL_DIR", "/opt/ml/model")),
            port=int(env.get("PORT", "8080")),
            async_output_s3_uri=env.get("ASYNC_OUTPUT_S3_URI", "").rstrip("/"),
            async_failure_s3_uri=env.get("ASYNC_FAILURE_S3_URI", "").rstrip("/"),
            async_workers=workers,
            window_s=float(env.get("FOLEY_WINDOW_S", "10")),
            window_overlap_s=float(env.get("FOLEY_WINDOW_OVERLAP_S", "1")),
            max_duration_s=float(env.get("FOLEY_MAX_DURATION_S", "600")),
            hunyuan_model_size=size,
            hunyuan_config_path=Path(config_path) if config_path else None,
            hunyuan_config_dir=Path(config_dir) if config_dir else None,
            hunyuan_steps=int(env.get("HUNYUAN_STEPS", "50")),
            hunyuan_guidance_scale=float(env.get("HUNYUAN_GUIDANCE_SCALE", "4.5")),
            hunyuan_neg_prompt=neg_prompt or None,
            hunyuan_offload=_flag(env, "HUNYUAN_ENABLE_OFFLOAD"),
            hunyuan_device=env.get("HUNYUAN_DEVICE", "cuda").strip() or "cuda",
        )


def _backend_message(value: str) -> str:
    if value == "auto":
        return (
            "FOLEY_BACKEND=auto is no longer supported: it let a GPU endpoint that could not "
            "load HunyuanVideo-Foley silently serve the CPU reference model. Set "
            "FOLEY_BACKEND=reference or FOLEY_BACKEND=hunyuan explicitly"
        )
    return f"FOLEY_BACKEND must be one of {_BACKENDS}, got {value!r}"


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be one of {_TRUE + _FALSE}, got {value!r}")
