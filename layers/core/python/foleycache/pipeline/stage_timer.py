"""How long each stage took, and which stage a job is in.

Slow stages (fingerprint, inference, mux, package) are *announced*: they
write their name and time to the job record, which is what ``foleycache
run`` shows as progress and what the API returns while a job runs. The fast
stages on the cache-hit path (lookup, lease) must cost about one Redis read,
so they only add their time to the pipeline state, and the final step writes
it to the record.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from foleycache.core.ports import JobStore
from foleycache.pipeline.state import PipelineState


@contextmanager
def stage(jobs: JobStore, job_id: str, name: str) -> Iterator[None]:
    jobs.update(job_id, stage=name)
    started = time.perf_counter()
    try:
        yield
    finally:
        jobs.record_timing(job_id, name, round((time.perf_counter() - started) * 1000, 1))


class QuietStage:
    """Times a fast stage into the state, with no write on the way."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = time.perf_counter()

    def stamp(self, state: PipelineState) -> PipelineState:
        ms = round((time.perf_counter() - self.started) * 1000, 3)
        return state.model_copy(update={"timings_ms": {**state.timings_ms, self.name: ms}})
