"""``make build``: every deployable artefact, built offline, with its size against its limit.

1. ``sam build`` of the zip functions and the layers (CoreLayer and FfmpegLayer through
   their Makefiles), from ``template.yaml`` less the container-image functions, which
   need Docker.
2. For each container image (the fingerprint function, the SageMaker inference server):
   its requirement set installed into a clean environment of Lambda's Python, and a check
   that its entry point imports and runs there. The Dockerfiles install the same sets.
3. ``build/lambda-runtime``: what Lambda's runtime provides (boto3 and friends), so the
   local stack can run the built functions as Lambda would (``stack up --artefacts``).
4. Sizes: each zip function plus its layers, unzipped, against Lambda's 250 MiB; each
   image environment against 10 GiB. Over a limit, the build fails.

Writes ``build/artefacts.json``; prints a table.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_config import (
    BUILD_DIR,
    ROOT,
    SAM_BUILD_DIR,
    BuildConfig,
    BuildError,
    find_runtime_python,
    load,
    source_digest,
)
from core_layer import pip_install

ZIP_TEMPLATE = BUILD_DIR / "template.zip-functions.yaml"
RUNTIME_DIR = BUILD_DIR / "lambda-runtime"
IMAGES_DIR = BUILD_DIR / "images"
REPORT = BUILD_DIR / "artefacts.json"

#: Container images: the extra of pyproject.toml each installs, and a check run inside.
IMAGES: dict[str, tuple[str, str]] = {
    "FingerprintFunction": (
        "fingerprint",
        "import sys; sys.path.insert(0, 'functions/fingerprint'); import app; "
        "from foleycache.fingerprint import fingerprint_video; "
        "fp = fingerprint_video(sys.argv[1]); assert fp.duration_s > 1, fp; "
        "print('fingerprint image: handler imported; fingerprinted', sys.argv[1])",
    ),
    "InferenceServer": (
        "server",
        "import time; from foley_server.app import create_app; "
        "client = create_app().test_client(); deadline = time.monotonic() + 120\n"
        "while (r := client.get('/ping')).status_code != 200 and time.monotonic() < deadline:"
        " time.sleep(0.2)\n"
        "assert r.status_code == 200, r.data; print('inference image: /ping', r.status_code)",
    ),
}


#: The settings a handler needs at import; the checks make no AWS call.
PLACEHOLDER_SETTINGS = {
    "UPLOADS_BUCKET": "build-check-uploads",
    "CACHE_BUCKET": "build-check-cache",
    "TABLE_NAME": "build-check",
    "SAGEMAKER_ENDPOINT_NAME": "build-check",
    "MODEL_VERSION": "build-check",
    "AWS_DEFAULT_REGION": "us-east-1",
    "FOLEY_BACKEND": "reference",
}


def _run(argv: list[str], **kwargs: Any) -> None:
    subprocess.run(argv, check=True, **kwargs)


def _stamp(*parts: str) -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    for part in parts:
        digest.update(part.encode())
    return digest.hexdigest()


def _venv(path: Path, python: Path, requirements: list[str], stamp: str) -> Path:
    """A virtual environment of ``python`` holding ``requirements``; rebuilt when stale."""
    marker = path / ".foleycache-stamp"
    if marker.is_file() and marker.read_text() == stamp:
        return path / "bin" / "python"
    shutil.rmtree(path, ignore_errors=True)
    _run([str(python), "-m", "venv", str(path)])
    _run([str(path / "bin" / "python"), "-m", "pip", "install", "-q", *requirements])
    marker.write_text(stamp)
    return path / "bin" / "python"


def zip_template() -> dict[str, Any]:
    """``template.yaml`` without its container-image functions (they need Docker)."""
    from foleycache.local.template_resources import load_template

    template = load_template(ROOT / "template.yaml")
    template["Resources"] = {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource.get("Properties", {}).get("PackageType") != "Image"
    }
    return template


def sam_build(config: BuildConfig, python: Path) -> dict[str, Any]:
    sam_python = _venv(BUILD_DIR / "tools" / "sam", python, [config.sam_cli], _stamp(str(python)))
    template = zip_template()
    BUILD_DIR.mkdir(exist_ok=True)
    ZIP_TEMPLATE.write_text(yaml.safe_dump(template, sort_keys=False))
    env = {
        **os.environ,
        # sam finds the runtime's python3.12 on PATH (its own venv has one).
        "PATH": f"{sam_python.parent}{os.pathsep}{os.environ['PATH']}",
        "SAM_CLI_TELEMETRY": "0",
        "FOLEYCACHE_ROOT": str(ROOT),
        "FOLEYCACHE_PYTHON": sys.executable,
        "FFMPEG_PACKAGE": config.ffmpeg_package,
    }
    shutil.rmtree(SAM_BUILD_DIR, ignore_errors=True)
    _run(
        [
            str(sam_python.parent / "sam"),
            "build",
            "--template",
            str(ZIP_TEMPLATE),
            "--base-dir",
            str(ROOT),
            "--build-dir",
            str(SAM_BUILD_DIR),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    return template


def lambda_runtime(config: BuildConfig) -> None:
    """What ``/var/runtime`` holds on Lambda, pinned by the core layer's resolution."""
    pins = (BUILD_DIR / "lambda-runtime.txt").read_text().split()
    shutil.rmtree(RUNTIME_DIR, ignore_errors=True)
    pip_install(config, pins, RUNTIME_DIR)


def _sample_clip() -> Path:
    """A 3 s test pattern, made with the ffmpeg layer's own binary."""
    clip: Path = BUILD_DIR / "sample.mp4"
    if not clip.is_file():
        _run(
            [
                str(SAM_BUILD_DIR / "FfmpegLayer" / "bin" / "ffmpeg"),
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=640x360:rate=25:duration=3",
                "-pix_fmt",
                "yuv420p",
                str(clip),
            ]
        )
    return clip


def _export_cnn() -> Path:
    """The fingerprint CNN as ONNX, exported by the dev environment's torch (as the
    Dockerfile's export stage does)."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from foleycache.fingerprint.cnn import model_path as m; print(m())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return Path(str(out))


def images(config: BuildConfig, python: Path) -> dict[str, Path]:
    envs: dict[str, Path] = {}
    for name, (extra, check) in IMAGES.items():
        path = IMAGES_DIR / name
        env_python = _venv(path, python, [f"{ROOT}[{extra}]"], _stamp(str(python), extra))
        # The dependencies are kept while pyproject.toml is unchanged; the project's own
        # code is installed afresh every build, as the image's COPY would.
        _run(
            [
                str(env_python),
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--force-reinstall",
                str(ROOT),
            ]
        )
        if extra == "fingerprint":
            from_model = _export_cnn()
            site = subprocess.run(
                [
                    str(env_python),
                    "-c",
                    "import foleycache, os; print(os.path.dirname(foleycache.__file__))",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            models = Path(site) / "fingerprint" / "models"
            models.mkdir(exist_ok=True)
            shutil.copy2(from_model, models / from_model.name)
        env = {
            **os.environ,
            **PLACEHOLDER_SETTINGS,
            "PATH": f"{SAM_BUILD_DIR / 'FfmpegLayer' / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "FFMPEG_PATH": str(SAM_BUILD_DIR / "FfmpegLayer" / "bin" / "ffmpeg"),
            "FFPROBE_PATH": str(SAM_BUILD_DIR / "FfmpegLayer" / "bin" / "ffprobe"),
        }
        _run([str(env_python), "-I", "-c", check, str(_sample_clip())], cwd=ROOT, env=env)
        envs[name] = path
    return envs


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def _layer_ids(function: dict[str, Any]) -> list[str]:
    return [layer["Ref"] for layer in function.get("Properties", {}).get("Layers", [])]


def sizes(
    config: BuildConfig, template: dict[str, Any], envs: dict[str, Path]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        parts = {logical_id: tree_bytes(SAM_BUILD_DIR / logical_id)}
        parts |= {layer: tree_bytes(SAM_BUILD_DIR / layer) for layer in _layer_ids(resource)}
        total = sum(parts.values())
        rows.append(
            {
                "artefact": logical_id,
                "kind": "zip + layers",
                "parts": parts,
                "bytes": total,
                "limit_bytes": config.zip_limit_bytes,
                "ok": total <= config.zip_limit_bytes,
            }
        )
    for name, path in envs.items():
        total = tree_bytes(path)
        rows.append(
            {
                "artefact": name,
                "kind": "image (python env)",
                "parts": {name: total},
                "bytes": total,
                "limit_bytes": config.image_limit_bytes,
                "ok": total <= config.image_limit_bytes,
            }
        )
    return rows


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:7.1f} MiB"


def main() -> int:
    config = load()
    try:
        python = find_runtime_python(config.runtime)
        print(f"build: Lambda runtime {config.runtime} = {python}")
        template = sam_build(config, python)
        print(f"build: sam build -> {SAM_BUILD_DIR.relative_to(ROOT)}")
        lambda_runtime(config)
        envs = images(config, python)
    except (BuildError, subprocess.CalledProcessError) as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    rows = sizes(config, template, envs)
    report = {"runtime": config.runtime, "source_digest": source_digest(), "artefacts": rows}
    REPORT.write_text(json.dumps(report, indent=2))
    print(f"{'artefact':<22} {'kind':<19} {'unzipped':>12} {'limit':>12}")
    for row in rows:
        flag = "ok" if row["ok"] else "OVER THE LIMIT"
        detail = ", ".join(f"{k} {_mb(v).strip()}" for k, v in row["parts"].items())
        print(
            f"{row['artefact']:<22} {row['kind']:<19} {_mb(row['bytes'])} "
            f"{_mb(row['limit_bytes'])}  {flag}  ({detail})"
        )
    over = [row["artefact"] for row in rows if not row["ok"]]
    if over:
        print(f"build failed: over Lambda's size limit: {', '.join(over)}", file=sys.stderr)
        return 1
    print(f"build: report in {REPORT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
