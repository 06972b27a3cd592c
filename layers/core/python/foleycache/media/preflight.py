"""Decide, from one probe at the fingerprint stage, everything mux and packaging will do.

Why before inference: a precondition found only at mux time (odd
dimensions, say) fails after the GPU has been paid, and fails again on
every retry. ``preflight`` either returns a plan that the later steps can
carry out on this input, or raises (InvalidInput, InvalidVideo or
VideoTooLarge) with a sentence the user can act on. The plan is plain data
(``to_dict``/``from_dict``) so the pipeline can keep it in its state and job
record, and ``mux_foley`` follows it rather than deciding again.

The video is copied only when it is already deliverable: H.264 yuv420p
8-bit, progressive, closed GOPs, keyframes on the segment grid, even
dimensions. Otherwise it is encoded exactly once, and that encode applies
the fixes listed in the plan (deinterlace, pad to even dimensions, convert
to limited-range 8-bit yuv420p) and writes the lower ABR rungs in the same
pass. Rotation stays display-matrix metadata everywhere (MP4, every init
segment): applying it would force an encode on every rotated phone video.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeGuard

from foleycache.core.errors import InvalidInput, InvalidVideo
from foleycache.media.limits import MediaLimits, check_encode_limit, check_limits
from foleycache.media.probe import MediaInfo
from foleycache.media.segment_grid import predict_segments

VideoAction = Literal["copy", "encode"]
AudioMode = Literal["replace", "mix", "add"]
AUDIO_MODES: tuple[AudioMode, ...] = ("replace", "mix", "add")

DELIVERABLE_CODEC = "h264"
DELIVERABLE_PIX_FMT = "yuv420p"
#: Smaller frames are not videos a user wants Foley for (and x264 pads them to 16 anyway).
MIN_SIDE = 16
#: The lowest rung worth offering: the classic 144p, below which nothing is recognisable.
MIN_RUNG_SHORT_SIDE = 144
#: One lower rung at half the width and height. Measured on the 720p clip with libx264
#: veryfast in the same pass as the top encode: +20-25 % CPU for the half rung and
#: another +10-13 % for a quarter rung, so two would break the 1.3x-one-encode budget.
MAX_LOWER_RUNGS = 1

FOLEY_LABEL = "Foley"
ORIGINAL_LABEL = "Original audio"
MIX_LABEL = "Foley mixed under the original audio"
#: Decoders ffprobe reports when it cannot decode a stream.
UNDECODABLE_CODECS = frozenset({"none", "unknown", ""})


@dataclass(frozen=True)
class Rung:
    """One lower ABR rung: coded size of a video-only encode sharing the top's GOPs."""

    width: int
    height: int


@dataclass(frozen=True)
class Preflight:
    """What mux and packaging will do with one upload; serialisable with ``to_dict``."""

    video: VideoAction
    #: Why the video is copied or encoded, one sentence each.
    reasons: tuple[str, ...]
    #: What the one encode changes in the picture, one sentence each (empty when copying).
    fixes: tuple[str, ...]
    #: Coded size of the progressive MP4's video (the top rung) after the fixes.
    width: int
    height: int
    #: Clockwise display rotation, kept as metadata in the MP4 and every init segment.
    rotation: int
    #: Lower rungs, largest first; the top rung is the progressive MP4 itself.
    rungs: tuple[Rung, ...]
    audio_mode: AudioMode
    #: Labels of the audio tracks written, in order; the first is the default.
    audio_tracks: tuple[str, ...]
    segment_s: float
    duration_s: float
    frame_count: int
    fps: float
    deinterlace: bool = False
    to_limited_range: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def copy_video(self) -> bool:
        return self.video == "copy"

    @property
    def reason(self) -> str:
        """The reasons as one line, for the job record and ``run --json``."""
        return "; ".join(self.reasons)

    @property
    def mixes_source_audio(self) -> bool:
        return self.audio_tracks == (MIX_LABEL,)

    @property
    def adds_source_audio(self) -> bool:
        return ORIGINAL_LABEL in self.audio_tracks

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["reason"] = self.reason
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preflight:
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for name in ("reasons", "fixes", "audio_tracks", "notes"):
            values[name] = tuple(values.get(name, ()))
        values["rungs"] = tuple(Rung(**r) for r in values.get("rungs", ()))
        return cls(**values)


def preflight(
    info: MediaInfo,
    *,
    segment_s: float,
    audio_mode: str = "replace",
    limits: MediaLimits | None = None,
    ladder_on_copy: bool = False,
) -> Preflight:
    """The plan for ``info``, or InvalidInput/InvalidVideo/VideoTooLarge saying why not.

    ``ladder_on_copy`` also makes lower rungs when the video is copied; off by
    default because it is the only encode such an upload would cost (~0.3-0.5x
    of one full encode: a decode plus the small encode), against zero.
    """
    limits = limits or MediaLimits()
    check_limits(
        info,
        max_bytes=limits.max_bytes,
        max_duration_s=limits.max_duration_s,
        max_pixels=limits.max_pixels,
        max_fps=limits.max_fps,
        max_frames=limits.max_frames,
    )
    if min(info.width, info.height) < MIN_SIDE:
        raise InvalidVideo(
            f"the video is {info.width}x{info.height}; frames smaller than "
            f"{MIN_SIDE}x{MIN_SIDE} are not supported"
        )
    plan = plan_delivery(
        info, segment_s=segment_s, audio_mode=audio_mode, ladder_on_copy=ladder_on_copy
    )
    if not plan.copy_video:
        check_encode_limit(info, limits.max_encoded_pixels)
    return plan


def plan_delivery(
    info: MediaInfo, *, segment_s: float, audio_mode: str = "replace", ladder_on_copy: bool = False
) -> Preflight:
    """The copy/encode decision, fixes, ladder and audio tracks (no limits checked)."""
    mode = _audio_mode(audio_mode)
    problems = deliverability_problems(info, segment_s)
    video: VideoAction = "encode" if problems else "copy"
    width, height = _even(info.width), _even(info.height)
    rungs = lower_rungs(width, height) if video == "encode" or ladder_on_copy else ()
    tracks, notes = _audio_tracks(info, mode)
    return Preflight(
        video=video,
        reasons=tuple(problems) or (_copy_reason(info, segment_s),),
        fixes=tuple(_fixes(info)) if video == "encode" else (),
        width=width if video == "encode" else info.width,
        height=height if video == "encode" else info.height,
        rotation=info.rotation,
        rungs=rungs,
        audio_mode=mode,
        audio_tracks=tracks,
        segment_s=segment_s,
        duration_s=info.duration_s,
        frame_count=info.frame_count,
        fps=info.fps,
        deinterlace=info.interlaced and video == "encode",
        to_limited_range=info.full_range and video == "encode",
        notes=notes,
    )


def segment_tolerance_s(info: MediaInfo, segment_s: float) -> float:
    """How far a copied stream's segments may overrun or lag the grid.

    One frame is the best an encoder can do (a keyframe can only land on a
    frame); 10 % of a segment keeps players' segment arithmetic within what
    DASH/HLS tolerate while still copying sources whose GOP is, say, 60 frames
    at 29.97 fps (2.002 s).
    """
    return max(info.frame_s, 0.1 * segment_s)


def deliverability_problems(info: MediaInfo, segment_s: float) -> list[str]:
    """Why the video cannot be copied as is; empty when it can."""
    problems: list[str] = []
    if info.video_codec != DELIVERABLE_CODEC:
        problems.append(f"codec {info.video_codec}, not H.264")
    if info.pix_fmt != DELIVERABLE_PIX_FMT:
        problems.append(f"pixel format {info.pix_fmt}, not yuv420p")
    if info.interlaced:
        problems.append(f"interlaced (field order {info.field_order})")
    if info.width % 2 or info.height % 2:
        problems.append(f"odd dimensions {info.width}x{info.height}")
    if info.open_gop:
        problems.append("open GOPs: segments would not decode on their own")
    layout = predict_segments(info.keyframe_times, info.duration_s, segment_s)
    tolerance = segment_tolerance_s(info, segment_s)
    if layout.longest_s > segment_s + tolerance:
        problems.append(
            f"keyframe gap {info.max_gop_s:.2f} s > {segment_s:g} s segment "
            f"(segments would last up to {layout.longest_s:.2f} s)"
        )
    elif layout.max_lateness_s(segment_s) > tolerance:
        problems.append(
            f"keyframes drift {layout.max_lateness_s(segment_s):.2f} s off the {segment_s:g} s grid"
        )
    return problems


def lower_rungs(width: int, height: int) -> tuple[Rung, ...]:
    """Half-size rungs (even dimensions) while the short side stays >= MIN_RUNG_SHORT_SIDE."""
    rungs: list[Rung] = []
    while len(rungs) < MAX_LOWER_RUNGS:
        width, height = 2 * round(width / 4), 2 * round(height / 4)
        if min(width, height) < MIN_RUNG_SHORT_SIDE:
            break
        rungs.append(Rung(width, height))
    return tuple(rungs)


def keyframe_grid(info: MediaInfo, segment_s: float) -> tuple[float, ...]:
    """Output times of the source keyframes that start segments (for copy-path rungs).

    ffmpeg subtracts the container start time from every output timestamp.
    """
    layout = predict_segments(info.keyframe_times, info.duration_s, segment_s)
    return tuple(t - info.start_time_s for t in layout.starts)


def _copy_reason(info: MediaInfo, segment_s: float) -> str:
    layout = predict_segments(info.keyframe_times, info.duration_s, segment_s)
    return (
        f"H.264 yuv420p progressive with closed GOPs on the {segment_s:g} s grid "
        f"(segments up to {layout.longest_s:.3f} s): copying the video stream"
    )


def _fixes(info: MediaInfo) -> list[str]:
    fixes: list[str] = []
    if info.interlaced:
        fixes.append("deinterlace with bwdif, one frame out per frame in")
    if info.width % 2 or info.height % 2:
        fixes.append(
            f"pad {info.width}x{info.height} to {_even(info.width)}x{_even(info.height)} "
            "by repeating the edge pixels"
        )
    if info.full_range:
        fixes.append(f"convert full-range {info.pix_fmt} to limited-range yuv420p")
    elif info.pix_fmt != DELIVERABLE_PIX_FMT:
        fixes.append(f"convert {info.pix_fmt} to 8-bit yuv420p")
    return fixes


def _is_audio_mode(mode: str) -> TypeGuard[AudioMode]:
    return mode in AUDIO_MODES


def validate_audio_mode(mode: object) -> AudioMode:
    """A job's audio mode, or :class:`InvalidInput` naming the allowed ones."""
    return _audio_mode(str(mode))


def _audio_mode(mode: str) -> AudioMode:
    if not _is_audio_mode(mode):
        raise InvalidInput(f"audio mode {mode!r} is not one of {', '.join(AUDIO_MODES)}")
    return mode


def _audio_tracks(info: MediaInfo, mode: AudioMode) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Labels of the audio tracks to write, and notes when the request cannot be met as asked."""
    if mode == "replace":
        return (FOLEY_LABEL,), ()
    if not info.has_audio:
        return (FOLEY_LABEL,), (f"audio mode {mode}: the upload has no audio, so Foley only",)
    if (info.audio_codec or "") in UNDECODABLE_CODECS:
        raise InvalidVideo(
            f"the upload's audio track cannot be decoded (codec {info.audio_codec}), so it "
            f"cannot be kept for audio mode {mode}; choose audio mode replace"
        )
    if mode == "mix":
        return (MIX_LABEL,), ()
    return (FOLEY_LABEL, ORIGINAL_LABEL), ()


def _even(size: int) -> int:
    return size + size % 2
