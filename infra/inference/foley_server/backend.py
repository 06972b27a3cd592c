"""What every Foley backend promises, and which one a container runs.

The server only knows this interface, so the CPU reference model (tests,
local stack) and HunyuanVideo-Foley (GPU endpoint) are interchangeable, and
the response always says which one produced the audio.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from foley_server.config import ServerConfig

SAMPLE_RATE = 48_000


@dataclass(frozen=True)
class FoleyAudio:
    """Mono float32 audio exactly as long as the video (``samples == round(duration*rate)``)."""

    samples: np.ndarray
    sample_rate: int
    duration_s: float
    #: Honest caveats about this output (e.g. "only the first 15 s have sound").
    notes: tuple[str, ...] = field(default=())


class FoleyBackend(Protocol):
    name: str

    def generate(self, video_path: Path, prompt: str, model_version: str) -> FoleyAudio:
        """Raise ``InvalidVideo`` for undecodable input, ``InferenceFailed`` otherwise."""
        ...


def target_samples(duration_s: float, sample_rate: int = SAMPLE_RATE) -> int:
    """The one rounding rule for audio length, shared by every backend."""
    return round(duration_s * sample_rate)


def hunyuan_available(config: ServerConfig) -> bool:
    """True only where the real model can run: package, CUDA and weights all present."""
    if importlib.util.find_spec("hunyuanvideo_foley") is None:
        return False
    if not (config.model_dir.is_dir() and any(config.model_dir.iterdir())):
        return False
    import torch  # deferred: costs seconds and is useless without the package above

    return bool(torch.cuda.is_available())


def load_backend(config: ServerConfig) -> FoleyBackend:
    """Build the configured backend; ``hunyuan`` asked for but unavailable is a start-up error."""
    use_hunyuan = config.backend == "hunyuan" or (
        config.backend == "auto" and hunyuan_available(config)
    )
    if use_hunyuan:
        if config.backend == "hunyuan" and not hunyuan_available(config):
            raise RuntimeError(
                "FOLEY_BACKEND=hunyuan needs the hunyuanvideo_foley package, a CUDA GPU "
                f"and weights in {config.model_dir}"
            )
        from foley_server.hunyuan import HunyuanFoleyModel

        return HunyuanFoleyModel(config)
    from foley_server.reference_model import ReferenceFoleyModel

    return ReferenceFoleyModel()
