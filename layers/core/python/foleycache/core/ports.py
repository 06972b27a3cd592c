"""Ports: what the use cases need from the outside world, as Protocols.

Adapters in ``foleycache.adapters`` implement them with boto3 and redis-py;
unit tests implement them in memory. Nothing here names an AWS service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from foleycache.core.job import JobRecord, JobStatus
from foleycache.core.metrics import Metric


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    sha256_b64: str | None = None  # S3 full-object SHA-256 checksum, when the upload carried one
    metadata: dict[str, str] = field(default_factory=dict)
    etag: str = ""


@dataclass(frozen=True, slots=True)
class PresignedUpload:
    """A presigned PUT: the URL, and the headers the client must send with it (they are signed)."""

    url: str
    headers: dict[str, str]


class BlobStore(Protocol):
    """One bucket (S3)."""

    bucket: str

    def head(self, key: str) -> ObjectInfo | None: ...
    def get_bytes(self, key: str) -> bytes | None: ...
    def put_bytes(self, key: str, data: bytes, content_type: str = ...) -> None: ...
    def download(self, key: str, path: Path) -> None: ...
    def upload(self, path: Path, key: str, content_type: str = ...) -> None: ...
    def set_tags(self, key: str, tags: dict[str, str]) -> None: ...
    def delete(self, key: str) -> None: ...
    def presign(self, key: str, method: str, expires_s: int) -> str: ...
    def presign_upload(self, key: str, expires_s: int, sha256_b64: str) -> PresignedUpload:
        """A PUT link that the store accepts only for bytes with this SHA-256 (base64).

        The checksum is part of the signature: the client must send the returned
        headers, and the store refuses bytes that do not match, then keeps the
        checksum, so ``head`` reports it.
        """
        ...

    def copy(self, src_key: str, dst_key: str) -> None:
        """Server-side copy within the bucket (no bytes through the caller)."""
        ...

    def list_keys(self, prefix: str) -> list[str]: ...
    def list_page(self, prefix: str, after: str, limit: int) -> tuple[list[str], bool]:
        """Up to ``limit`` keys under ``prefix`` that sort after ``after`` ("" from the
        start), and whether more follow: a position that holds across calls and days."""
        ...


class HotCache(Protocol):
    """The L1 tier (Redis). Every method may raise StorageUnavailable."""

    def get(self, key: str, ttl_s: int) -> bytes | None:
        """Read and refresh the TTL in one round trip (hits keep hot entries alive)."""
        ...

    def set(self, key: str, value: bytes, ttl_s: int) -> None: ...
    def add(self, key: str, value: bytes, ttl_s: int) -> bool:
        """Set only if absent (``SET NX``); True if this call set it."""
        ...

    def delete(self, *keys: str) -> int: ...
    def delete_matching(self, pattern: str, batch: int) -> int:
        """Delete keys matching a glob in batches (incremental SCAN + UNLINK), never blocking."""
        ...

    def delete_matching_page(self, pattern: str, cursor: int, batch: int) -> tuple[int, int]:
        """One SCAN step from ``cursor`` (0: the start) and UNLINK of what it found:
        (the next cursor, 0 once the scan is complete; keys removed)."""
        ...


class JobStore(Protocol):
    def create(self, job: JobRecord) -> bool:
        """Create if absent; False if a record with that id exists (duplicate event)."""
        ...

    def get(self, job_id: str) -> JobRecord | None: ...
    def update(self, job_id: str, **fields: Any) -> None: ...
    def record_timing(self, job_id: str, stage: str, ms: float) -> None: ...

    def transition(
        self, job_id: str, from_status: JobStatus, to_status: JobStatus, stage: str
    ) -> bool:
        """Move a job between statuses only if it is in ``from_status`` (atomic)."""
        ...


@dataclass(frozen=True, slots=True)
class InferenceRequest:
    video_uri: str  # s3://bucket/key of the source video
    prompt: str
    output_uri: str  # s3://bucket/key where the WAV must be written
    model_version: str
    duration_s: float
    #: Deterministic per cache key: the endpoint's notification names it, and a retried
    #: start finds the run it already asked for instead of paying the GPU twice.
    inference_id: str = ""
    #: Seconds ``[start, end)`` to generate (reuse across cuts); empty: the whole clip.
    spans: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True, slots=True)
class InferenceResult:
    audio_uri: str
    model_version: str
    sample_rate: int
    duration_s: float
    backend: str
    inference_ms: float
    #: The window plan (start, end, overlap per window): reuse across cuts builds on it.
    windows: tuple[dict[str, Any], ...] = ()
    weights_digest: str = ""
    #: Sample ranges generated when only spans were asked for (empty: the whole clip).
    spans: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class InferenceNotice:
    """The endpoint's word that an asynchronous run ended (its SNS notification)."""

    inference_id: str
    succeeded: bool
    output_location: str = ""  # s3:// of the result JSON, on success
    failure: str = ""  # why, on failure


class Inference(Protocol):
    """The Foley model endpoint, asynchronous: start a run, be told when it ends."""

    def start(self, request: InferenceRequest) -> None:
        """Queue one run; returns at once. The end arrives as an :class:`InferenceNotice`."""
        ...

    def read_result(self, notice: InferenceNotice) -> InferenceResult:
        """The finished run's result (raises the run's error for a failed one)."""
        ...

    def notice_from(self, message: dict[str, Any]) -> InferenceNotice:
        """Parse the endpoint's notification."""
        ...


class WorkflowStarter(Protocol):
    def start(self, name: str, payload: dict[str, Any]) -> bool:
        """Start the pipeline; False if an execution with this name already exists."""
        ...

    def resume(self, task_token: str, output: dict[str, Any]) -> bool:
        """Resume a task waiting on ``task_token``; False if it no longer waits."""
        ...

    def fail_task(self, task_token: str, error: str, cause: str) -> bool:
        """End a waiting task with an error its ``Catch``/``Retry`` can match."""
        ...


@dataclass(frozen=True, slots=True)
class PendingRun:
    """A started inference run and the task that waits for it."""

    inference_id: str
    task_token: str
    state: dict[str, Any]  # the pipeline state the run was started from
    job_id: str = ""


class PendingRuns(Protocol):
    """Who waits for which asynchronous run (the endpoint's notification names the run)."""

    def put(self, run: PendingRun) -> bool:
        """Record a run; False if this inference id is recorded already (a retried start)."""
        ...

    def replace_token(self, inference_id: str, task_token: str, job_id: str) -> bool:
        """A retried start of the same job waits now: the notification must resume the new
        task. False if the recorded run is another job's (it is not ours to take over)."""
        ...

    def get(self, inference_id: str) -> PendingRun | None: ...

    def delete(self, inference_id: str) -> None:
        """Forget a run once its notification is handled (or when its start was refused)."""
        ...


class MetricsSink(Protocol):
    """Where metrics go (Powertools Metrics/EMF in Lambda; in memory in tests).

    ``metric`` comes from the catalogue, :mod:`foleycache.core.metrics`; ``dimensions``
    are exactly the ones it declares (``Tier="l1"`` for :data:`~foleycache.core.metrics.HIT`).
    """

    def emit(self, metric: Metric, value: float = 1.0, **dimensions: str) -> None: ...


class NullMetrics:
    def emit(self, metric: Metric, value: float = 1.0, **dimensions: str) -> None:
        return None


class NearIndexStore(Protocol):
    """Buckets of fingerprints (multi-index hashing); ``scope`` = namespace + prompt digest."""

    def add(self, scope: str, buckets: list[str], member: str) -> None: ...
    def remove(self, scope: str, buckets: list[str], member: str) -> None: ...
    def members(self, scope: str, buckets: list[str]) -> set[str]:
        """Union of the buckets' members, read in a fixed number of round trips."""
        ...


class Catalog(Protocol):
    """Durable bookkeeping beside L2: the exact-bytes index and per-entry last-hit days."""

    def exact_get(self, scope: str) -> str | None:
        """The exact-repeat record (JSON) for ``scope`` (namespace, upload SHA-256, prompt)."""
        ...

    def exact_put(self, scope: str, record: str) -> None: ...

    def touch(self, entry_id: str, day: str) -> bool:
        """Record a hit on ``day`` (YYYY-MM-DD); True only for the first hit of that day."""
        ...

    def hit_on(self, day: str) -> list[str]:
        """Entry ids whose hit was recorded on ``day``."""
        ...

    def last_hit(self, entry_id: str) -> tuple[str, bool] | None:
        """(last hit day, archived) for an entry."""
        ...

    def set_archived(self, entry_id: str, archived: bool) -> None: ...

    def archived_through(self) -> str | None:
        """The last hit day (YYYY-MM-DD) archival has finished, or None before its first run."""
        ...

    def set_archived_through(self, day: str) -> None:
        """Move the watermark forward to ``day`` (never back: a slower run cannot undo a
        faster one)."""
        ...


class HitRanking(Protocol):
    """A bounded ranking of entries by hits (a Redis sorted set); best effort."""

    def bump(self, key: str, member: str, ttl_s: int, keep: int) -> None:
        """Count one hit of ``member``; the ranking keeps at most ``keep`` members."""
        ...

    def top(self, key: str, n: int) -> list[tuple[str, float]]:
        """The ``n`` highest-ranked members and their counts, highest first."""
        ...


@dataclass(frozen=True, slots=True)
class RetiredVersion:
    """A model version no longer served; ``swept_to`` is the first hit-day partition the
    retirement sweep has not read yet (it reads up to ``retired_on`` inclusive)."""

    version: str
    retired_on: str
    swept_to: str


class VersionRegistry(Protocol):
    """The versions' lifecycle: which one serves, which are retired (a few items)."""

    def serving(self) -> str | None: ...
    def set_serving(self, version: str) -> None: ...
    def retire(self, version: str, day: str, sweep_from: str) -> bool:
        """Record the retirement once; False if it was already recorded."""
        ...

    def restore(self, version: str) -> None:
        """Serving again (a rollback): no longer retired."""
        ...

    def retired(self) -> list[RetiredVersion]: ...
    def set_swept_to(self, version: str, day: str) -> None: ...
