"""CPU cost of muxing the Foley track (copy or encode) versus repackaging for ABR.

Why: the design encodes each video at most once and derives DASH/HLS by
repackaging; this measures, per shared clip, what that saves. It also times
the two ways of reading the keyframe index that ``probe`` could use.

Run from the repo root::

    .venv/bin/python bench/encode_vs_repackage.py

Writes ``bench/results/encode_vs_repackage.json`` and prints a table. CPU
seconds are the ffmpeg/ffprobe child's user + system time (os.wait4), which
is comparable across runs on shared cores where wall time is not.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from foleycache.media.mux import X264_CRF, X264_PRESET, mux_foley
from foleycache.media.package import package_abr
from foleycache.media.probe import probe
from foleycache.media.tool_process import run_tool

REPO = Path(__file__).resolve().parents[1]
CLIPS = Path(os.environ.get("FOLEYCACHE_CLIPS_DIR", REPO.parent / "shared" / "media" / "clips"))
RESULTS = REPO / "bench" / "results" / "encode_vs_repackage.json"
SEGMENT_S = 2.0
KEYFRAME_REPEATS = 5


def keyframe_index_cpu(clip: Path) -> dict[str, float]:
    """Median CPU s of reading keyframe times from packet flags vs decoding keyframes."""
    base = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-of", "csv=p=0"]
    ways = {
        "packet_flags": [*base, "-show_entries", "packet=pts_time,flags", str(clip)],
        "skip_frame_nokey": [
            *base, "-skip_frame", "nokey", "-show_entries", "frame=pts_time", str(clip),
        ],
    }  # fmt: skip
    return {
        name: statistics.median(run_tool(args).cpu_s for _ in range(KEYFRAME_REPEATS))
        for name, args in ways.items()
    }


def measure(clip: Path, work: Path) -> dict[str, Any]:
    info = probe(clip)
    wav = work / f"{clip.stem}.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"sine=f=330:r=48000:d={info.duration_s:.6f}", "-ac", "1", str(wav)],
        check=True,
    )  # fmt: skip
    muxed = mux_foley(clip, wav, work / f"{clip.stem}.mp4", info, segment_s=SEGMENT_S)
    # The same clip once more, made deliverable by the mux above: now the video is copied.
    remux_info = probe(muxed.path)
    remuxed = mux_foley(muxed.path, wav, work / f"{clip.stem}.copy.mp4", remux_info)
    packaged = package_abr(muxed.path, work / f"{clip.stem}-abr", segment_s=SEGMENT_S)
    return {
        "clip": clip.name,
        "duration_s": round(info.duration_s, 3),
        "resolution": f"{info.width}x{info.height}",
        "mux_copied_video": muxed.copied_video,
        "mux_reasons": list(muxed.reasons),
        "mux_cpu_s": round(muxed.cpu_s, 3),
        "remux_copy_cpu_s": round(remuxed.cpu_s, 3),
        "remux_copied_video": remuxed.copied_video,
        "package_cpu_s": round(packaged.cpu_s, 3),
        "package_files": len(packaged.files),
        "package_share_of_mux": round(packaged.cpu_s / muxed.cpu_s, 4),
        "keyframe_index_cpu_s": {k: round(v, 4) for k, v in keyframe_index_cpu(clip).items()},
    }


def main() -> None:
    clips = sorted(p for p in CLIPS.iterdir() if p.suffix in {".mp4", ".mkv"})
    with tempfile.TemporaryDirectory(prefix="fc-bench-") as tmp:
        rows = [measure(clip, Path(tmp)) for clip in clips]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "segment_s": SEGMENT_S,
                "x264": {"preset": X264_PRESET, "crf": X264_CRF},
                "cpu_count": os.cpu_count(),
                "machine": platform.platform(),
                "ffmpeg": run_tool(["ffmpeg", "-version"]).stdout.splitlines()[0],
                "clips": rows,
            },
            indent=2,
        )
        + "\n"
    )
    header = f"{'clip':26} {'dur s':>6} {'mux':>6} {'mux CPU':>8} {'copy CPU':>8} "
    header += f"{'pkg CPU':>8} {'pkg/mux':>8} {'kf pkts':>8} {'kf decode':>9}"
    print(header)
    for r in rows:
        kf = r["keyframe_index_cpu_s"]
        print(
            f"{r['clip']:26} {r['duration_s']:6.1f} "
            f"{'copy' if r['mux_copied_video'] else 'encode':>6} {r['mux_cpu_s']:8.2f} "
            f"{r['remux_copy_cpu_s']:8.2f} {r['package_cpu_s']:8.3f} "
            f"{r['package_share_of_mux']:8.1%} {kf['packet_flags']:8.3f} "
            f"{kf['skip_frame_nokey']:9.3f}"
        )
    print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
