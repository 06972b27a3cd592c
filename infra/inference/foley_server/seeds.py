"""Where every backend's randomness comes from: a pure function of the request.

A request's seed is derived from (video content, prompt, model version), and
each window of a long clip gets its own seed derived from that one, so a rerun
of the same request gives the same sound, window by window, on every backend.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def seed_for(video_digest: str, prompt: str, model_version: str) -> int:
    """The request's seed (64 bits); the output is a pure function of these three inputs."""
    material = "\x00".join((video_digest, prompt, model_version)).encode("utf-8")
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big")


def window_seed(request_seed: int, index: int) -> int:
    """The seed of window ``index``; window 0 keeps the request's seed.

    So a clip that fits in one window sounds exactly as a single pass over it does.
    """
    if index == 0:
        return request_seed
    material = f"{request_seed}\x00window\x00{index}".encode()
    return int.from_bytes(hashlib.sha256(material).digest()[:8], "big")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
