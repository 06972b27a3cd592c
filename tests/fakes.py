"""In-memory fakes of the ports, for unit tests only (the integration tests use real parts)."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from foleycache.core.errors import NotFound, StorageUnavailable
from foleycache.core.job import JobRecord, JobStatus
from foleycache.core.lease import LeaseRecord
from foleycache.core.metrics import Metric
from foleycache.core.ports import ObjectInfo, PendingRun, PresignedUpload
from foleycache.services import Services

#: The settings a deployment's template provides (resource names have no defaults).
SETTINGS_ENV = {
    "UPLOADS_BUCKET": "foleycache-uploads",
    "CACHE_BUCKET": "foleycache-cache",
    "TABLE_NAME": "foleycache",
    "SAGEMAKER_ENDPOINT_NAME": "foleycache-foley",
    "MODEL_VERSION": "foley-ref-1",
}


class FakeClock:
    """A clock that only moves when told to; ``sleep`` advances it instantly."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def advance(self, seconds: float) -> None:
        self.t += seconds


class MemoryBlobStore:
    def __init__(self, bucket: str = "bucket") -> None:
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}
        self.metadata: dict[str, dict[str, str]] = {}
        self.tags: dict[str, dict[str, str]] = {}
        self.checksums: dict[str, str] = {}  # key -> SHA-256 (base64), as S3 keeps it
        self.gets = 0

    def head(self, key: str) -> ObjectInfo | None:
        if key not in self.objects:
            return None
        return ObjectInfo(
            key,
            len(self.objects[key]),
            self.checksums.get(key),
            dict(self.metadata.get(key, {})),
        )

    def get_bytes(self, key: str) -> bytes | None:
        self.gets += 1
        return self.objects.get(key)

    def put_bytes(self, key: str, data: bytes, content_type: str = "") -> None:
        self.objects[key] = data

    def download(self, key: str, path: Path) -> None:
        if key not in self.objects:
            raise NotFound(key)
        path.write_bytes(self.objects[key])

    def upload(self, path: Path, key: str, content_type: str = "") -> None:
        self.objects[key] = path.read_bytes()

    def set_tags(self, key: str, tags: dict[str, str]) -> None:
        self.tags[key] = dict(tags)

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def presign(self, key: str, method: str, expires_s: int) -> str:
        return f"https://{self.bucket}.example/{key}?method={method}&expires={expires_s}"

    def presign_upload(self, key: str, expires_s: int, sha256_b64: str) -> PresignedUpload:
        return PresignedUpload(
            self.presign(key, "PUT", expires_s),
            {"x-amz-checksum-sha256": sha256_b64, "x-amz-sdk-checksum-algorithm": "SHA256"},
        )

    def copy(self, src_key: str, dst_key: str) -> None:
        self.objects[dst_key] = self.objects[src_key]

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def list_page(self, prefix: str, after: str, limit: int) -> tuple[list[str], bool]:
        keys = [k for k in self.list_keys(prefix) if k > after]
        return keys[:limit], len(keys) > limit


class MemoryHotCache:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.ttls: dict[str, int] = {}
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise StorageUnavailable("redis is down")

    def get(self, key: str, ttl_s: int) -> bytes | None:
        self._check()
        if key in self.data:
            self.ttls[key] = ttl_s
        return self.data.get(key)

    def set(self, key: str, value: bytes, ttl_s: int) -> None:
        self._check()
        self.data[key] = value
        self.ttls[key] = ttl_s

    def add(self, key: str, value: bytes, ttl_s: int) -> bool:
        self._check()
        if key in self.data:
            return False
        self.set(key, value, ttl_s)
        return True

    def delete(self, *keys: str) -> int:
        self._check()
        return sum(self.data.pop(k, None) is not None for k in keys)

    def delete_matching(self, pattern: str, batch: int) -> int:
        import fnmatch

        self._check()
        return self.delete(*[k for k in list(self.data) if fnmatch.fnmatchcase(k, pattern)])

    def delete_matching_page(self, pattern: str, cursor: int, batch: int) -> tuple[int, int]:
        """Like SCAN: an opaque cursor (here 1 + a position in key order), 0 once the
        scan is complete; keys removed meanwhile do not make it skip others."""
        import fnmatch

        self._check()
        position = max(cursor - 1, 0)
        keys = sorted(self.data)[position : position + batch]
        found = [k for k in keys if fnmatch.fnmatchcase(k, pattern)]
        self.delete(*found)
        kept = position + len(keys) - len(found)
        next_cursor = 0 if kept >= len(self.data) else kept + 1
        return next_cursor, len(found)


class MemoryLeaseStore:
    """Same conditions as the DynamoDB adapter, evaluated on a dict."""

    def __init__(self) -> None:
        self.items: dict[str, LeaseRecord] = {}
        self.waiters: dict[str, set[str]] = {}

    def put_if_free(self, record: LeaseRecord, now: float) -> LeaseRecord | None:
        old = self.items.get(record.key)
        if old is not None and not old.expired(now):
            return old
        self.items[record.key] = record
        self.waiters.pop(record.key, None)  # a put replaces the whole item, as in DynamoDB
        return old  # None, or the expired lease it replaced (a takeover)

    def delete_if_owner(self, key: str, owner: str) -> list[str] | None:
        old = self.items.get(key)
        if old is None or old.owner != owner:
            return None
        del self.items[key]
        return sorted(self.waiters.pop(key, set()))

    def add_waiter(self, key: str, waiter: str, now: float) -> bool:
        old = self.items.get(key)
        if old is None or old.expired(now):
            return False
        self.waiters.setdefault(key, set()).add(waiter)
        return True


class MemoryJobStore:
    def __init__(self) -> None:
        self.jobs: dict[str, JobRecord] = {}

    def create(self, job: JobRecord) -> bool:
        if job.job_id in self.jobs:
            return False
        self.jobs[job.job_id] = job
        return True

    def get(self, job_id: str) -> JobRecord | None:
        job = self.jobs.get(job_id)
        return None if job is None else JobRecord(**asdict(job))

    def update(self, job_id: str, **values: Any) -> None:
        job = self.jobs[job_id]
        for name, value in values.items():
            setattr(job, name, JobStatus(value) if name == "status" else value)

    def record_timing(self, job_id: str, stage: str, ms: float) -> None:
        self.jobs[job_id].timings_ms[stage] = ms

    def transition(
        self, job_id: str, from_status: JobStatus, to_status: JobStatus, stage: str
    ) -> bool:
        job = self.jobs.get(job_id)
        if job is None or job.status is not from_status:
            return False
        job.status, job.stage = to_status, stage
        return True


class RecordingWorkflow:
    """Like Step Functions: a repeated start of the same name and input is the same execution."""

    def __init__(self) -> None:
        self.started: dict[str, dict[str, Any]] = {}
        self.calls = 0
        self.resumed: list[tuple[str, dict[str, Any]]] = []
        self.failed: list[tuple[str, str, str]] = []

    def start(self, name: str, payload: dict[str, Any]) -> bool:
        self.calls += 1
        self.started.setdefault(name, payload)
        return True

    def resume(self, task_token: str, output: dict[str, Any]) -> bool:
        self.resumed.append((task_token, output))
        return True

    def fail_task(self, task_token: str, error: str, cause: str) -> bool:
        self.failed.append((task_token, error, cause))
        return True


class MemoryPendingRuns:
    def __init__(self) -> None:
        self.runs: dict[str, PendingRun] = {}

    def put(self, run: PendingRun) -> bool:
        if run.inference_id in self.runs:
            return False
        self.runs[run.inference_id] = run
        return True

    def replace_token(self, inference_id: str, task_token: str, job_id: str) -> bool:
        if self.runs[inference_id].job_id != job_id:
            return False
        self.runs[inference_id] = replace(self.runs[inference_id], task_token=task_token)
        return True

    def get(self, inference_id: str) -> PendingRun | None:
        return self.runs.get(inference_id)

    def delete(self, inference_id: str) -> None:
        self.runs.pop(inference_id, None)


class CountingMetrics:
    """Every emit, checked against the catalogue's dimensions as the real sink checks them."""

    def __init__(self) -> None:
        self.counts: dict[str, float] = {}
        self.points: list[tuple[str, float, dict[str, str]]] = []

    def emit(self, metric: Metric, value: float = 1.0, **dimensions: str) -> None:
        metric.check(dimensions)
        self.counts[metric.name] = self.counts.get(metric.name, 0) + value
        self.points.append((metric.name, value, dict(dimensions)))

    def values(self, name: str, **dimensions: str) -> list[float]:
        """The values emitted under ``name`` whose dimensions include ``dimensions``."""
        return [v for n, v, d in self.points if n == name and dimensions.items() <= d.items()]


class MemoryNearIndex:
    def __init__(self) -> None:
        self.buckets: dict[str, set[str]] = {}
        self.reads = 0
        self.down = False

    def add(self, scope: str, buckets: list[str], member: str) -> None:
        if self.down:
            raise StorageUnavailable("index down")
        for b in buckets:
            self.buckets.setdefault(f"{scope}|{b}", set()).add(member)

    def remove(self, scope: str, buckets: list[str], member: str) -> None:
        for b in buckets:
            self.buckets.get(f"{scope}|{b}", set()).discard(member)

    def members(self, scope: str, buckets: list[str]) -> set[str]:
        if self.down:
            raise StorageUnavailable("index down")
        self.reads += len(buckets)
        return {m for b in buckets for m in self.buckets.get(f"{scope}|{b}", set())}


class MemoryCatalog:
    def __init__(self) -> None:
        self.exact: dict[str, str] = {}
        self.last: dict[str, tuple[str, bool]] = {}
        self.days: dict[str, set[str]] = {}
        self.watermark: str | None = None

    def exact_get(self, scope: str) -> str | None:
        return self.exact.get(scope)

    def exact_put(self, scope: str, record: str) -> None:
        self.exact[scope] = record

    def touch(self, entry_id: str, day: str) -> bool:
        if self.last.get(entry_id, ("", False))[0] == day:
            return False
        self.last[entry_id] = (day, False)
        self.days.setdefault(day, set()).add(entry_id)
        return True

    def hit_on(self, day: str) -> list[str]:
        return sorted(self.days.get(day, set()))

    def last_hit(self, entry_id: str) -> tuple[str, bool] | None:
        return self.last.get(entry_id)

    def set_archived(self, entry_id: str, archived: bool) -> None:
        day, _ = self.last[entry_id]
        self.last[entry_id] = (day, archived)

    def archived_through(self) -> str | None:
        return self.watermark

    def set_archived_through(self, day: str) -> None:
        if self.watermark is None or self.watermark < day:
            self.watermark = day


def fake_services(**overrides: Any) -> Services:
    """Services wired to the in-memory fakes; keyword arguments replace single ports."""
    from foleycache.settings import Settings

    parts: dict[str, Any] = {
        "settings": Settings.from_env(SETTINGS_ENV),
        "uploads": MemoryBlobStore("foleycache-uploads"),
        "cache_blobs": MemoryBlobStore("foleycache-cache"),
        "hot": MemoryHotCache(),
        "jobs": MemoryJobStore(),
        "leases": MemoryLeaseStore(),
        "inference": None,
        "workflow": RecordingWorkflow(),
        "pending": MemoryPendingRuns(),
        "clock": FakeClock(),
        "metrics": CountingMetrics(),
    }
    parts.update(overrides)
    return Services(**parts)


class InstantEndpoint:
    """An async endpoint whose runs end at once: ``start`` writes the WAV where the request
    says and keeps the result; the test delivers the notification with :meth:`notify`."""

    def __init__(self, blobs: Any, model_version: str, duration_s: float = 4.0) -> None:
        self.blobs = blobs
        self.model_version = model_version
        self.duration_s = duration_s
        self.started: list[Any] = []
        self.results: dict[str, Any] = {}

    def start(self, request: Any) -> None:
        from foleycache.core.ports import InferenceResult

        self.started.append(request)
        self.blobs.put_bytes(request.output_uri.split("/", 3)[3], b"RIFF....WAVE")
        self.results[request.inference_id] = InferenceResult(
            request.output_uri, self.model_version, 48000, self.duration_s, "test", 1.0
        )

    def notice_from(self, message: dict[str, Any]) -> Any:
        from foleycache.core.ports import InferenceNotice

        return InferenceNotice(message["inferenceId"], message["invocationStatus"] == "Completed")

    def read_result(self, notice: Any) -> Any:
        return self.results[notice.inference_id]

    @staticmethod
    def notification(inference_id: str, ok: bool = True) -> dict[str, Any]:
        return {"inferenceId": inference_id, "invocationStatus": "Completed" if ok else "Failed"}
