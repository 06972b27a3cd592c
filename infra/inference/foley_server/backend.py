"""What every Foley backend promises, and which one a container runs.

A *window model* (the CPU reference model, or HunyuanVideo-Foley on a GPU)
turns one window of a clip into sound. ``windowing.WindowedFoley`` runs it
over overlapping windows and joins them, so every clip length goes through the
same code path whatever the model, and the response says which model, which
weights and which window plan produced the audio.

The backend is chosen explicitly (``FOLEY_BACKEND``): nothing here looks at the
hardware to pick one, and a ``hunyuan`` endpoint that cannot load its model
fails to start (``/ping`` answers 500 with the reason) instead of serving
another model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from foley_server.config import ServerConfig

if TYPE_CHECKING:
    from foley_server.windowing import Window, WindowInput

SAMPLE_RATE = 48_000


class BackendUnavailable(RuntimeError):
    """The configured backend cannot run here; the server refuses to serve anything else."""


@dataclass(frozen=True)
class FoleyAudio:
    """Mono float32 audio exactly as long as the video (``samples == round(duration*rate)``)."""

    samples: np.ndarray
    sample_rate: int
    duration_s: float
    #: Honest caveats about this output.
    notes: tuple[str, ...] = field(default=())
    #: The windows the clip was generated in (one for a clip that fits in a window).
    windows: tuple[Window, ...] = field(default=())
    #: The sample ranges generated when only spans were asked for (empty: the whole clip).
    spans: tuple[tuple[int, int], ...] = field(default=())


@dataclass(frozen=True)
class ModelIdentity:
    """Which model produced the audio, bound to the content of its weights.

    ``derived_version`` is ``<backend>-<16 hex>``, a digest of the weights digest and
    every setting that shapes the output (window plan, steps, guidance, ...). The
    version the endpoint serves is ``MODEL_VERSION`` when set (the pipeline's cache
    namespace), else the derived one.
    """

    backend: str
    weights_digest: str
    derived_version: str
    served_version: str
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def version_source(self) -> str:
        return "derived" if self.served_version == self.derived_version else "MODEL_VERSION"

    def as_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "model_version": self.served_version,
            "model_version_source": self.version_source,
            "derived_model_version": self.derived_version,
            "weights_digest": self.weights_digest,
            "settings": dict(self.settings),
        }


def derive_identity(
    backend: str, weights_digest: str, settings: Mapping[str, Any], explicit_version: str | None
) -> ModelIdentity:
    material = json.dumps(
        {"backend": backend, "weights": weights_digest, "settings": settings},
        sort_keys=True,
        default=str,
    ).encode("utf-8")
    derived = f"{backend}-{hashlib.sha256(material).hexdigest()[:16]}"
    return ModelIdentity(
        backend=backend,
        weights_digest=weights_digest,
        derived_version=derived,
        served_version=explicit_version or derived,
        settings=dict(settings),
    )


class WindowModel(Protocol):
    """One model run: a window of the clip in, exactly ``window.n_samples`` samples out."""

    name: str
    #: The longest window the model scores; the configured window must not exceed it.
    max_window_s: float
    #: The shortest window the model can score (0 for none): a span or clip shorter than
    #: this is refused with a clear error rather than sent to the model.
    min_window_s: float

    def weights_digest(self) -> str:
        """``sha256:<hex>`` bound to the weights' (or, for the reference model, code's) content."""
        ...

    def settings(self) -> dict[str, Any]:
        """Every setting besides the weights that shapes the output (part of the version)."""
        ...

    def generate_window(self, clip: WindowInput, prompt: str, seed: int) -> np.ndarray:
        """Mono float32 at ``SAMPLE_RATE``, ``clip.window.n_samples`` long.

        Raise ``InvalidVideo`` for undecodable input, ``InferenceFailed`` otherwise.
        """
        ...


class FoleyBackend(Protocol):
    """What the service calls: a whole clip in, its sound out."""

    name: str
    identity: ModelIdentity

    def generate(
        self,
        video_path: Path,
        prompt: str,
        model_version: str,
        spans: tuple[tuple[float, float], ...] = (),
    ) -> FoleyAudio:
        """The clip's sound, or only ``spans`` of it (seconds; silence elsewhere).

        Raise ``InvalidVideo``/``VideoTooLarge`` for bad input, ``InferenceFailed`` otherwise.
        """
        ...


def target_samples(duration_s: float, sample_rate: int = SAMPLE_RATE) -> int:
    """The one rounding rule for audio length, shared by every backend."""
    return round(duration_s * sample_rate)


def load_window_model(config: ServerConfig) -> WindowModel:
    """The configured model, or ``BackendUnavailable`` naming everything that is missing."""
    if config.backend == "hunyuan":
        from foley_server.hunyuan import HunyuanFoleyModel, readiness_problems

        problems = readiness_problems(config)
        if problems:
            raise BackendUnavailable(
                "FOLEY_BACKEND=hunyuan cannot run here (this endpoint never serves another "
                "model instead): " + "; ".join(problems)
            )
        return HunyuanFoleyModel(config)
    from foley_server.reference_model import ReferenceFoleyModel

    return ReferenceFoleyModel()


def load_backend(config: ServerConfig) -> FoleyBackend:
    """The configured model behind the windowing every backend shares."""
    from foley_server.windowing import WindowedFoley, WindowSettings

    return WindowedFoley(
        load_window_model(config), WindowSettings.from_config(config), config.model_version
    )
