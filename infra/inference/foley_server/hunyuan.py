"""Adapter for the real HunyuanVideo-Foley (Tencent-Hunyuan/HunyuanVideo-Foley), GPU endpoint only.

Upstream's Python path is three calls (``hunyuanvideo_foley.utils``)::

    model_dict, cfg = model_utils.load_model(model_path, config_path, device,
                                             enable_offload=False, model_size=None)
    visual, text, secs = feature_utils.feature_process(video_path, prompt, model_dict, cfg,
                                                       neg_prompt=None)
    audio, rate = model_utils.denoise_process(visual, text, secs, model_dict, cfg,
                                              guidance_scale=4.5, num_inference_steps=50,
                                              batch_size=1)

What this adapter adds around them:

* **Everything local.** ``load_model`` reads the checkpoints from ``model_path`` but calls
  ``AutoModel.from_pretrained("google/siglip2-base-patch16-512")`` and
  ``AutoTokenizer``/``ClapTextModelWithProjection.from_pretrained("laion/larger_clap_general")``,
  which would fetch from a model hub. The adapter validates the artefact layout
  (``HunyuanLayout``, documented in the README) and replaces those three names in upstream's
  ``model_utils`` with loaders that map each hub id to its folder in the artefact, with
  ``local_files_only=True`` (and ``HF_HUB_OFFLINE=1``): a missing encoder fails at start-up,
  and nothing is ever fetched at run time (offload mode loads lazily through the same names).
* **The config YAML** comes from ``HUNYUAN_CONFIG_PATH``, else ``<model dir>/configs/``, else
  the copy of upstream's ``configs/`` the GPU image carries (``HUNYUAN_CONFIG_DIR``).
* **A seed per window**, set (python, numpy, torch: upstream ``infer.py``'s ``set_manual_seed``)
  before each window's calls, derived from (video digest, prompt, model version).
* **Windows.** ``generate_window`` runs on the window's own sub-clip; ``windowing.WindowedFoley``
  plans the windows (at most 15 s, the model's limit) and crossfades them.
* **A content-bound weights digest**: every file's name, size and a hash of its first and
  last MiB, plus a full hash of the config YAML; cheap enough to compute at every start.

Nothing here runs in CI against the real model; ``tests/unit/test_hunyuan_adapter.py`` runs
it against a stand-in module with upstream's three functions and signatures.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import random
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from foley_server.backend import SAMPLE_RATE, BackendUnavailable
from foley_server.config import (
    HUNYUAN_MAX_WINDOW_S,
    HUNYUAN_MIN_WINDOW_S,
    ModelSize,
    ServerConfig,
)
from foleycache.core.errors import InferenceFailed

if TYPE_CHECKING:
    from foley_server.windowing import WindowInput

PACKAGE = "hunyuanvideo_foley"
SIGLIP2_HUB_ID = "google/siglip2-base-patch16-512"
CLAP_HUB_ID = "laion/larger_clap_general"
#: Upstream's checkpoint file per model size (``load_model``'s ``model_file_mapping``).
CHECKPOINTS: dict[str, str] = {"xxl": "hunyuanvideo_foley.pth", "xl": "hunyuanvideo_foley_xl.pth"}
VAE_CHECKPOINT = "vae_128d_48k.pth"
SYNCHFORMER_CHECKPOINT = "synchformer_state_dict.pth"
SIGLIP2_DIR = "siglip2"
CLAP_DIR = "clap"
CONFIGS_DIR = "configs"
#: The transformers classes upstream's ``model_utils`` loads the encoders with.
ENCODER_LOADERS = ("AutoModel", "AutoTokenizer", "ClapTextModelWithProjection")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt")
_SAMPLE_BYTES = 1 << 20
#: The parameters the adapter passes, per upstream function, in upstream's order.
UPSTREAM_SIGNATURES: dict[str, tuple[str, ...]] = {
    "load_model": ("model_path", "config_path", "device", "enable_offload", "model_size"),
    "feature_process": ("video_path", "prompt", "model_dict", "cfg", "neg_prompt"),
    "denoise_process": (
        "visual_feats",
        "text_feats",
        "audio_len_in_s",
        "model_dict",
        "cfg",
        "guidance_scale",
        "num_inference_steps",
        "batch_size",
    ),
}
#: Upstream's Synchformer reads this file next to its code and *downloads* it when absent;
#: an install that dropped it would fetch at run time.
SYNCHFORMER_YAML = ("models", "synchformer", "divided_224_16x4.yaml")


@dataclass(frozen=True)
class HunyuanLayout:
    """The model artefact (``SM_MODEL_DIR``) as the adapter expects it; see the README."""

    model_dir: Path
    model_size: ModelSize
    config_candidates: tuple[Path, ...]

    @classmethod
    def from_config(cls, config: ServerConfig) -> HunyuanLayout:
        name = f"hunyuanvideo-foley-{config.hunyuan_model_size}.yaml"
        if config.hunyuan_config_path is not None:
            candidates: tuple[Path, ...] = (config.hunyuan_config_path,)
        else:
            candidates = (config.model_dir / CONFIGS_DIR / name,)
            if config.hunyuan_config_dir is not None:
                candidates += (config.hunyuan_config_dir / name,)
        return cls(config.model_dir, config.hunyuan_model_size, candidates)

    @property
    def checkpoint(self) -> Path:
        return self.model_dir / CHECKPOINTS[self.model_size]

    @property
    def checkpoints(self) -> tuple[Path, ...]:
        return (
            self.checkpoint,
            self.model_dir / VAE_CHECKPOINT,
            self.model_dir / SYNCHFORMER_CHECKPOINT,
        )

    @property
    def siglip2(self) -> Path:
        return self.model_dir / SIGLIP2_DIR

    @property
    def clap(self) -> Path:
        return self.model_dir / CLAP_DIR

    @property
    def config_path(self) -> Path | None:
        return next((path for path in self.config_candidates if path.is_file()), None)

    def encoder_paths(self) -> dict[str, Path]:
        """Hub id -> local folder, for every encoder upstream would fetch."""
        return {SIGLIP2_HUB_ID: self.siglip2, CLAP_HUB_ID: self.clap}

    def problems(self) -> list[str]:
        """Everything missing, each named; empty when the model can be loaded from disk."""
        if not self.model_dir.is_dir():
            return [f"the model directory {self.model_dir} does not exist (SM_MODEL_DIR)"]
        problems = [
            f"checkpoint {path.name} is missing or empty in {self.model_dir}"
            for path in self.checkpoints
            if not path.is_file() or path.stat().st_size == 0
        ]
        for hub_id, folder in self.encoder_paths().items():
            problems += _encoder_problems(hub_id, folder)
        if self.clap.is_dir() and not (self.clap / "tokenizer_config.json").is_file():
            problems.append(f"{CLAP_HUB_ID} in {self.clap} has no tokenizer_config.json")
        if self.config_path is None:
            looked = ", ".join(str(path) for path in self.config_candidates)
            problems.append(f"no config YAML for model size {self.model_size}: looked at {looked}")
        return problems

    def files(self) -> list[Path]:
        """Every file the model reads (hidden download-tool folders left out), sorted."""
        found = [path for path in self.checkpoints if path.is_file()]
        for folder in (self.siglip2, self.clap):
            if folder.is_dir():
                found += [
                    path
                    for path in folder.rglob("*")
                    if path.is_file()
                    and not any(part.startswith(".") for part in path.relative_to(folder).parts)
                ]
        return sorted(found)

    def digest(self) -> str:
        """``sha256:<hex>`` of every file's name, size and first/last MiB, and the config YAML."""
        digest = hashlib.sha256()
        for path in self.files():
            rel = path.relative_to(self.model_dir).as_posix()
            size = path.stat().st_size
            digest.update(f"{rel}\x00{size}\x00{_sampled_sha256(path, size)}\n".encode())
        config = self.config_path
        if config is not None:
            digest.update(b"config\x00" + hashlib.sha256(config.read_bytes()).digest())
        return f"sha256:{digest.hexdigest()}"


def _encoder_problems(hub_id: str, folder: Path) -> list[str]:
    if not folder.is_dir():
        return [
            f"{hub_id} is missing: expected its files in {folder} "
            "(encoders are never fetched at run time)"
        ]
    problems = []
    if not (folder / "config.json").is_file():
        problems.append(f"{hub_id} in {folder} has no config.json")
    if not any(path.suffix in _WEIGHT_SUFFIXES for path in folder.iterdir()):
        problems.append(f"{hub_id} in {folder} has no weights (*.safetensors or *.bin)")
    return problems


def _sampled_sha256(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        digest.update(handle.read(_SAMPLE_BYTES))
        if size > 2 * _SAMPLE_BYTES:
            handle.seek(size - _SAMPLE_BYTES)
            digest.update(handle.read(_SAMPLE_BYTES))
        elif size > _SAMPLE_BYTES:
            digest.update(handle.read())
    return digest.hexdigest()


def _module_available(name: str) -> bool:
    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _package_problems() -> list[str]:
    if not _module_available(PACKAGE):
        return [
            f"the {PACKAGE} package is not installed (build the image from "
            "infra/inference/Dockerfile.gpu)"
        ]
    module = sys.modules.get(PACKAGE)
    if module is not None:
        locations = list(getattr(module, "__path__", []))
    else:
        spec = importlib.util.find_spec(PACKAGE)
        locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        if not Path(location, *SYNCHFORMER_YAML).is_file():
            return [
                f"{PACKAGE} at {location} lacks {'/'.join(SYNCHFORMER_YAML)}, which upstream "
                "would download at run time (install from the source tree, as Dockerfile.gpu does)"
            ]
    return []


def signature_problems(model_utils: ModuleType, feature_utils: ModuleType) -> list[str]:
    """Whether upstream's three functions still take what the adapter passes."""
    problems = []
    for module in (model_utils, feature_utils):
        for name, expected in UPSTREAM_SIGNATURES.items():
            function = getattr(module, name, None)
            if function is None:
                continue
            found = tuple(inspect.signature(function).parameters)
            if found[: len(expected)] != expected:
                problems.append(f"{module.__name__}.{name}{found} is not {name}{expected}")
    for module, names in (
        (model_utils, ("load_model", "denoise_process")),
        (feature_utils, ("feature_process",)),
    ):
        problems += [f"{module.__name__} has no {n}" for n in names if not hasattr(module, n)]
    return problems


def verify_upstream() -> None:
    """Import upstream and check its signatures (run at image build time and at start-up)."""
    model_utils = importlib.import_module(f"{PACKAGE}.utils.model_utils")
    feature_utils = importlib.import_module(f"{PACKAGE}.utils.feature_utils")
    problems = _package_problems() + signature_problems(model_utils, feature_utils)
    if problems:
        raise BackendUnavailable(
            "the installed HunyuanVideo-Foley does not match the adapter: " + "; ".join(problems)
        )


def readiness_problems(config: ServerConfig) -> list[str]:
    """Why ``FOLEY_BACKEND=hunyuan`` cannot run here: package, CUDA and artefact, all named."""
    problems = _package_problems()
    if config.hunyuan_device.startswith("cuda"):
        if not _module_available("torch"):
            problems.append("torch is not installed")
        else:
            import torch  # deferred: seconds to import, and only on this path

            if not torch.cuda.is_available():
                problems.append("no CUDA GPU is visible (torch.cuda.is_available() is False)")
    problems += HunyuanLayout.from_config(config).problems()
    return problems


class LocalPretrained:
    """Stands in for a transformers class in upstream's module: hub id -> artefact folder."""

    def __init__(self, real: Any, local: Mapping[str, Path]) -> None:
        self.real = real
        self.local = dict(local)

    def from_pretrained(self, name_or_path: Any, *args: Any, **kwargs: Any) -> Any:
        name = str(name_or_path)
        local = self.local.get(name)
        if local is None and Path(name) in self.local.values():
            local = Path(name)
        if local is None:
            raise BackendUnavailable(
                f"HunyuanVideo-Foley asked for {name!r}, which the model artefact does not "
                "hold; nothing is fetched at run time"
            )
        kwargs["local_files_only"] = True
        return self.real.from_pretrained(str(local), *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def use_local_encoders(model_utils: ModuleType, local: Mapping[str, Path]) -> None:
    """Make upstream's ``load_model`` (and offload's lazy loads) read the encoders from disk."""
    for attr in ENCODER_LOADERS:
        real = getattr(model_utils, attr, None)
        if real is None:
            raise BackendUnavailable(
                f"{model_utils.__name__} has no {attr}: the pinned upstream commit changed how "
                "it loads its encoders; update foley_server/hunyuan.py"
            )
        if isinstance(real, LocalPretrained):
            real = real.real
        setattr(model_utils, attr, LocalPretrained(real, local))


def set_manual_seed(seed: int) -> None:
    """Upstream ``infer.py``'s ``set_manual_seed``: python, numpy and torch (all devices)."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class HunyuanFoleyModel:
    name = "hunyuan"
    max_window_s = HUNYUAN_MAX_WINDOW_S
    min_window_s = HUNYUAN_MIN_WINDOW_S

    def __init__(self, config: ServerConfig) -> None:
        layout = HunyuanLayout.from_config(config)
        problems = layout.problems()
        if problems:
            raise BackendUnavailable("the model artefact is incomplete: " + "; ".join(problems))
        config_path = layout.config_path
        assert config_path is not None  # problems() said so
        for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
            os.environ.setdefault(variable, "1")
        import torch

        model_utils = importlib.import_module(f"{PACKAGE}.utils.model_utils")
        feature_utils = importlib.import_module(f"{PACKAGE}.utils.feature_utils")
        verify_upstream()
        use_local_encoders(model_utils, layout.encoder_paths())
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False

        self._torch = torch
        self._config = config
        self.layout = layout
        self._digest = layout.digest()
        self._feature_process = feature_utils.feature_process
        self._denoise_process = model_utils.denoise_process
        self._model_dict, self._cfg = model_utils.load_model(
            str(layout.model_dir),
            str(config_path),
            torch.device(config.hunyuan_device),
            enable_offload=config.hunyuan_offload,
            model_size=config.hunyuan_model_size,
        )

    def weights_digest(self) -> str:
        return self._digest

    def settings(self) -> dict[str, Any]:
        """What shapes the sound besides the weights (offload and device do not)."""
        config = self._config
        return {
            "model_size": config.hunyuan_model_size,
            "steps": config.hunyuan_steps,
            "guidance_scale": config.hunyuan_guidance_scale,
            "neg_prompt": config.hunyuan_neg_prompt,
            "sample_rate": SAMPLE_RATE,
        }

    def generate_window(self, clip: WindowInput, prompt: str, seed: int) -> np.ndarray:
        video = clip.subclip()  # InvalidVideo before the GPU is touched
        config = self._config
        try:
            with self._torch.inference_mode():
                set_manual_seed(seed)
                visual, text, seconds = self._feature_process(
                    str(video),
                    prompt,
                    self._model_dict,
                    self._cfg,
                    neg_prompt=config.hunyuan_neg_prompt,
                )
                audio, rate = self._denoise_process(
                    visual,
                    text,
                    seconds,
                    self._model_dict,
                    self._cfg,
                    guidance_scale=config.hunyuan_guidance_scale,
                    num_inference_steps=config.hunyuan_steps,
                    batch_size=1,
                )
        except Exception as err:
            raise InferenceFailed(
                f"HunyuanVideo-Foley failed on window {clip.window.index} "
                f"({clip.window.start_s:.2f}-{clip.window.end_s:.2f} s): {err}"
            ) from err
        if int(rate) != SAMPLE_RATE:
            raise InferenceFailed(f"HunyuanVideo-Foley returned {rate} Hz, expected {SAMPLE_RATE}")
        return fit_to_length(_mono(audio), clip.window.n_samples)


def fit_to_length(sound: np.ndarray, n_samples: int) -> np.ndarray:
    """Trim, or pad with silence (the model rounds to whole video frames), to the window."""
    out = np.zeros(n_samples, dtype=np.float32)
    used = min(n_samples, sound.size)
    out[:used] = np.nan_to_num(sound[:used])
    return out


def _mono(audio: Any) -> np.ndarray:
    """First item of the batch, channels averaged, as float32 on the CPU."""
    array = audio.detach().float().cpu().numpy() if hasattr(audio, "detach") else np.asarray(audio)
    array = np.asarray(array, dtype=np.float32)
    while array.ndim > 2:
        array = array[0]
    return array.mean(axis=0) if array.ndim == 2 else array
