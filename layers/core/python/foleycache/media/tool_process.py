"""Run ffmpeg/ffprobe as child processes and account for their CPU time.

CPU seconds (user + system) of the child are what the benchmark and the job
record compare: on shared cores wall time says more about the neighbours than
about the work. They are read with ``os.wait4`` for exactly this child, so a
concurrent child of the same process (another thread, another test) cannot
leak into the number, which ``RUSAGE_CHILDREN`` deltas would allow.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from foleycache.core.errors import MediaError, ToolMissing

#: How many trailing stderr lines a MediaError carries: enough for ffmpeg's
#: actual complaint, which it prints last, without its whole banner.
STDERR_TAIL_LINES = 12


@dataclass(frozen=True)
class ToolRun:
    """A finished child process: its output and the CPU it spent."""

    returncode: int
    stdout: str
    stderr: str
    cpu_s: float

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        return "\n".join(self.stderr.strip().splitlines()[-lines:])


def run_tool(args: Sequence[str]) -> ToolRun:
    """Run ``args`` to completion; raise ToolMissing if the executable is absent.

    Output goes through temporary files rather than pipes, so a large ffprobe
    report cannot dead-lock the child, and the child is reaped here with
    ``wait4`` to read its own resource usage.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(list(args), stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        except FileNotFoundError as exc:
            raise ToolMissing(
                f"{args[0]} is not installed or not on PATH; "
                "install it with `apt-get install ffmpeg`"
            ) from exc
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ToolRun(
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            cpu_s=usage.ru_utime + usage.ru_stime,
        )


def run_ffmpeg(args: Sequence[str], *, what: str) -> ToolRun:
    """Run an ffmpeg command that must succeed; ``what`` names the step for the error."""
    run = run_tool(args)
    if run.returncode != 0:
        raise MediaError(f"ffmpeg failed to {what} (exit {run.returncode}):\n{run.stderr_tail()}")
    return run
