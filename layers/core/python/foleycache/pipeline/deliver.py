"""Pipeline steps 5-6: mux the Foley track into an MP4, then repackage it for ABR.

The video is encoded at most once (in ``mux``, only when the source is not
deliverable as is); DASH and HLS are derived from that MP4 by repackaging,
never by encoding again.
"""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath

from foleycache.cache import names
from foleycache.core import metrics as M
from foleycache.media.mux import mux_foley
from foleycache.media.package import package_abr
from foleycache.media.preflight import Preflight
from foleycache.media.probe import probe
from foleycache.pipeline.stage_timer import stage
from foleycache.pipeline.state import PipelineState
from foleycache.services import Services


def output_prefix(services: Services, job_id: str) -> str:
    return names.outputs_prefix(services.settings.outputs_prefix, job_id)


def mux(services: Services, state: PipelineState) -> PipelineState:
    settings = services.settings
    prefix = output_prefix(services, state.job_id)
    with (
        stage(services.jobs, state.job_id, "mux"),
        tempfile.TemporaryDirectory(dir=settings.work_dir, prefix="fc-mux-") as tmp,
    ):
        work = Path(tmp)
        video = work / f"source{PurePosixPath(state.key).suffix[:10]}"
        audio = work / "foley.wav"
        services.uploads.download(state.key, video)
        services.cache_blobs.download(state.audio_key, audio)
        result = mux_foley(
            video,
            audio,
            work / "video.mp4",
            probe(video, ffprobe=settings.ffprobe),
            segment_s=settings.segment_s,
            # The plan the fingerprint step made before inference; an exact repeat whose
            # earlier outputs expired has none, and mux decides the same way itself.
            plan=Preflight.from_dict(state.media_plan) if state.media_plan else None,
            audio_mode=state.audio_mode,
            ffmpeg=settings.ffmpeg,
            ffprobe=settings.ffprobe,
        )
        services.uploads.upload(audio, prefix + "foley.wav", "audio/wav")
        services.uploads.upload(result.path, prefix + "video.mp4", "video/mp4")
        rungs = [f"{prefix}rungs/{rung.name}" for rung in result.rungs]
        for rung, key in zip(result.rungs, rungs, strict=True):
            services.uploads.upload(rung, key, "video/mp4")
    services.jobs.update(state.job_id, media=result.record())
    services.metrics.emit(M.ENCODE_CPU_SECONDS, result.cpu_s)
    outputs = {"audio": prefix + "foley.wav", "video": prefix + "video.mp4"}
    return state.model_copy(update={"outputs": outputs, "rungs": rungs})


_CONTENT_TYPES = {
    ".mpd": "application/dash+xml",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
}


def package(services: Services, state: PipelineState) -> PipelineState:
    settings = services.settings
    prefix = output_prefix(services, state.job_id)
    with (
        stage(services.jobs, state.job_id, "package"),
        tempfile.TemporaryDirectory(dir=settings.work_dir, prefix="fc-pkg-") as tmp,
    ):
        work = Path(tmp)
        mp4 = work / "video.mp4"
        services.uploads.download(state.outputs["video"], mp4)
        rungs = []
        for i, key in enumerate(state.rungs):
            rungs.append(work / f"rung{i}.mp4")
            services.uploads.download(key, rungs[-1])
        out_dir = work / "abr"
        result = package_abr(mp4, out_dir, rungs=rungs, segment_s=settings.segment_s)
        for path in sorted(p for p in out_dir.rglob("*") if p.is_file()):
            rel = path.relative_to(out_dir).as_posix()
            content_type = _CONTENT_TYPES.get(path.suffix, "application/octet-stream")
            services.uploads.upload(path, prefix + "abr/" + rel, content_type)
        outputs = dict(state.outputs)
        outputs["dash"] = prefix + "abr/" + result.dash_manifest.relative_to(out_dir).as_posix()
        outputs["hls"] = prefix + "abr/" + result.hls_manifest.relative_to(out_dir).as_posix()
    services.metrics.emit(M.REPACKAGE_CPU_SECONDS, result.cpu_s)
    return state.model_copy(update={"outputs": outputs})
