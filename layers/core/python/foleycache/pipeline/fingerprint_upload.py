"""Pipeline step 1: validate the upload and fingerprint it.

Validation happens here, first and cheaply (size from HeadObject before any
download, then ffprobe), so a bad upload fails the job with a sentence that
says what is wrong, and never reaches the GPU.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from foleycache.cache import names
from foleycache.cache.names import exact_scope
from foleycache.cache.repeat_memory import ExactRecord, find_exact, remembered_failure
from foleycache.core import metrics as M
from foleycache.core.errors import InvalidInput, InvalidVideo, NotFound, VideoTooLarge
from foleycache.core.job import CacheOutcome, JobRecord
from foleycache.core.keys import CacheKey, prompt_md5, validate_prompt
from foleycache.core.ports import ObjectInfo
from foleycache.fingerprint import FINGERPRINT_VERSION, Fingerprint, decide
from foleycache.media.limits import MediaLimits
from foleycache.media.preflight import Preflight, preflight, validate_audio_mode
from foleycache.media.probe import probe
from foleycache.pipeline.stage_timer import stage
from foleycache.pipeline.state import PipelineState
from foleycache.services import Services
from foleycache.settings import Settings


def load_job(services: Services, job_id: str) -> JobRecord:
    job = services.jobs.get(job_id)
    if job is None:
        raise NotFound(f"job {job_id} does not exist")
    return job


def job_model_version(
    services: Services, state: PipelineState, fingerprint: str, prompt_digest: str
) -> str:
    """The model version this job is answered under: the state's, where a prewarm pinned
    one, else the canary split's choice for this video and prompt (the stable version
    when no canary runs; :mod:`foleycache.core.rollout`)."""
    if state.model_version:
        return state.model_version
    return services.settings.rollout().version_for(fingerprint, prompt_digest)


def fingerprint_upload(services: Services, state: PipelineState) -> PipelineState:
    # Here, not at the top: it loads OpenCV and onnxruntime, which only the fingerprint
    # function's image has, and the hot-path functions import this module (key_of, load_job).
    from foleycache.fingerprint.extract import fingerprint_video

    settings = services.settings
    job = load_job(services, state.job_id)
    with stage(services.jobs, state.job_id, "fingerprint"):
        prompt = validate_prompt(job.prompt, settings.max_prompt_chars)
        audio_mode = validate_audio_mode(job.details.get("audio_mode", "replace"))
        info = services.uploads.head(state.key)
        sha, mismatch = _upload_sha256(job, info)
        # Recorded before any check can fail: the failure memory keys on it.
        services.jobs.update(
            state.job_id, details={"sha256": sha, "bytes": info.size if info else 0}
        )
        if info is None:
            raise InvalidInput(f"the upload s3://{state.bucket}/{state.key} does not exist")
        if mismatch:
            raise InvalidInput(mismatch)
        if info.size == 0:
            raise InvalidVideo("the upload is empty (0 bytes)")
        if info.size > settings.max_video_bytes:
            raise VideoTooLarge(
                f"the upload is {info.size} bytes; the limit is {settings.max_video_bytes} bytes"
            )
        known: KnownUpload | None = None
        if sha:
            failure = remembered_failure(services, sha, prompt_md5(prompt))
            if failure is not None:
                raise failure
            known = _known_upload(services, state, prompt, sha, audio_mode)
            exact = _exact_repeat(services, state, known, sha, audio_mode) if known else None
            if exact is not None:
                return exact
        suffix = PurePosixPath(state.key).suffix[:10]
        with tempfile.TemporaryDirectory(dir=settings.work_dir, prefix="fc-fp-") as tmp:
            path = Path(tmp) / f"source{suffix}"
            services.uploads.download(state.key, path)
            media = probe(path, ffprobe=settings.ffprobe)
            # Every mux and packaging precondition, decided before the GPU is paid for.
            plan = preflight(
                media,
                segment_s=settings.segment_s,
                audio_mode=audio_mode,
                limits=limits_of(settings),
                ladder_on_copy=settings.ladder_on_copy,
            )
            services.jobs.update(state.job_id, media=plan_record(plan))
            # Bytes the library knows are not decoded again, under any model version.
            fp = known.fingerprint if known else fingerprint_video(path)
        digest = prompt_md5(prompt)
        if known:  # the key its sound was made under: its code, or a slot of it
            key = known.key
            services.metrics.emit(M.FINGERPRINT_FROM_LIBRARY)
        else:  # the code; lookup moves it to a key slot if the code is another video's
            key = CacheKey(
                fp.hex, digest, job_model_version(services, state, fp.hex, digest), fp.version
            )
        services.jobs.update(
            state.job_id,
            fingerprint=key.fingerprint,
            cache_key=str(key),
            model_version=key.model_version,
            details={
                "duration_s": round(media.duration_s, 3),
                "fingerprint_source": "library" if known else "decoded",
                **({} if known else {"frames": fp.frames}),
                "sha256": sha,
                "bytes": info.size,
            },
        )
    return state.model_copy(
        update={
            "fingerprint": key.fingerprint,
            "fingerprint_version": fp.version,
            "prompt_md5": key.prompt_md5,
            "model_version": key.model_version,
            "cache_key": str(key),
            "duration_s": media.duration_s,
            "fingerprint_data": fp.to_dict(),
            "sha256": sha,
            "audio_mode": audio_mode,
            "media_plan": plan.to_dict(),
            # Known bytes are known by the fingerprint their sound was made under (maybe a
            # near original's): the job makes it there, without a second near hop.
            "next": "lease" if known else "lookup",
        }
    )


def _upload_sha256(job: JobRecord, info: ObjectInfo | None) -> tuple[str, str]:
    """(the checksum that stands for the upload's bytes, or ""; why it is refused, or "").

    Only S3's own checksum counts: S3 verified the bytes against it (the API's
    presigned PUT is signed with the SHA-256 the client declared at submit, so
    S3 keeps exactly that one). A declared checksum that S3 does not report is
    unverified and not used: the job then takes the decoding path. One that
    differs from S3's means the object is not the declared upload.
    """
    stored = (info.sha256_b64 or "") if info is not None else ""
    declared = str(job.details.get("sha256") or "")
    if declared and stored and stored != declared:
        return "", (
            f"the upload's SHA-256 ({stored}) is not the one declared when job "
            f"{job.job_id} was submitted ({declared})"
        )
    return stored, ""


def _reuse_outputs(services: Services, job_id: str, outputs: dict[str, str]) -> dict[str, str]:
    """Server-side copies of an earlier job's deliverables; {} if they are gone."""
    if not outputs or services.uploads.head(outputs.get("video", "")) is None:
        return {}
    old_prefix = outputs["video"].rsplit("/", 1)[0] + "/"
    new_prefix = names.outputs_prefix(services.settings.outputs_prefix, job_id)
    if not all(key.startswith(old_prefix) for key in outputs.values()):
        return {}
    for key in services.uploads.list_keys(old_prefix):
        if "/abr/signed/" in key:  # per-request playable copies whose links expire
            continue
        services.uploads.copy(key, new_prefix + key[len(old_prefix) :])
    return {name: new_prefix + key[len(old_prefix) :] for name, key in outputs.items()}


@dataclass(frozen=True, slots=True)
class KnownUpload:
    """Bytes the library has seen with this prompt and audio mode: the record, the key it
    names under this job's model version, and the fingerprint stored for that key."""

    record: ExactRecord
    key: CacheKey
    fingerprint: Fingerprint


def _known_upload(
    services: Services, state: PipelineState, prompt: str, sha: str, audio_mode: str
) -> KnownUpload | None:
    digest = prompt_md5(prompt)
    record = find_exact(services, exact_scope(FINGERPRINT_VERSION, sha, digest, audio_mode))
    if record is None:
        return None
    try:
        key = CacheKey(
            record.fingerprint,
            digest,
            job_model_version(services, state, record.split_code, digest),
            FINGERPRINT_VERSION,
        )
        stored = services.library.get(key)
        if stored is None or not record.names(stored):
            # Another video's record now (its key slot overwritten), or a record from
            # before the digest: these bytes are decoded, never taken for that video.
            return None
        return KnownUpload(record, key, Fingerprint.from_dict(stored))
    except InvalidInput:  # a damaged record or fingerprint: decode as if unknown
        return None


def _exact_repeat(
    services: Services, state: PipelineState, known: KnownUpload, sha: str, audio_mode: str
) -> PipelineState | None:
    """Answer a repeat of the same bytes, prompt and audio mode without downloading or
    decoding it, if this model version has the sound (verified against the fingerprint the
    bytes are known by)."""
    key = known.key
    hit = services.cache.lookup(key)
    if hit is None:
        return None
    _, entry = hit
    if entry.fingerprint_data:
        decision = decide(Fingerprint.from_dict(entry.fingerprint_data), known.fingerprint)
        if not decision.same:
            services.metrics.emit(M.KEY_COLLISION_REJECTED)
            return None
    services.metrics.emit(M.EXACT_MATCH)
    lent = known.record.outputs_for(key.model_version) if state.deliver else {}
    outputs = _reuse_outputs(services, state.job_id, lent)
    services.jobs.update(
        state.job_id,
        fingerprint=key.fingerprint,
        cache_key=str(key),
        model_version=key.model_version,
        cache=CacheOutcome.EXACT,
        details={
            "duration_s": round(entry.duration_s, 3),
            "fingerprint_source": "library",
            "sha256": sha,
            "outputs_reused": bool(outputs),
        },
    )
    return state.model_copy(
        update={
            "fingerprint": key.fingerprint,
            "fingerprint_version": key.fingerprint_version,
            # What the bytes are known as: the exact-bytes record is written again from it.
            "fingerprint_data": known.fingerprint.to_dict(),
            "prompt_md5": key.prompt_md5,
            "model_version": key.model_version,
            "cache_key": str(key),
            "duration_s": entry.duration_s,
            "sha256": sha,
            "audio_mode": audio_mode,
            "cache": CacheOutcome.EXACT,
            "audio_key": entry.audio_key,
            "served_fingerprint": key.fingerprint,
            "outputs": outputs,
            "next": "done" if outputs else state.after_audio(),
            "sound_at": services.clock.now(),
        }
    )


def limits_of(settings: Settings) -> MediaLimits:
    return MediaLimits(
        max_bytes=settings.max_video_bytes,
        max_duration_s=settings.max_duration_s,
        max_pixels=settings.max_pixels,
        max_fps=settings.max_fps,
        max_frames=settings.max_frames,
        max_encoded_pixels=settings.max_encoded_pixels,
    )


def plan_record(plan: Preflight) -> dict[str, object]:
    """What the job record shows of the decision: ``video: copy|encode`` and why."""
    body = plan.to_dict()
    return {
        k: body[k]
        for k in ("video", "reason", "fixes", "rungs", "audio_tracks", "notes")
        if k in body
    }
