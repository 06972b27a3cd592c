"""Derive DASH and HLS from the muxed MP4 by repackaging it: never a second encode.

One ffmpeg run (the ``dash`` muxer with ``-hls_playlist 1``) writes fMP4
(CMAF-style) segments once and both an MPD and HLS playlists that point at
the same files, so S3 stores the media once for both protocols. Measured on
the shared clips it costs ~0.1 CPU s, a few percent of the mux and about 1 %
of an encode (bench/encode_vs_repackage.py); running the ``hls`` muxer
separately would cost a second process and a second copy of every segment.

Segments are cut on a fixed ``segment_s`` grid (``-use_template 1
-use_timeline 0``), the same rule the copy/encode decision in ``mux.py``
predicts with ``segment_grid.py``, so sources copied there segment correctly.

Everything lands under ``out_dir`` with relative names, ready to upload as is.
The HLS media playlists are finished in Python in two ways ffmpeg's dash
muxer does not offer: they are marked ``#EXT-X-PLAYLIST-TYPE:VOD`` and lose
their ``#EXT-X-PROGRAM-DATE-TIME`` lines (the wall-clock time of packaging,
meaningless for on-demand video and the only thing that would make two
packagings of the same MP4 differ).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from foleycache.core.errors import MediaError
from foleycache.media.tool_process import run_ffmpeg

DASH_MANIFEST = "manifest.mpd"
HLS_MASTER = "master.m3u8"


@dataclass(frozen=True)
class PackageResult:
    dash_manifest: Path
    hls_manifest: Path
    #: Every file written under the output directory (manifests, playlists, segments).
    files: tuple[Path, ...]
    #: CPU seconds (user + system) of the ffmpeg run alone.
    cpu_s: float


def package_abr(
    mp4: Path, out_dir: Path, *, segment_s: float = 2.0, ffmpeg: str = "ffmpeg"
) -> PackageResult:
    """Write DASH (``manifest.mpd``) and HLS (``master.m3u8``) for ``mp4`` into ``out_dir``.

    ``mp4`` must come from ``mux_foley`` (one video, one audio stream, GOPs on
    the segment grid). Raises MediaError if ffmpeg fails or writes no manifest.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y",
        "-i", str(mp4),
        "-map", "0:v:0", "-map", "0:a:0", "-c", "copy",
        "-f", "dash",
        "-seg_duration", f"{segment_s:g}",
        "-use_template", "1", "-use_timeline", "0",
        "-init_seg_name", "init-$RepresentationID$.m4s",
        "-media_seg_name", "chunk-$RepresentationID$-$Number%05d$.m4s",
        "-hls_playlist", "1", "-hls_master_name", HLS_MASTER,
        str(out_dir / DASH_MANIFEST),
    ]  # fmt: skip
    run = run_ffmpeg(args, what=f"package {mp4.name} as DASH/HLS")
    dash, hls = out_dir / DASH_MANIFEST, out_dir / HLS_MASTER
    if not dash.is_file() or not hls.is_file():
        raise MediaError(f"ffmpeg packaged {mp4.name} but wrote no {DASH_MANIFEST}/{HLS_MASTER}")
    for playlist in out_dir.glob("media_*.m3u8"):
        _finish_vod_playlist(playlist)
    files = tuple(sorted(p for p in out_dir.rglob("*") if p.is_file()))
    return PackageResult(dash_manifest=dash, hls_manifest=hls, files=files, cpu_s=run.cpu_s)


def _finish_vod_playlist(playlist: Path) -> None:
    lines = [
        line
        for line in playlist.read_text().splitlines()
        if not line.startswith(("#EXT-X-PROGRAM-DATE-TIME", "#EXT-X-PLAYLIST-TYPE"))
    ]
    at = next(i for i, line in enumerate(lines) if line.startswith("#EXT-X-TARGETDURATION")) + 1
    lines.insert(at, "#EXT-X-PLAYLIST-TYPE:VOD")
    playlist.write_text("\n".join(lines) + "\n")
