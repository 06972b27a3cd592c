"""The local runner of a prewarm: a bounded pool over the manifest's rows, with progress.

Each worker takes one row through :func:`foleycache.pipeline.prewarm.prepare_item`:
a local file is fingerprinted here first (the same extraction as the pipeline's), so a
row whose entry is cached costs no upload and no job; a row to run is uploaded (once:
a resumed run finds the object there), its execution started (idempotent by name) and
its job record waited on. Killing the runner loses nothing: the jobs it started go on
in the stack, and the next run re-attaches to them by their deterministic ids.
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foleycache.core.errors import FoleyError
from foleycache.core.job import CacheOutcome, JobStatus
from foleycache.local.run_job import Progress, wait_for
from foleycache.pipeline.prewarm import Action, ManifestRow, cached, prepare_item
from foleycache.services import Services

#: What a row ended as (the summary's keys).
OUTCOMES = ("generated", "cached", "done", "failed", "no-source")


@dataclass
class ProgressBar:
    """``[#####.....] 5/10  generated 3  cached 2`` on stderr: redrawn on a terminal, one
    line per finished row otherwise (logs and tests read those)."""

    total: int
    enabled: bool = True
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def finished(self, row: ManifestRow, outcome: str) -> None:
        with self.lock:
            self.counts[outcome] += 1
            if not self.enabled:
                return
            done = sum(self.counts.values())
            width = 30
            filled = width * done // max(1, self.total)
            tally = "  ".join(f"{k} {v}" for k, v in self.counts.items() if v)
            bar = f"[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total}  {tally}"
            if sys.stderr.isatty():
                sys.stderr.write("\r\033[K" + bar + ("\n" if done == self.total else ""))
            else:
                sys.stderr.write(f"{bar}  (line {row.line}: {outcome})\n")
            sys.stderr.flush()


def _fingerprint_file(path: Path) -> str:
    from foleycache.fingerprint.extract import fingerprint_video

    return fingerprint_video(path).hex


def run_row(
    services: Services, s3: Any, row: ManifestRow, version: str, timeout_s: float
) -> dict[str, Any]:
    result: dict[str, Any] = {"line": row.line, "video": row.video, "job_id": ""}
    try:
        if not row.is_s3:
            path = Path(row.video)
            if not path.is_file():
                return {**result, "outcome": "no-source", "reason": f"{path} is not a file"}
            fingerprint = row.fingerprint or _fingerprint_file(path)
            if cached(services, row, fingerprint, version):
                return {**result, "outcome": "cached", "reason": "entry already cached"}
        plan = prepare_item(services, row, version)
        result["job_id"] = plan.job_id
        if plan.action is not Action.RUN:
            return {**result, "outcome": plan.action.value, "reason": plan.reason}
        if not row.is_s3 and services.uploads.head(plan.key) is None:
            s3.upload_file(row.video, plan.bucket, plan.key)
        services.workflow.start(plan.job_id, plan.execution_input)
        job = wait_for(services, plan.job_id, timeout_s, Progress(False))
    except (FoleyError, OSError, TimeoutError) as exc:
        return {**result, "outcome": "failed", "reason": str(exc)}
    if job.status is not JobStatus.SUCCEEDED:
        return {**result, "outcome": "failed", "reason": job.error.get("message", "")}
    generated = job.cache == CacheOutcome.MISS.value
    return {
        **result,
        "outcome": "generated" if generated else "cached",
        "reason": "" if generated else f"found by the pipeline ({job.cache})",
        "cache_key": job.cache_key,
    }


def run_prewarm(
    services: Services,
    s3: Any,
    rows: list[ManifestRow],
    version: str,
    *,
    concurrency: int,
    timeout_s: float = 3600.0,
    progress: bool = True,
) -> dict[str, Any]:
    """Every row, at most ``concurrency`` at a time; the summary counts each outcome."""
    bar = ProgressBar(len(rows), progress)
    started = time.monotonic()

    def one(row: ManifestRow) -> dict[str, Any]:
        outcome = run_row(services, s3, row, version, timeout_s)
        bar.finished(row, outcome["outcome"])
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        results = list(pool.map(one, rows))
    return {
        "model_version": version,
        "rows": len(rows),
        "counts": dict(bar.counts),
        "seconds": round(time.monotonic() - started, 3),
        "results": results,
    }
