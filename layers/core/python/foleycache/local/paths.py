"""Where the project's own files are, for the local stack and CLI."""

from __future__ import annotations

import os
from pathlib import Path

import foleycache


def repo_root() -> Path:
    """The checkout root (``layers/core/python/foleycache`` is four levels below it)."""
    env = os.environ.get("FOLEYCACHE_ROOT")
    return Path(env) if env else Path(foleycache.__file__).resolve().parents[4]


def state_dir() -> Path:
    env = os.environ.get("FOLEYCACHE_STATE_DIR")
    return Path(env) if env else repo_root() / ".foleycache"


def functions_dir() -> Path:
    return repo_root() / "functions"


#: The template's state machines and their ``DefinitionUri``.
_DEFINITIONS = {"PipelineStateMachine": "pipeline", "PrewarmStateMachine": "prewarm"}


def state_machine_definition(machine: str = "PipelineStateMachine") -> Path:
    return repo_root() / "infra" / "statemachine" / f"{_DEFINITIONS[machine]}.asl.json"
