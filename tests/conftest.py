"""Shared fixtures: where the real test clips live."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def clips_dir() -> Path:
    """The shared real clips (read-only; never copied into the repo)."""
    path = Path(os.environ.get("FOLEYCACHE_CLIPS_DIR", REPO.parent / "shared" / "media" / "clips"))
    if not path.is_dir():
        raise RuntimeError(f"test clips not found at {path}; set FOLEYCACHE_CLIPS_DIR")
    return path
