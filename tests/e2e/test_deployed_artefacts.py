"""What deploys is what is tested: the pipeline run from ``make build``'s artefacts.

Each function runs on python3.12 from ``.aws-sam/build`` (or its image's environment),
with the environment and the role the transformed template gives it, and moto enforcing
that role. The same journey runs on the source tree too, for comparison; both stacks
are separate daemons with their own state, driven through the CLI as a user would.

The journey: a miss, an exact repeat, the exact repeat again after L1 is lost (so the
L2 paths run), and a near-duplicate. Any IAM denial fails the run and is named.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from foleycache.local.local_iam import describe, read_denials

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PROMPT = "a dog's paws padding and scratching on a wooden floor"


class CliStack:
    """A local stack in its own state directory, used through the ``foleycache`` CLI."""

    def __init__(self, state: Path, artefacts: bool, root: Path = REPO) -> None:
        self.state = state
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env |= {"FOLEYCACHE_STATE_DIR": str(state), "FOLEYCACHE_ROOT": str(root)}
        self.env["FOLEYCACHE_ARTEFACTS"] = "1" if artefacts else "0"

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "foleycache.local.cli", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )

    def up(self) -> dict[str, Any]:
        done = self.cli("stack", "up", "--json", timeout=300)
        assert done.returncode == 0, done.stderr + (self.state / "stack.log").read_text()[-3000:]
        info: dict[str, Any] = json.loads((self.state / "stack.json").read_text())
        return info

    def down(self) -> None:
        self.cli("stack", "down")

    def run(self, video: Path, out: Path) -> dict[str, Any]:
        done = self.cli("run", str(video), "--prompt", PROMPT, "--out", str(out), "--json")
        assert done.stdout, done.stderr
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def flush_l1(self, info: dict[str, Any]) -> None:
        redis.Redis(port=info["redis_port"]).flushall()

    def denials(self) -> list[dict[str, str]]:
        return read_denials(self.state / "denials.jsonl")


def _journey(stack: CliStack, info: dict[str, Any], clip: Path, tmp: Path) -> list[str]:
    near = tmp / "near.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-i",
            str(clip),
            "-c:v",
            "libx264",
            "-crf",
            "30",
            "-an",
            str(near),
        ],
        check=True,
    )
    outcomes = []
    for step, video in (("miss", clip), ("exact", clip), ("flush", clip), ("near", near)):
        if step == "flush":
            stack.flush_l1(info)
        result = stack.run(video, tmp / "out")
        assert result["status"] == "succeeded", (result, _named(stack.denials()))
        outcomes.append(result["cache"])
    return outcomes


def _named(denials: list[dict[str, str]]) -> str:
    return "IAM denied: " + "; ".join(describe(d) for d in denials) if denials else ""


def _worker_interpreters(daemon_pid: int) -> set[str]:
    """The executables of the daemon's Lambda worker processes."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            status = (proc / "status").read_text()
        except OSError:
            continue
        ppid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid"))
        if ppid == daemon_pid and any(b"lambda_worker.py" in part for part in cmdline):
            found.add(os.path.basename(os.path.realpath(proc / "exe")))
    return found


@pytest.fixture(scope="module")
def clip(clips_dir: Path) -> Path:
    return clips_dir / "sam2_01_dog.mp4"


@pytest.mark.parametrize("mode", ["source", "artefacts"])
def test_miss_exact_l2_and_near_from_each_packaging(mode: str, clip: Path, tmp_path: Path) -> None:
    stack = CliStack(tmp_path / "state", artefacts=mode == "artefacts")
    try:
        info = stack.up()
        assert info["artefacts"] is (mode == "artefacts")
        started = time.monotonic()
        outcomes = _journey(stack, info, clip, tmp_path)
        print(f"{mode}: journey {time.monotonic() - started:.2f} s")  # pytest -rA shows it
        assert outcomes == ["miss", "exact", "exact", "near"]
        assert not stack.denials(), _named(stack.denials())
        if mode == "artefacts":
            assert _worker_interpreters(info["pid"]) == {"python3.12"}
    finally:
        stack.down()


def _template_without(statement_sid: str, function: str) -> str:
    """template.yaml with one statement of one function's policy removed."""
    text = (REPO / "template.yaml").read_text()
    start = text.index(f"\n  {function}:\n")
    sid = text.index(f"- Sid: {statement_sid}\n", start)
    line_start = text.rindex("\n", 0, sid) + 1
    indent = sid - line_start
    end = sid
    while True:
        end = text.index("\n", end) + 1
        nxt = text[end:]
        stripped = nxt.lstrip(" ")
        if len(nxt) - len(stripped) <= indent:
            break
    return text[:line_start] + text[end:]


@pytest.fixture
def root_without_fingerprint_cache_read(tmp_path: Path) -> Path:
    """A checkout whose template lacks FingerprintFunction's read of cache entries."""
    root = tmp_path / "root"
    root.mkdir()
    for name in (".aws-sam", "build", "functions", "infra", "layers", "pyproject.toml"):
        (root / name).symlink_to(REPO / name)
    (root / "template.yaml").write_text(_template_without("ReadEntries", "FingerprintFunction"))
    return root


def test_a_missing_grant_fails_the_run_naming_the_function_and_the_action(
    clip: Path, tmp_path: Path, root_without_fingerprint_cache_read: Path
) -> None:
    stack = CliStack(tmp_path / "state", artefacts=True, root=root_without_fingerprint_cache_read)
    try:
        info = stack.up()
        assert stack.run(clip, tmp_path / "out")["status"] == "succeeded"  # a miss: no L2 read
        stack.flush_l1(info)
        repeat = stack.run(clip, tmp_path / "out")  # the repeat must read the entry from L2
        assert repeat["status"] == "failed"
        named = _named(stack.denials())
        assert "FingerprintFunction was denied s3:GetObject on arn:aws:s3:::" in named, named
        assert "/cache/" in named
    finally:
        stack.down()
        shutil.rmtree(tmp_path / "state" / "opt", ignore_errors=True)
