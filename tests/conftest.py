"""Shared fixtures: the real test clips, and the real local stack."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from foleycache.local.stack import StackInfo

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def clips_dir() -> Path:
    """The shared real clips (read-only; never copied into the repo)."""
    path = Path(os.environ.get("FOLEYCACHE_CLIPS_DIR", REPO.parent / "shared" / "media" / "clips"))
    if not path.is_dir():
        raise RuntimeError(f"test clips not found at {path}; set FOLEYCACHE_CLIPS_DIR")
    return path


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    """The real local stack (moto server, redis-server, inference server), once per session.

    It gets its own state directory, so it never touches a developer's running stack.
    """
    from foleycache.local import stack

    state = tmp_path_factory.mktemp("stack-state")
    os.environ["FOLEYCACHE_STATE_DIR"] = str(state)
    info = stack.start_daemon()
    saved = dict(os.environ)
    stack.use_stack(info)
    try:
        yield info
    finally:
        stack.stop_daemon()
        os.environ.clear()
        os.environ.update(saved)
