"""Prewarm: generate cache entries before anyone asks, through the real pipeline.

One machinery for both prewarms (a template library's manifest, and a new model
version's most-hit pairs) and both runners (the local CLI's bounded pool, and the
cloud's Step Functions Distributed Map, whose item function is :func:`prepare_item`).

Each manifest row becomes at most one job, whose id is derived from the row and the
version (:func:`prewarm_job_id`), so a run interrupted anywhere resumes where it was:
a succeeded job is not run again, a started one is waited for (Step Functions treats a
repeated start with the same name and input as the same execution), and a row whose
entry is already cached is skipped before any job exists. Only the cache entry is
wanted: the execution input carries ``deliver: false`` and the pinned version, so the
job ends at its entry (no mux, no packaging) under exactly that version.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlparse

from foleycache.cache import names
from foleycache.cache.hit_tracking import top_entries
from foleycache.core.errors import InvalidInput
from foleycache.core.job import JobRecord, JobStatus
from foleycache.core.keys import (
    CacheKey,
    namespace,
    prompt_md5,
    validate_model_version,
    validate_prompt,
)
from foleycache.core.ports import WorkflowStarter
from foleycache.fingerprint import FINGERPRINT_VERSION
from foleycache.services import Services

#: How many bad rows a refused manifest lists (all are counted).
MAX_LISTED_PROBLEMS = 20
_FORMATS = ("csv", "jsonl")


@dataclass(frozen=True, slots=True)
class ManifestRow:
    """``video`` is a local path (the CLI uploads it) or ``s3://{uploads bucket}/{key}``;
    ``fingerprint``, when known (a model prewarm knows it), lets a cached row be skipped
    without decoding anything."""

    video: str
    prompt: str
    fingerprint: str = ""
    line: int = 0

    @property
    def is_s3(self) -> bool:
        return self.video.startswith("s3://")


class ManifestError(InvalidInput):
    """A manifest with bad rows: every problem is listed, and nothing runs."""


def manifest_format(name: str, declared: str = "") -> str:
    fmt = declared or ("jsonl" if name.endswith((".jsonl", ".ndjson", ".json")) else "csv")
    if fmt not in _FORMATS:
        raise ManifestError(f"manifest format {fmt!r} is not one of {', '.join(_FORMATS)}")
    return fmt


def _rows(text: str, fmt: str) -> list[tuple[int, dict[str, Any] | str]]:
    if fmt == "jsonl":
        out: list[tuple[int, dict[str, Any] | str]] = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                body = json.loads(line)
            except json.JSONDecodeError as exc:
                out.append((number, f"not JSON ({exc.msg})"))
                continue
            out.append((number, body if isinstance(body, dict) else "not a JSON object"))
        return out
    reader = csv.DictReader(io.StringIO(text))
    missing = {"video", "prompt"} - set(reader.fieldnames or [])
    if missing:
        raise ManifestError(
            f"the CSV manifest's header must name video and prompt; it lacks {sorted(missing)}"
        )
    return [(number, dict(row)) for number, row in enumerate(reader, 2)]


def row_from(body: dict[str, Any], line: int, max_prompt_chars: int) -> ManifestRow:
    """One manifest row, validated (``InvalidInput`` says what is wrong)."""
    video = str(body.get("video") or "").strip()
    fingerprint = str(body.get("fingerprint") or "").strip().lower()
    if not video:
        raise InvalidInput("no video")
    prompt = validate_prompt(body.get("prompt"), max_prompt_chars)
    if fingerprint:
        CacheKey(fingerprint, prompt_md5(prompt), "v", 0)  # validates the code
    return ManifestRow(video, prompt, fingerprint, line)


def read_manifest(text: str, fmt: str, max_prompt_chars: int) -> list[ManifestRow]:
    """Every row, validated; a manifest with any bad row is refused as a whole, naming the
    rows (line numbers) and what is wrong with each."""
    rows: list[ManifestRow] = []
    problems: list[str] = []
    for number, body in _rows(text, fmt):
        try:
            if isinstance(body, str):
                raise InvalidInput(body)
            rows.append(row_from(body, number, max_prompt_chars))
        except InvalidInput as exc:
            problems.append(f"line {number}: {exc}")
    if problems:
        listed = "; ".join(problems[:MAX_LISTED_PROBLEMS])
        more = len(problems) - MAX_LISTED_PROBLEMS
        raise ManifestError(
            f"{len(problems)} bad row(s), nothing was run: {listed}"
            + (f"; and {more} more" if more > 0 else "")
        )
    if not rows:
        raise ManifestError("the manifest has no rows")
    return rows


def to_csv(rows: list[ManifestRow]) -> str:
    """The manifest the Distributed Map reads: CSV with a header row (an InputType both
    Step Functions and the local stack's interpreter read)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["video", "prompt", "fingerprint"])
    writer.writerows([r.video, r.prompt, r.fingerprint] for r in rows)
    return out.getvalue()


def prewarm_job_id(row: ManifestRow, version: str) -> str:
    """The same row under the same version is always the same job (and execution)."""
    digest = hashlib.sha256(f"{version}\0{row.video}\0{prompt_md5(row.prompt)}".encode())
    return "pw-" + digest.hexdigest()[:28]


class Action(StrEnum):
    CACHED = "cached"  # the entry exists: nothing runs
    DONE = "done"  # this row's job succeeded in an earlier run
    RUN = "run"  # start (or re-attach to) the row's job
    FAILED = "failed"  # this row's job failed in an earlier run (its error says why)
    NO_SOURCE = "no-source"  # the video is not there


@dataclass(frozen=True, slots=True)
class ItemPlan:
    action: Action
    job_id: str = ""
    bucket: str = ""
    key: str = ""
    reason: str = ""
    #: The pipeline execution's input (for RUN): pinned version, no delivery.
    execution_input: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["action"] = self.action.value
        return body


def check_version(services: Services, version: str) -> str:
    """A prewarm generates under a version an endpoint serves: the stable or the candidate."""
    validate_model_version(version)
    if not services.settings.rollout().serves(version):
        rollout = services.settings.rollout()
        raise InvalidInput(
            f"no endpoint serves model version {version!r}: deploy it as the candidate first "
            f"(stable {rollout.stable!r}, candidate {rollout.candidate or 'none'!r})"
        )
    return version


def cached(services: Services, row: ManifestRow, fingerprint: str, version: str) -> bool:
    """The entry's commit point (its L2 ``entry.json``) exists; read without counting a hit."""
    key = CacheKey(fingerprint, prompt_md5(row.prompt), version, FINGERPRINT_VERSION)
    return services.cache.peek_l2(key) is not None


def _source(services: Services, row: ManifestRow, job_id: str) -> tuple[str, str]:
    """(bucket, key) the job reads: an S3 row's own object, else the upload key."""
    if not row.is_s3:
        name = row.video.replace("\\", "/").rsplit("/", 1)[-1] or "video"
        return services.settings.uploads_bucket, names.upload_key(
            services.settings.uploads_prefix, job_id, name
        )
    parsed = urlparse(row.video)
    return parsed.netloc, parsed.path.lstrip("/")


def prepare_item(services: Services, row: ManifestRow, version: str) -> ItemPlan:
    """Decide one row: skip it (cached, done, failed, no source) or run its job, whose
    record is created here (running, so the upload's S3 event does not start it again)."""
    check_version(services, version)
    if row.fingerprint and cached(services, row, row.fingerprint, version):
        return ItemPlan(Action.CACHED, reason="entry already cached")
    job_id = prewarm_job_id(row, version)
    bucket, key = _source(services, row, job_id)
    run_input = {
        "job_id": job_id,
        "bucket": bucket,
        "key": key,
        "model_version": version,
        "deliver": False,
    }
    job = services.jobs.get(job_id)
    if job is not None:
        if job.status is JobStatus.SUCCEEDED:
            return ItemPlan(Action.DONE, job_id, bucket, key, "generated in an earlier run")
        if job.status is JobStatus.FAILED:
            return ItemPlan(Action.FAILED, job_id, bucket, key, job.error.get("message", ""))
        return ItemPlan(Action.RUN, job_id, bucket, key, "resumed", run_input)
    if row.is_s3:
        if bucket != services.settings.uploads_bucket:
            return ItemPlan(
                Action.NO_SOURCE,
                job_id,
                bucket,
                key,
                f"{row.video} is not in the uploads bucket {services.settings.uploads_bucket}",
            )
        if services.uploads.head(key) is None:
            return ItemPlan(Action.NO_SOURCE, job_id, bucket, key, f"{row.video} does not exist")
    now = services.clock.now()
    services.jobs.create(
        JobRecord(
            job_id=job_id,
            status=JobStatus.RUNNING,
            prompt=row.prompt,
            created_at=now,
            updated_at=now,
            bucket=bucket,
            key=key,
            stage="queued",
            model_version=version,
            details={"prewarm": True, "manifest_line": row.line},
        )
    )
    return ItemPlan(Action.RUN, job_id, bucket, key, "started", run_input)


@dataclass(frozen=True, slots=True)
class TopManifest:
    """A model prewarm's manifest: the most-hit pairs whose source video is still there,
    and, for each one that is not, why."""

    rows: list[ManifestRow]
    missing: list[dict[str, str]]


def top_manifest(services: Services, n: int) -> TopManifest:
    """The ``n`` most-hit (video, prompt) pairs of the stable version, as manifest rows.

    The source video is the upload of the job that made the pair's entry
    (``entry.source_job`` -> the job record's bucket and key); the prompt is that job's.
    A pair whose entry, job record or upload is gone (uploads expire) cannot be
    regenerated: it is listed in ``missing`` with the reason, and the rest go on.
    """
    if n <= 0:
        raise InvalidInput(f"--top must be a positive number, got {n}")
    ns = namespace(services.settings.model_version, FINGERPRINT_VERSION)
    rows: list[ManifestRow] = []
    missing: list[dict[str, str]] = []
    for key, hits in top_entries(services, ns, n):
        found = services.cache.peek_l2(key)
        job = services.jobs.get(found.source_job) if found and found.source_job else None
        why = ""
        if found is None:
            why = "the entry is no longer in L2"
        elif job is None:
            why = f"its source job {found.source_job or '(none recorded)'} is not recorded"
        elif prompt_md5(job.prompt) != key.prompt_md5:
            why = f"job {job.job_id}'s prompt is not this entry's"
        elif services.uploads.head(job.key) is None:
            why = f"its upload s3://{job.bucket}/{job.key} is gone (uploads expire)"
        if why or job is None:
            missing.append({"entry": str(key), "hits": f"{hits:g}", "reason": why})
            continue
        rows.append(ManifestRow(f"s3://{job.bucket}/{job.key}", job.prompt, key.fingerprint))
    return TopManifest(rows, missing)


def start_prewarm_map(
    services: Services,
    starter: WorkflowStarter,
    rows: list[ManifestRow],
    version: str,
    concurrency: int,
) -> dict[str, Any]:
    """The cloud runner: write the manifest (CSV) to the cache bucket and start the
    prewarm Distributed Map on it. The run id is the manifest's digest, so starting the
    same prewarm twice is one execution."""
    check_version(services, version)
    local = [r for r in rows if not r.is_s3]
    if local:
        raise InvalidInput(
            f"the cloud prewarm reads videos from S3; line {local[0].line} names a local "
            f"file ({local[0].video}): upload it to the uploads bucket and name s3://..."
        )
    body = to_csv(rows)
    run_id = "pw-" + hashlib.sha256(f"{version}\0{body}".encode()).hexdigest()[:24]
    manifest_key = names.prewarm_manifest_key(run_id, "csv")
    services.cache_blobs.put_bytes(manifest_key, body.encode(), "text/csv")
    run_input = {
        "manifest": {"bucket": services.settings.cache_bucket, "key": manifest_key},
        "model_version": version,
        "concurrency": max(1, concurrency),
    }
    started = starter.start(run_id, run_input)
    return {"run_id": run_id, "started": started, "rows": len(rows), **run_input}
