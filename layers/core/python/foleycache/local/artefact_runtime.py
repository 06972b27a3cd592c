"""Runs the built artefacts as Lambda would: a process per execution environment.

Each function runs from ``.aws-sam/build/<Function>`` (its ``/var/task``) with its layers
laid out as Lambda lays them under ``/opt``, on the template's runtime (python3.12),
with exactly the environment the transformed template gives it plus endpoint overrides,
and its own role's credentials. Container-image functions run from the Python
environment ``make build`` made for their image. One warm worker is kept per function
and more start while all are busy, as Lambda scales out.

Paths under ``/opt`` in the environment (``FFMPEG_PATH=/opt/bin/ffmpeg``) are rewritten
to the function's local stand-in for ``/opt``: a file-system override, like the
endpoint overrides.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foleycache.local.lambda_seam import function_dir_for
from foleycache.local.sam_transform import Intrinsics, layer_source, logical_id_of

WORKER = Path(__file__).with_name("lambda_worker.py")


class ArtefactsMissing(RuntimeError):
    """``make build`` has not been run (or is stale)."""


@dataclass
class BuildLayout:
    root: Path
    runtime_python: Path

    @property
    def sam_build(self) -> Path:
        return self.root / ".aws-sam" / "build"

    @property
    def lambda_runtime(self) -> Path:
        return self.root / "build" / "lambda-runtime"

    def image_python(self, logical_id: str) -> Path:
        return self.root / "build" / "images" / logical_id / "bin" / "python"

    def check(self, current_digest: str) -> None:
        """The artefacts exist and were built from the sources as they are now."""
        report = self.root / "build" / "artefacts.json"
        for needed in (self.sam_build / "template.yaml", self.lambda_runtime, report):
            if not needed.exists():
                raise ArtefactsMissing(f"{needed} is missing: run `make build` first")
        if json.loads(report.read_text()).get("source_digest") != current_digest:
            raise ArtefactsMissing("the sources changed since the last `make build`: run it again")


@dataclass
class FunctionSpec:
    logical_id: str
    name: str
    argv: list[str]
    env: dict[str, str]
    timeout_s: float
    in_vpc: bool


def lay_out_opt(opt: Path, layers: list[Path]) -> None:
    """``/opt`` as Lambda extracts layers into it, in order: here, one link per top-level
    entry (the layers share none)."""
    opt.mkdir(parents=True, exist_ok=True)
    for layer in layers:
        for entry in layer.iterdir():
            link = opt / entry.name
            if link.exists() or link.is_symlink():
                raise ArtefactsMissing(f"layers overlap at /opt/{entry.name}")
            link.symlink_to(entry.resolve())


def function_specs(
    template: dict[str, Any],
    intrinsics: Intrinsics,
    layout: BuildLayout,
    opt_root: Path,
    overrides: dict[str, str],
    credentials: dict[str, dict[str, str]],
) -> dict[str, FunctionSpec]:
    """One spec per ``AWS::Lambda::Function`` of the transformed template."""
    specs: dict[str, FunctionSpec] = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        props = resource["Properties"]
        name = intrinsics.refs[logical_id]
        layers = [
            layer_source(template, logical_id_of(template, ref)) for ref in props.get("Layers", [])
        ]
        opt = opt_root / logical_id
        if props.get("PackageType") == "Image":
            task_root = layout.root / "functions" / function_dir_for(logical_id)
            argv = [str(layout.image_python(logical_id)), "-I", str(WORKER)]
            # The image copies the ffmpeg layer's binaries to /opt/bin (its Dockerfile).
            layers = ["FfmpegLayer"]
            paths: list[Path] = []
        else:
            task_root = layout.sam_build / logical_id
            argv = [str(layout.runtime_python), "-I", "-S", str(WORKER)]
            paths = [opt / "python" / "lib" / "python3.12" / "site-packages", opt / "python"]
            paths.append(layout.lambda_runtime)
        if not task_root.is_dir():
            raise ArtefactsMissing(f"{task_root} is missing: run `make build` first")
        lay_out_opt(opt, [layout.sam_build / layer for layer in layers])
        argv += [
            "--task-root",
            str(task_root),
            "--handler",
            str(props.get("Handler", "app.handler")),
        ]
        for path in paths:
            argv += ["--path", str(path)]

        declared = intrinsics.resolve(props.get("Environment", {}).get("Variables", {}))
        env = {k: _opt(str(v), opt) for k, v in declared.items()}
        if "REDIS_URL" in env:
            env["REDIS_URL"] = overrides["REDIS_URL"]
        env.update({k: v for k, v in overrides.items() if k.startswith("AWS_ENDPOINT_URL_")})
        role = logical_id_of(template, props["Role"])
        env.update(credentials[role])
        env.update(
            {
                "AWS_REGION": intrinsics.parameters["AWS::Region"],
                "AWS_DEFAULT_REGION": intrinsics.parameters["AWS::Region"],
                "AWS_LAMBDA_FUNCTION_NAME": name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(props.get("MemorySize", 128)),
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
                "LAMBDA_TASK_ROOT": str(task_root),
                "PATH": f"{opt / 'bin'}:/usr/local/bin:/usr/bin:/bin",
                "LANG": "en_US.UTF-8",
                "TZ": ":UTC",
                "PYTHONUNBUFFERED": "1",
                # No X-Ray daemon locally (on Lambda the runtime provides one).
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        specs[logical_id] = FunctionSpec(
            logical_id,
            name,
            argv,
            env,
            float(props.get("Timeout", 3)),
            in_vpc="VpcConfig" in props,
        )
    return specs


def _opt(value: str, opt: Path) -> str:
    return (
        str(opt) + value[len("/opt") :] if value == "/opt" or value.startswith("/opt/") else value
    )


class WorkerDied(RuntimeError):
    pass


class Worker:
    """One execution environment: a process that imported the handler once."""

    def __init__(self, spec: FunctionSpec, log_path: Path) -> None:
        read_fd, write_fd = os.pipe()
        with log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*spec.argv, "--reply-fd", str(write_fd)],
                env=spec.env,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
            )
        os.close(write_fd)
        self.replies = os.fdopen(read_fd, "r")
        self.timeout_s = spec.timeout_s

    def call(self, event: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        request = {"event": event, "request_id": str(uuid.uuid4()), "timeout_s": self.timeout_s}
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise WorkerDied(f"exited with {self.proc.poll()}") from exc
        ready, _, _ = select.select([self.replies], [], [], self.timeout_s + 5)
        if not ready:
            self.stop()
            return {
                "payload": {
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": f"Task timed out after {self.timeout_s:.2f} seconds",
                },
                "errored": True,
            }
        line = self.replies.readline()
        if not line:
            raise WorkerDied(f"exited with {self.proc.wait()}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.proc.kill()
        self.proc.wait()
        self.replies.close()


@dataclass
class WorkerPool:
    """The warm execution environments of one function."""

    spec: FunctionSpec
    log_path: Path
    idle: list[Worker] = field(default_factory=list)
    started: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def warm(self) -> None:
        with self.lock:
            self.idle.append(Worker(self.spec, self.log_path))
            self.started += 1

    def invoke(self, event: Any) -> tuple[str, bool, str]:
        """Run one invocation; returns moto's ``(payload, errored, logs)`` triple."""
        with self.lock:
            worker = self.idle.pop() if self.idle else None
            if worker is None:
                self.started += 1
        if worker is None:
            worker = Worker(self.spec, self.log_path)
        try:
            reply = worker.call(event)
        except WorkerDied as exc:
            worker.stop()
            error = {"errorType": "Runtime.ExitError", "errorMessage": f"{self.spec.name}: {exc}"}
            return json.dumps(error), True, ""
        if worker.alive():
            with self.lock:
                self.idle.append(worker)
        return json.dumps(reply["payload"]), bool(reply["errored"]), ""

    def close(self) -> None:
        with self.lock:
            for worker in self.idle:
                worker.stop()
            self.idle.clear()
