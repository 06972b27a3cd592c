"""The build's settings, read from ``pyproject.toml`` (its one source of truth).

``[project].dependencies`` is what every Lambda function needs; ``[tool.foleycache.build]``
says which of those Lambda's runtime already provides, the platforms to fetch wheels
for, the size limits and the pinned build tools.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = ROOT / "build"
SAM_BUILD_DIR = ROOT / ".aws-sam" / "build"


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@dataclass(frozen=True)
class BuildConfig:
    dependencies: tuple[str, ...]
    extras: dict[str, tuple[str, ...]]
    runtime: str
    runtime_provided: frozenset[str]
    platforms: tuple[str, ...]
    zip_limit_bytes: int
    image_limit_bytes: int
    ffmpeg_package: str
    sam_cli: str

    @property
    def python_version(self) -> str:
        """``python3.12`` -> ``3.12``."""
        return self.runtime.removeprefix("python")

    def is_runtime_provided(self, distribution: str) -> bool:
        return _canonical(distribution) in self.runtime_provided

    def wheel_args(self) -> list[str]:
        """pip arguments that select wheels for Lambda's runtime, whatever runs pip."""
        args = ["--only-binary=:all:", "--implementation", "cp"]
        args += ["--python-version", self.python_version]
        for platform in self.platforms:
            args += ["--platform", platform]
        return args


@cache
def load() -> BuildConfig:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project, build = data["project"], data["tool"]["foleycache"]["build"]
    return BuildConfig(
        dependencies=tuple(project["dependencies"]),
        extras={k: tuple(v) for k, v in project["optional-dependencies"].items()},
        runtime=build["runtime"],
        runtime_provided=frozenset(_canonical(n) for n in build["runtime-provided"]),
        platforms=tuple(build["platforms"]),
        zip_limit_bytes=int(build["zip-limit-bytes"]),
        image_limit_bytes=int(build["image-limit-bytes"]),
        ffmpeg_package=build["ffmpeg-package"],
        sam_cli=build["sam-cli"],
    )


#: What the artefacts are built from; a change to any of these makes them stale. (Not
#: template.yaml: the local stack reads it live, and a function it adds without a build
#: is reported missing by name.)
SOURCES = ("pyproject.toml", "functions", "layers", "infra/inference")


def source_digest(root: Path = ROOT) -> str:
    """A digest of the sources the artefacts are built from (caches and builds excluded)."""
    import hashlib

    digest = hashlib.sha256()
    for source in SOURCES:
        path = root / source
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            parts = file.relative_to(root).parts
            skipped = {"__pycache__", "build", "models"}
            if skipped & set(parts) or any(p.endswith(".egg-info") for p in parts):
                continue
            digest.update(str(file.relative_to(root)).encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()


class BuildError(RuntimeError):
    """The build cannot go on; the message says what is missing and how to get it."""


def find_runtime_python(runtime: str) -> Path:
    """The interpreter of Lambda's runtime (``python3.12``): on PATH, or through pyenv."""
    version = runtime.removeprefix("python")
    explicit = os.environ.get("LAMBDA_PYTHON")
    candidates: list[tuple[list[str], dict[str, str]]] = []
    if explicit:
        candidates.append(([explicit], {}))
    candidates.append(([runtime], {}))
    pyenv = shutil.which("pyenv")
    if pyenv:
        listed = subprocess.run(
            [pyenv, "versions", "--bare"], capture_output=True, text=True, check=False
        ).stdout.split()
        for name in sorted((v for v in listed if v.startswith(version + ".")), reverse=True):
            candidates.append(([runtime], {"PYENV_VERSION": name}))
    for argv, extra_env in candidates:
        try:
            out = subprocess.run(
                [*argv, "-c", "import sys; print(sys.executable)"],
                capture_output=True,
                text=True,
                env={**os.environ, **extra_env},
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            continue
        if out:
            return Path(out)
    raise BuildError(
        f"{runtime} (the template's Lambda runtime) was not found: install it (pyenv install "
        f"{version}) or set LAMBDA_PYTHON to its interpreter"
    )
