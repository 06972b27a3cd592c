"""Adapter for the real HunyuanVideo-Foley, used only on a GPU endpoint.

Imported lazily by ``backend.load_backend`` when the ``hunyuanvideo_foley``
package, CUDA and weights in ``SM_MODEL_DIR`` are all present; nothing here
runs in CI. The model only scores the first 15 s of a clip, so longer clips
get 15 s of sound followed by silence up to the full duration, and the
response says so in ``notes``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from foley_server.backend import SAMPLE_RATE, FoleyAudio, target_samples
from foley_server.config import ServerConfig
from foley_server.video_motion import probe_duration_s
from foleycache.core.errors import InferenceFailed

MAX_SOUND_S = 15.0


class HunyuanFoleyModel:
    name = "hunyuan"

    def __init__(self, config: ServerConfig) -> None:
        import torch
        from hunyuanvideo_foley.utils.feature_utils import feature_process
        from hunyuanvideo_foley.utils.model_utils import denoise_process, load_model

        self._torch = torch
        self._feature_process = feature_process
        self._denoise_process = denoise_process
        self._config = config
        config_path = config.hunyuan_config_path or (
            config.model_dir / f"hunyuanvideo-foley-{config.hunyuan_model_size}.yaml"
        )
        self._model_dict, self._cfg = load_model(
            str(config.model_dir),
            str(config_path),
            torch.device("cuda"),
            enable_offload=False,
            model_size=config.hunyuan_model_size,
        )

    def generate(self, video_path: Path, prompt: str, model_version: str) -> FoleyAudio:
        duration_s = probe_duration_s(video_path)  # raises InvalidVideo before the GPU is touched
        try:
            with self._torch.inference_mode():
                visual, text, seconds = self._feature_process(
                    str(video_path), prompt, self._model_dict, self._cfg
                )
                audio, rate = self._denoise_process(
                    visual,
                    text,
                    seconds,
                    self._model_dict,
                    self._cfg,
                    guidance_scale=self._config.hunyuan_guidance_scale,
                    num_inference_steps=self._config.hunyuan_steps,
                )
        except Exception as err:
            raise InferenceFailed(f"HunyuanVideo-Foley failed: {err}") from err
        if int(rate) != SAMPLE_RATE:
            raise InferenceFailed(f"HunyuanVideo-Foley returned {rate} Hz, expected {SAMPLE_RATE}")
        return fit_to_duration(_mono(audio), duration_s)


def fit_to_duration(sound: np.ndarray, duration_s: float) -> FoleyAudio:
    """Trim or pad with silence to exactly the video's length; note any silent tail."""
    n = target_samples(duration_s)
    out = np.zeros(n, dtype=np.float32)
    used = min(n, sound.size)
    out[:used] = np.nan_to_num(sound[:used])
    notes: tuple[str, ...] = ()
    if duration_s > MAX_SOUND_S:
        notes = (
            f"HunyuanVideo-Foley generates at most {MAX_SOUND_S:.0f} s; "
            f"the remaining {duration_s - MAX_SOUND_S:.1f} s are silence",
        )
    return FoleyAudio(samples=out, sample_rate=SAMPLE_RATE, duration_s=duration_s, notes=notes)


def _mono(audio: Any) -> np.ndarray:
    """First item of the batch, channels averaged, as float32 on the CPU."""
    array = audio.detach().float().cpu().numpy() if hasattr(audio, "detach") else np.asarray(audio)
    array = np.asarray(array, dtype=np.float32)
    while array.ndim > 2:
        array = array[0]
    return array.mean(axis=0) if array.ndim == 2 else array
