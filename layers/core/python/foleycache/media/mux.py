"""Put the Foley track under the video as one progressive MP4, encoding the video at most once.

Copying the video stream costs ~1 % of an encode (bench/encode_vs_repackage.py),
so the video is copied whenever it is already deliverable, and otherwise
encoded once, here, in the layout that every later step can repackage
without touching it again:

* H.264 High, yuv420p 8-bit, progressive: what every browser and phone decodes.
* libx264 ``-preset veryfast -crf 23``: crf 23 is x264's default quality, good
  for delivery; ``veryfast`` costs about a third of the CPU of ``medium`` for
  a ~10-20 % bigger file, the right trade when CPU seconds are the bill.
* Closed GOPs of exactly ``segment_s`` (forced keyframes on the grid, scene
  cut detection off), so DASH/HLS segments come out ``segment_s`` long
  (x264's defaults give 8-25 s GOPs and therefore 8-25 s "2 s" segments).
* The source's timestamps are kept (``-fps_mode passthrough``, no
  duplicated or dropped frames) so the Foley track, generated for those
  frames, stays in sync; display rotation is kept as metadata
  (``-noautorotate``), not baked into the pixels.

Audio is always the Foley WAV as AAC-LC 48 kHz stereo 192 kb/s (a mono track
is duplicated to both channels, as HunyuanVideo-Foley's own muxer does); the
source's audio, timecode and data tracks are dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from foleycache.core.errors import MediaError
from foleycache.media.probe import MediaInfo, probe
from foleycache.media.segment_grid import predict_segments
from foleycache.media.tool_process import run_ffmpeg, run_tool

DELIVERABLE_CODEC = "h264"
DELIVERABLE_PIX_FMT = "yuv420p"
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


def segment_tolerance_s(info: MediaInfo, segment_s: float) -> float:
    """How far a copied stream's segments may overrun or lag the grid.

    One frame is the best an encoder can do (a keyframe can only land on a
    frame); 10 % of a segment keeps players' segment arithmetic within what
    DASH/HLS tolerate while still copying sources whose GOP is, say, 60 frames
    at 29.97 fps (2.002 s).
    """
    frame_s: float = info.frame_s
    return max(frame_s, 0.1 * segment_s)


@dataclass(frozen=True)
class VideoPlan:
    """Whether the video stream is copied, and why (each reason is a sentence)."""

    copy_video: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class MuxResult:
    path: Path
    copied_video: bool
    reasons: tuple[str, ...]
    #: CPU seconds (user + system) of the ffmpeg run alone.
    cpu_s: float


def plan_video(info: MediaInfo, segment_s: float) -> VideoPlan:
    """Copy the video only if it is H.264 yuv420p progressive with keyframes on the segment grid."""
    problems: list[str] = []
    if info.video_codec != DELIVERABLE_CODEC:
        problems.append(f"codec is {info.video_codec}, not H.264")
    if info.pix_fmt != DELIVERABLE_PIX_FMT:
        problems.append(f"pixel format is {info.pix_fmt}, not yuv420p 8-bit")
    if info.interlaced:
        problems.append(f"video is interlaced (field order {info.field_order})")
    layout = predict_segments(info.keyframe_times, info.duration_s, segment_s)
    tolerance = segment_tolerance_s(info, segment_s)
    if layout.longest_s > segment_s + tolerance:
        problems.append(
            f"keyframes are up to {info.max_gop_s:.2f} s apart, so {segment_s:g} s segments "
            f"would last up to {layout.longest_s:.2f} s"
        )
    elif layout.max_lateness_s(segment_s) > tolerance:
        problems.append(
            f"keyframes drift {layout.max_lateness_s(segment_s):.2f} s off the {segment_s:g} s grid"
        )
    if problems:
        return VideoPlan(copy_video=False, reasons=(*problems, "encoding once with libx264"))
    return VideoPlan(
        copy_video=True,
        reasons=(
            f"H.264 yuv420p progressive with keyframes on the {segment_s:g} s grid "
            f"(segments up to {layout.longest_s:.3f} s): copying the video stream",
        ),
    )


def mux_foley(
    video: Path,
    audio_wav: Path,
    out_mp4: Path,
    info: MediaInfo,
    *,
    segment_s: float = 2.0,
    ffmpeg: str = "ffmpeg",
    ffprobe: str = "ffprobe",
) -> MuxResult:
    """Write ``out_mp4``: ``video``'s picture with ``audio_wav`` as its only sound.

    Guarantees on success: one H.264 video stream whose duration is the
    source's within one frame, one AAC 48 kHz stereo stream ending with it,
    nothing else, ``moov`` at the front. Raises MediaError if ffmpeg fails or
    the WAV's duration does not match the video's.
    """
    wav_s = _audio_duration(audio_wav, ffprobe)
    if abs(wav_s - info.duration_s) > max(AUDIO_SLACK_S, info.frame_s):
        raise MediaError(
            f"the Foley audio lasts {wav_s:.3f} s but the video lasts {info.duration_s:.3f} s"
        )
    plan = plan_video(info, segment_s)
    out_mp4.parent.mkdir(parents=True, exist_ok=True)
    args = [
        ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y",
        "-noautorotate", "-i", str(video),
        "-i", str(audio_wav),
        "-map", "0:v:0", "-map", "1:a:0",
        *(["-c:v", "copy"] if plan.copy_video else _encode_args(info, segment_s)),
        "-af", f"apad=whole_dur={info.duration_s:.6f},atrim=end={info.duration_s:.6f}",
        "-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ar", str(AUDIO_RATE_HZ), "-ac", "2",
        "-map_metadata", "-1", "-map_chapters", "-1", "-write_tmcd", "0",
        "-movflags", "+faststart",
        "-f", "mp4", str(out_mp4),
    ]  # fmt: skip
    run = run_ffmpeg(args, what=f"mux the Foley audio into {video.name}")
    _verify_durations(probe(out_mp4, ffprobe=ffprobe), info)
    return MuxResult(
        path=out_mp4, copied_video=plan.copy_video, reasons=plan.reasons, cpu_s=run.cpu_s
    )


def _encode_args(info: MediaInfo, segment_s: float) -> list[str]:
    """libx264 with closed GOPs of ``segment_s``: keyframes forced on the grid, nowhere else.

    ``-g`` is only a ceiling (two segments' worth of frames): if it equalled
    one segment, x264 would place its own keyframe a frame before the grid on
    variable-frame-rate sources, which the grid cutter then ignores.
    """
    frames_per_segment = max(1, math.ceil(info.fps * segment_s))
    return [
        "-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(X264_CRF),
        "-profile:v", "high", "-pix_fmt", DELIVERABLE_PIX_FMT,
        "-fps_mode", "passthrough",
        "-force_key_frames", f"expr:gte(t,n_forced*{segment_s:g})",
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


def _verify_durations(out: MediaInfo, source: MediaInfo) -> None:
    if abs(out.duration_s - source.duration_s) > source.frame_s:
        raise MediaError(
            f"the muxed video lasts {out.duration_s:.3f} s, "
            f"not the source's {source.duration_s:.3f} s"
        )
    audio_s = out.audio_duration_s or 0.0
    if abs(audio_s - out.duration_s) > max(source.frame_s, AAC_FRAME_S):
        raise MediaError(
            f"the muxed audio lasts {audio_s:.3f} s but the video {out.duration_s:.3f} s"
        )
