"""Marks a job's current stage and records how long the stage took.

Both land on the job record, which is what ``foleycache run`` shows as
progress and what the API returns while a job runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from foleycache.core.ports import JobStore


@contextmanager
def stage(jobs: JobStore, job_id: str, name: str) -> Iterator[None]:
    jobs.update(job_id, stage=name)
    started = time.perf_counter()
    try:
        yield
    finally:
        jobs.record_timing(job_id, name, round((time.perf_counter() - started) * 1000, 1))
