"""Put the Foley track under the video as one progressive MP4, encoding the video at most once.

One ffmpeg run does everything ``preflight`` planned. The video is copied
when it is deliverable (~1 % of an encode); otherwise it is decoded once and
encoded once, applying the plan's fixes, in the layout every later step can
repackage without touching it again:

* H.264 High, yuv420p 8-bit, progressive: what every browser and phone decodes.
* libx264 ``-preset veryfast -crf 23``: crf 23 is x264's default quality;
  ``veryfast`` costs about a third of the CPU of ``medium`` for a ~10-20 %
  bigger file, the right trade when CPU seconds are the bill.
* Closed GOPs of exactly ``segment_s`` (forced keyframes on the grid, scene
  cut detection off), so DASH/HLS segments come out ``segment_s`` long.
* The source's timestamps are kept (``-fps_mode passthrough``: no frame
  duplicated or dropped), so the Foley, generated for those frames, stays in
  sync; display rotation stays metadata (``-noautorotate``).

The same run writes each lower ABR rung (video only, same timestamps and
keyframes) from the decoded frames through ``split`` and ``scale``, so the
ladder costs no second decode. Audio tracks (AAC-LC 48 kHz stereo 192 kb/s,
each padded or trimmed to the video's duration) follow the audio mode:
``replace`` (the Foley only, as HunyuanVideo-Foley's own muxer does),
``mix`` (the Foley under the source audio at a gain from EBU R128 loudness)
or ``add`` (the Foley, then the source audio as a second, labelled track).
Timecode, data and subtitle tracks are dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from foleycache.core.errors import MediaError
from foleycache.media.loudness import MIX_FOLEY_RELATIVE_LU, MixGain, mix_gain
from foleycache.media.mp4_track import Track, open_mp4
from foleycache.media.preflight import (
    DELIVERABLE_PIX_FMT,
    Preflight,
    keyframe_grid,
    plan_delivery,
)
from foleycache.media.probe import MediaInfo
from foleycache.media.tool_process import run_ffmpeg, run_tool

X264_PRESET = "veryfast"
X264_CRF = 23
AUDIO_RATE_HZ = 48_000
AUDIO_BITRATE = "192k"
#: One AAC frame at 48 kHz: the granularity of the muxed audio's duration.
AAC_FRAME_S = 1024 / AUDIO_RATE_HZ
#: The Foley WAV may differ from the video's duration by up to this much and is
#: padded with silence or trimmed to match; a larger gap means the audio was
#: generated for another video, which muxing must not hide.
AUDIO_SLACK_S = 0.1
#: Peak ceiling after mixing (-0.2 dBFS): the sum of two tracks may clip otherwise.
MIX_LIMIT = 0.977
#: Forced keyframe times for copy-path rungs are moved this much earlier, so
#: rounding to the encoder's time base cannot push them onto the next frame.
KEYFRAME_EARLY_S = 0.001


@dataclass(frozen=True)
class MuxResult:
    path: Path
    copied_video: bool
    reasons: tuple[str, ...]
    #: CPU seconds (user + system) of the ffmpeg runs (mux, and loudness for ``mix``).
    cpu_s: float
    plan: Preflight | None = None
    #: Video-only MP4s of the lower rungs, largest first, same GOPs as ``path``.
    rungs: tuple[Path, ...] = ()
    frames_in: int = 0
    frames_out: int = 0
    gain: MixGain | None = None
    #: CPU seconds of the one ffmpeg run alone.
    ffmpeg_cpu_s: float = 0.0
    audio_tracks: tuple[str, ...] = field(default_factory=tuple)

    def record(self) -> dict[str, object]:
        """What the job record keeps about this step."""
        return {
            "video": "copy" if self.copied_video else "encode",
            "reason": "; ".join(self.reasons),
            "fixes": list(self.plan.fixes) if self.plan else [],
            "rungs": [p.name for p in self.rungs],
            "audio_tracks": list(self.audio_tracks),
            "foley_gain_db": self.gain.gain_db if self.gain else None,
            "frames": self.frames_out,
            "mux_cpu_s": round(self.cpu_s, 3),
        }


def mux_foley(
    video: Path,
    audio_wav: Path,
    out_mp4: Path,
    info: MediaInfo,
    *,
    segment_s: float = 2.0,
    plan: Preflight | None = None,
    audio_mode: str = "replace",
    mix_relative_lu: float = MIX_FOLEY_RELATIVE_LU,
    ffmpeg: str = "ffmpeg",
    ffprobe: str = "ffprobe",
) -> MuxResult:
    """Write ``out_mp4`` (and the lower rungs next to it) as ``plan`` says.

    ``plan`` is the one ``preflight`` stored at the fingerprint stage; without
    one it is decided here from ``info`` (limits not checked). Guarantees on
    success: one H.264 video track lasting the source's duration within one
    frame, one AAC 48 kHz stereo track per planned label, each ending with
    the video, ``moov`` at the front. Raises MediaError if ffmpeg fails or the
    WAV's duration does not match the video's.
    """
    plan = plan or plan_delivery(info, segment_s=segment_s, audio_mode=audio_mode)
    wav_s = _audio_duration(audio_wav, ffprobe)
    if abs(wav_s - info.duration_s) > max(AUDIO_SLACK_S, info.frame_s):
        raise MediaError(
            f"the Foley audio lasts {wav_s:.3f} s but the video lasts {info.duration_s:.3f} s"
        )
    gain = (
        mix_gain(video, audio_wav, relative_lu=mix_relative_lu, ffmpeg=ffmpeg)
        if plan.mixes_source_audio
        else None
    )
    out_mp4.parent.mkdir(parents=True, exist_ok=True)
    rung_paths = tuple(
        out_mp4.with_name(f"{out_mp4.stem}-{r.width}x{r.height}.mp4") for r in plan.rungs
    )
    args = [
        ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y",
        "-noautorotate", "-i", str(video), "-i", str(audio_wav),
        *_output_args(info, plan, gain, out_mp4, rung_paths),
    ]  # fmt: skip
    run = run_ffmpeg(args, what=f"mux the Foley audio into {video.name}")
    frames_out = _verify(out_mp4, info, plan)
    return MuxResult(
        path=out_mp4,
        copied_video=plan.copy_video,
        reasons=plan.reasons,
        cpu_s=run.cpu_s + (gain.cpu_s if gain else 0.0),
        plan=plan,
        rungs=rung_paths,
        frames_in=info.frame_count,
        frames_out=frames_out,
        gain=gain,
        ffmpeg_cpu_s=run.cpu_s,
        audio_tracks=plan.audio_tracks,
    )


def _output_args(
    info: MediaInfo, plan: Preflight, gain: MixGain | None, out_mp4: Path, rungs: tuple[Path, ...]
) -> list[str]:
    """Filter graphs, then the progressive MP4's output options, then each rung's."""
    args: list[str] = []
    for graph in _filter_graphs(info, plan, gain):
        args += ["-filter_complex", graph]
    args += _top_output(info, plan, out_mp4)
    for index, path in enumerate(rungs):
        args += _rung_output(info, plan, index, path)
    return args


def _filter_graphs(info: MediaInfo, plan: Preflight, gain: MixGain | None) -> list[str]:
    """One graph for the video ([vtop], [rN]) and one per audio track ([aN]).

    Separate graphs on purpose: ffmpeg 5.1 copies the input's display matrix
    (rotation) to a filtered output only when that output's graph has a single
    input, so the video graph must not also read the Foley WAV.
    """
    video = _video_chains(info, plan)
    return ([";".join(video)] if video else []) + _audio_graphs(plan, info.duration_s, gain)


def _video_chains(info: MediaInfo, plan: Preflight) -> list[str]:
    steps: list[str] = []
    if not plan.copy_video:
        if plan.deinterlace:
            steps.append("bwdif=mode=send_frame")
        steps += _pad_steps(info, plan)
        if plan.to_limited_range:
            steps.append("scale=out_range=tv")
        steps.append(f"format={DELIVERABLE_PIX_FMT}")
    outputs = ([] if plan.copy_video else ["[vtop]"]) + [f"[s{i}]" for i in range(len(plan.rungs))]
    if not outputs:
        return []
    fixed = ",".join(steps) or "null"
    split = f",split={len(outputs)}" if len(outputs) > 1 else ""
    chains = [f"[0:v:0]{fixed}{split}{''.join(outputs)}"]
    chains += [f"[s{i}]scale={r.width}:{r.height}[r{i}]" for i, r in enumerate(plan.rungs)]
    return chains


def _pad_steps(info: MediaInfo, plan: Preflight) -> list[str]:
    """Pad to the planned even size, repeating the edge pixels (no black line)."""
    right, bottom = plan.width - info.width, plan.height - info.height
    if not right and not bottom:
        return []
    return [
        f"pad={plan.width}:{plan.height}:0:0",
        f"fillborders=right={right}:bottom={bottom}:mode=smear",
    ]


def _audio_graphs(plan: Preflight, duration_s: float, gain: MixGain | None) -> list[str]:
    fit = (
        f"aresample={AUDIO_RATE_HZ}:async=1:first_pts=0,"
        f"apad=whole_dur={duration_s:.6f},atrim=end={duration_s:.6f},"
        f"aformat=sample_rates={AUDIO_RATE_HZ}:channel_layouts=stereo"
    )
    if plan.mixes_source_audio:
        volume = f"volume={gain.gain_db if gain else 0.0:.2f}dB,"
        return [
            f"[1:a:0]{volume}{fit}[fol];[0:a:0]{fit}[src];"
            f"[src][fol]amix=inputs=2:duration=first:normalize=0,"
            f"alimiter=limit={MIX_LIMIT}:level=0:latency=1[a0]"
        ]
    chains = [f"[1:a:0]{fit}[a0]"]
    if plan.adds_source_audio:
        chains.append(f"[0:a:0]{fit}[a1]")
    return chains


def _top_output(info: MediaInfo, plan: Preflight, out_mp4: Path) -> list[str]:
    video = ["-map", "0:v:0", "-c:v", "copy"] if plan.copy_video else [
        "-map", "[vtop]", *_encode_args(info, plan.segment_s, plan),
    ]  # fmt: skip
    audio: list[str] = []
    for i, label in enumerate(plan.audio_tracks):
        audio += ["-map", f"[a{i}]", f"-metadata:s:a:{i}", f"title={label}",
                  f"-metadata:s:a:{i}", f"handler_name={label}",
                  f"-disposition:a:{i}", "default" if i == 0 else "0"]  # fmt: skip
    return [
        *video, *audio,
        "-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ar", str(AUDIO_RATE_HZ), "-ac", "2",
        "-map_metadata", "-1", "-map_chapters", "-1", "-write_tmcd", "0",
        "-movflags", "+faststart", "-f", "mp4", str(out_mp4),
    ]  # fmt: skip


def _rung_output(info: MediaInfo, plan: Preflight, index: int, path: Path) -> list[str]:
    """Video-only MP4 of rung ``index``: same encoder settings, keyframes on the top's frames."""
    keyframes = None
    if plan.copy_video:  # the top keeps the source's keyframes: put the rung's on the same frames
        keyframes = ",".join(
            f"{max(0.0, t - KEYFRAME_EARLY_S):.6f}" for t in keyframe_grid(info, plan.segment_s)
        )
    return [
        "-map", f"[r{index}]", *_encode_args(info, plan.segment_s, plan, keyframes=keyframes),
        "-an", "-map_metadata", "-1", "-map_chapters", "-1", "-write_tmcd", "0",
        "-movflags", "+faststart", "-f", "mp4", str(path),
    ]  # fmt: skip


def _encode_args(
    info: MediaInfo, segment_s: float, plan: Preflight, *, keyframes: str | None = None
) -> list[str]:
    """libx264 with closed GOPs: keyframes forced on the grid (or at ``keyframes``), nowhere else.

    ``-g`` is only a ceiling (two segments' worth of frames): if it equalled
    one segment, x264 would place its own keyframe a frame before the grid on
    variable-frame-rate sources, which the grid cutter then ignores.
    """
    frames_per_segment = max(1, math.ceil(info.fps * segment_s))
    force = keyframes if keyframes is not None else f"expr:gte(t,n_forced*{segment_s:g})"
    range_args = ["-color_range", "tv"] if plan.to_limited_range else []
    return [
        "-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF),
        "-profile:v", "high", "-pix_fmt", DELIVERABLE_PIX_FMT, *range_args,
        "-fps_mode", "passthrough",
        "-force_key_frames", force,
        "-sc_threshold", "0", "-flags", "+cgop",
        "-g", str(2 * frames_per_segment), "-keyint_min", str(frames_per_segment),
    ]  # fmt: skip


def _audio_duration(path: Path, ffprobe: str) -> float:
    run = run_tool(
        [ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)]
    )
    try:
        return float(run.stdout.strip())
    except ValueError:
        raise MediaError(
            f"the Foley audio {path.name} is not readable audio:\n{run.stderr_tail()}"
        ) from None


def _verify(out_mp4: Path, source: MediaInfo, plan: Preflight) -> int:
    """Check durations and track count from the MP4's own tables; return its frame count."""
    with open_mp4(out_mp4) as (_, tracks):
        videos = [t for t in tracks if t.kind == "video"]
        audios = [t for t in tracks if t.kind == "audio"]
        if len(videos) != 1 or len(audios) != len(plan.audio_tracks):
            raise MediaError(
                f"the muxed MP4 has {len(videos)} video and {len(audios)} audio tracks, "
                f"not 1 and {len(plan.audio_tracks)}"
            )
        video_s = _duration_s(videos[0])
        if abs(video_s - source.duration_s) > source.frame_s:
            raise MediaError(
                f"the muxed video lasts {video_s:.3f} s, not the source's {source.duration_s:.3f} s"
            )
        for track in audios:
            audio_s = _duration_s(track)
            if abs(audio_s - video_s) > max(source.frame_s, AAC_FRAME_S):
                raise MediaError(
                    f"the muxed audio '{track.handler_name}' lasts {audio_s:.3f} s "
                    f"but the video {video_s:.3f} s"
                )
        return len(videos[0])


def _duration_s(track: Track) -> float:
    start = max(0, min(track.pts(i) for i in range(min(len(track), 64))))
    return (track.end_pts - start) / track.timescale
