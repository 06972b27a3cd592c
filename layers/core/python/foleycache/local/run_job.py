"""``foleycache run``: one video through the whole local pipeline, as a user's upload would go.

It submits the job (as the API does), uploads the file with an S3 SHA-256
checksum to the uploads bucket, lets the S3 event start the state machine,
waits on the job record, and downloads the outputs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from foleycache.cache import names
from foleycache.core.errors import FoleyError
from foleycache.core.job import JobRecord, JobStatus
from foleycache.media.preflight import validate_audio_mode
from foleycache.pipeline.ingest import submit_job
from foleycache.services import Services

_DONE = {JobStatus.SUCCEEDED, JobStatus.FAILED}
START_TIMEOUT_S = 60.0


class Progress:
    """A one-line progress display on a terminal; silent otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.started = time.monotonic()

    def show(self, stage: str) -> None:
        if self.enabled:
            elapsed = time.monotonic() - self.started
            sys.stderr.write(f"\r\033[K  {elapsed:6.1f}s  {stage or 'queued'}")
            sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def wait_for(services: Services, job_id: str, timeout_s: float, progress: Progress) -> JobRecord:
    started = time.monotonic()
    deadline = started + timeout_s
    while True:
        job = services.jobs.get(job_id)
        if job is not None:
            progress.show(job.stage)
            if job.status in _DONE:
                return job
            if job.status is JobStatus.PENDING and time.monotonic() - started > START_TIMEOUT_S:
                raise TimeoutError(
                    f"the upload of job {job_id} did not start the pipeline within "
                    f"{START_TIMEOUT_S:.0f} s; see the stack log"
                )
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} did not finish within {timeout_s:.0f} s")
        time.sleep(0.1)


def download_outputs(services: Services, s3: Any, job: JobRecord, out_dir: Path) -> dict[str, str]:
    dest = out_dir / job.job_id
    dest.mkdir(parents=True, exist_ok=True)
    prefix = names.outputs_prefix(services.settings.outputs_prefix, job.job_id)
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=services.uploads.bucket, Prefix=prefix
    )
    for page in pages:
        for obj in page.get("Contents", []):
            target = dest / obj["Key"][len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            services.uploads.download(obj["Key"], target)
    return {name: str(dest / key[len(prefix) :]) for name, key in job.outputs.items()}


def run_video(
    services: Services,
    s3: Any,
    video: Path,
    prompt: str,
    out_dir: Path,
    *,
    timeout_s: float = 900.0,
    progress: Progress | None = None,
    audio_mode: str = "replace",
) -> dict[str, Any]:
    progress = progress or Progress(False)
    started = time.perf_counter()
    try:
        validate_audio_mode(audio_mode)
        job = submit_job(services, prompt, video.name)
        if audio_mode != "replace":
            services.jobs.update(job.job_id, details={**job.details, "audio_mode": audio_mode})
    except FoleyError as exc:
        return {"job_id": None, "status": "failed", "error": str(exc), "error_code": exc.code}
    with video.open("rb") as body:
        s3.put_object(
            Bucket=services.uploads.bucket,
            Key=job.key,
            Body=body,
            ChecksumAlgorithm="SHA256",
            ContentType="application/octet-stream",
        )
    done = wait_for(services, job.job_id, timeout_s, progress)
    progress.done()
    result = done.to_public()
    result["model_version"] = result["model_version"] or services.settings.model_version
    if done.status is JobStatus.SUCCEEDED:
        result["outputs"] = download_outputs(services, s3, done, out_dir)
    result["timings_ms"]["total"] = round((time.perf_counter() - started) * 1000, 1)
    return result
