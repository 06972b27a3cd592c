"""Derive DASH and HLS from the muxed MP4 (and its lower rungs) by repackaging: never an encode.

Repackaging here is byte slicing in Python, not an ffmpeg run: the sample
tables of each MP4 say where every frame is, and each segment is a
``moof`` + ``mdat`` around a run of them. It costs milliseconds, where an
ffmpeg process spends ~0.05 CPU s just starting (bench/encode_vs_repackage.py),
and it puts every number in the manifests under our control:

* Video is cut on a fixed ``segment_s`` grid, at the first keyframe at or
  after each grid line (the rule ``segment_grid`` predicts and ``preflight``
  checks before copying a source). Every rung is cut at the same
  presentation times; a rung without a keyframe there is an error.
* Audio is cut at the AAC frame nearest each video cut, so there are exactly
  as many audio segments as video segments: no stray 0.016 s tail segment.
* The MPD lists each segment's real start and duration (``SegmentTimeline``)
  and the HLS playlists its real ``EXTINF``: both match the media exactly,
  variable frame rate included.
* Init segments keep the MP4's display matrix, so rotation survives.

One set of fMP4 (CMAF-style) segments serves both protocols.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from foleycache.core.errors import MediaError
from foleycache.media.fmp4 import init_segment, media_segment, sample_bytes
from foleycache.media.isobmff import Buffer
from foleycache.media.manifest import (
    DASH_MANIFEST,
    HLS_MASTER,
    Rendition,
    Segment,
    write_dash,
    write_hls,
)
from foleycache.media.mp4_track import Track, open_mp4
from foleycache.media.segment_grid import predict_segments

__all__ = ["DASH_MANIFEST", "HLS_MASTER", "PackageResult", "package_abr"]


@dataclass(frozen=True)
class PackageResult:
    dash_manifest: Path
    hls_manifest: Path
    #: Every file written under the output directory (manifests, playlists, segments).
    files: tuple[Path, ...]
    #: CPU seconds (user + system) this process spent packaging (no child process runs).
    cpu_s: float
    renditions: tuple[Rendition, ...] = ()


def package_abr(
    mp4: Path,
    out_dir: Path,
    *,
    rungs: Sequence[Path] = (),
    segment_s: float = 2.0,
    ffmpeg: str = "ffmpeg",
) -> PackageResult:
    """Write DASH (``manifest.mpd``) and HLS (``master.m3u8``) for ``mp4`` and ``rungs``.

    ``mp4`` comes from ``mux_foley`` (one video track, one or more audio tracks,
    GOPs on the segment grid); ``rungs`` are its lower-rung MP4s, largest first.
    ``ffmpeg`` is accepted for callers written against the ffmpeg packager and
    not used. Raises MediaError if a rung's keyframes do not line up.
    """
    del ffmpeg
    started = time.thread_time()
    out_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        buf, tracks = stack.enter_context(open_mp4(mp4))
        top = _only_video(tracks, mp4)
        cuts = _video_cuts(top, segment_s)
        times = [top.pts(i) / top.timescale for i in cuts]
        sources = [(f"v{0}", top, buf, cuts)]
        for n, rung_path in enumerate(rungs, start=1):
            rung_buf, rung_tracks = stack.enter_context(open_mp4(rung_path))
            rung = _only_video(rung_tracks, rung_path)
            _check_rung(rung, top, rung_path)
            sources.append((f"v{n}", rung, rung_buf, _aligned_cuts(rung, times, rung_path)))
        audios = [t for t in tracks if t.kind == "audio"]
        sources += [(f"a{n}", a, buf, _audio_cuts(a, times)) for n, a in enumerate(audios)]
        renditions = tuple(
            _write_rendition(out_dir, rid, track, data, cuts, top)
            for rid, track, data, cuts in sources
        )
    dash = write_dash(out_dir, renditions, segment_s)
    hls = write_hls(out_dir, renditions)
    files = tuple(sorted(p for p in out_dir.rglob("*") if p.is_file()))
    return PackageResult(
        dash_manifest=dash,
        hls_manifest=hls,
        files=files,
        cpu_s=time.thread_time() - started,
        renditions=renditions,
    )


def _only_video(tracks: list[Track], path: Path) -> Track:
    videos = [t for t in tracks if t.kind == "video"]
    if len(videos) != 1:
        raise MediaError(f"{path.name} has {len(videos)} video tracks; packaging needs exactly one")
    return videos[0]


def _video_cuts(track: Track, segment_s: float) -> list[int]:
    """Sample indices that start segments: the first keyframe at or after each grid line."""
    syncs = [i for i, sync in enumerate(track.sync) if sync]
    if not syncs or syncs[0] != 0:
        raise MediaError("the muxed video does not start with a keyframe")
    times = [track.pts(i) / track.timescale for i in syncs]
    if any(b <= a for a, b in itertools.pairwise(times)):
        raise MediaError("the muxed video's keyframes are not in presentation order")
    layout = predict_segments(times, track.end_pts / track.timescale, segment_s)
    by_time = dict(zip(times, syncs, strict=True))
    return [by_time[t] for t in layout.starts]


def _check_rung(rung: Track, top: Track, path: Path) -> None:
    if len(rung) != len(top):
        raise MediaError(f"rung {path.name} has {len(rung)} frames, the top rung {len(top)}")


def _aligned_cuts(rung: Track, times: list[float], path: Path) -> list[int]:
    """The rung's keyframes at the top rung's cut times (within half its shortest frame)."""
    tolerance = 0.5 * min(rung.durations) / rung.timescale
    syncs = [i for i, sync in enumerate(rung.sync) if sync]
    sync_times = [rung.pts(i) / rung.timescale for i in syncs]
    cuts = []
    for t in times:
        k = bisect.bisect_left(sync_times, t - tolerance)
        if k == len(sync_times) or abs(sync_times[k] - t) > tolerance:
            raise MediaError(f"rung {path.name} has no keyframe at {t:.3f} s, where the top cuts")
        cuts.append(syncs[k])
    return cuts


def _audio_cuts(track: Track, times: list[float]) -> list[int]:
    """The audio frame starting nearest each video cut; the first segment starts at frame 0."""
    starts = [track.pts(i) / track.timescale for i in range(len(track))]
    cuts = [0]
    for t in times[1:]:
        k = bisect.bisect_left(starts, t)
        if k > 0 and (k == len(starts) or t - starts[k - 1] <= starts[k] - t):
            k -= 1
        if k <= cuts[-1] or k >= len(starts):
            raise MediaError(f"the audio ends before the video cut at {t:.3f} s")
        cuts.append(k)
    return cuts


def _write_rendition(
    out_dir: Path, rid: str, track: Track, buf: Buffer, cuts: list[int], top: Track
) -> Rendition:
    """Write the init segment and media segments of one track; describe them for the manifests."""
    init_name = f"init-{rid}.m4s"
    (out_dir / init_name).write_bytes(init_segment(track, track.handler_name))
    bounds = [*cuts, len(track)]
    starts = [max(0, _earliest_pts(track, a, b)) for a, b in itertools.pairwise(bounds)]
    ends = [*starts[1:], track.end_pts]
    segments = []
    for number, (first, stop) in enumerate(itertools.pairwise(bounds), start=1):
        data = sample_bytes(buf, track, first, stop)
        name = f"chunk-{rid}-{number:05d}.m4s"
        payload = media_segment(track, number, first, stop, data)
        (out_dir / name).write_bytes(payload)
        start, end = starts[number - 1], ends[number - 1]
        segments.append(Segment(name=name, start=start, duration=end - start, size=len(payload)))
    return Rendition(
        id=rid,
        track=track,
        label=track.handler_name,
        init=init_name,
        segments=tuple(segments),
        frame_rate=top.frame_rate if track.kind == "video" else None,
    )


def _earliest_pts(track: Track, first: int, stop: int) -> int:
    """Earliest presentation time in samples ``first:stop`` (the keyframe, for closed GOPs)."""
    return min(track.pts(i) for i in range(first, stop))
