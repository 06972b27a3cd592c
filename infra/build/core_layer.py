"""Builds CoreLayer: the ``foleycache`` package and its dependencies, as Lambda lays out
``/opt/python``.

Run by ``sam build`` through ``layers/core/Makefile`` (``ARTIFACTS_DIR``). The
dependencies are ``[project].dependencies`` of ``pyproject.toml``, resolved for Lambda's
runtime (CPython 3.12, manylinux x86_64 wheels) whatever Python runs the build, less what
the runtime itself provides. What does not ship: ``foleycache.local`` (the local stack and
CLI), the fingerprint CNN's ONNX file (the fingerprint image has its own), and caches.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_config import BUILD_DIR, ROOT, BuildConfig, load

PACKAGE = ROOT / "layers" / "core" / "python" / "foleycache"
NOT_SHIPPED = ("local", "__pycache__", "models", "*.pyc")


def resolve(config: BuildConfig, requirements: list[str]) -> list[tuple[str, str]]:
    """``(name, version)`` of every distribution pip would install for Lambda's runtime."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--ignore-installed",
                "-q",
                "--report",
                str(report),
                *config.wheel_args(),
                *requirements,
            ],
            check=True,
        )
        installs = json.loads(report.read_text())["install"]
    return [(i["metadata"]["name"], i["metadata"]["version"]) for i in installs]


def pip_install(config: BuildConfig, pins: list[str], target: Path) -> None:
    if pins:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--no-compile",
                "--target",
                str(target),
                *config.wheel_args(),
                *pins,
            ],
            check=True,
        )


def build(artifacts_dir: Path) -> None:
    config = load()
    resolved = resolve(config, list(config.dependencies))
    shipped = [f"{n}=={v}" for n, v in resolved if not config.is_runtime_provided(n)]
    provided = [f"{n}=={v}" for n, v in resolved if config.is_runtime_provided(n)]
    site = artifacts_dir / "python"
    pip_install(config, shipped, site)
    shutil.copytree(PACKAGE, site / "foleycache", ignore=shutil.ignore_patterns(*NOT_SHIPPED))
    # The local Lambda runtime (build/lambda-runtime, the stand-in for /var/runtime) gets
    # the same pins of what the runtime provides, so both sides agree on versions.
    BUILD_DIR.mkdir(exist_ok=True)
    (BUILD_DIR / "lambda-runtime.txt").write_text("\n".join(provided) + "\n")
    print(f"core layer: {len(shipped)} distributions shipped, {len(provided)} from the runtime")


if __name__ == "__main__":
    build(Path(sys.argv[1]))
