"""CPU cost of one full encode, the chosen mux path, the ABR ladder and repackaging, per clip.

Why: the design encodes each video at most once, writes the lower ABR rungs
in that same pass, and derives DASH/HLS by repackaging. This measures, per
shared clip and in one run, what each step costs against one full encode,
and checks the targets:

* repackaging <= 1 % of one full encode's CPU on clips of 10 s or more;
* the whole ladder (top rung + lower rungs) <= 1.3x one full encode;
* 0 encodes for deliverable input (each clip's own full encode, re-muxed).

Run from the repo root::

    .venv/bin/python bench/encode_vs_repackage.py

Writes ``bench/results/encode_vs_repackage.json`` and prints a table. CPU
seconds of ffmpeg/ffprobe are the child's user + system time (os.wait4),
comparable across runs on shared cores where wall time is not; encodes are
the median of ``REPEATS`` runs. The repackager runs in this process (no
child), so its CPU is this thread's (``time.thread_time``). For reference
the table also gives what ffmpeg's own ``dash`` muxer costs for the same
repackaging (``-c copy``): mostly process start-up.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from foleycache.media.mux import X264_CRF, X264_PRESET, MuxResult, mux_foley
from foleycache.media.package import package_abr
from foleycache.media.preflight import Preflight, plan_delivery
from foleycache.media.probe import MediaInfo, probe
from foleycache.media.tool_process import run_tool

REPO = Path(__file__).resolve().parents[1]
CLIPS = Path(os.environ.get("FOLEYCACHE_CLIPS_DIR", REPO.parent / "shared" / "media" / "clips"))
RESULTS = REPO / "bench" / "results" / "encode_vs_repackage.json"
SEGMENT_S = 2.0
REPEATS = 3
KEYFRAME_REPEATS = 5
#: Targets from issue 11.
REPACKAGE_SHARE_MAX = 0.01
REPACKAGE_MIN_CLIP_S = 10.0
LADDER_RATIO_MAX = 1.3


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


def foley_wav(path: Path, duration_s: float) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"sine=f=330:r=48000:d={duration_s:.6f}", "-ac", "1", str(path)],
        check=True,
    )  # fmt: skip
    return path


def median_mux(runs: int, mux: Callable[[], MuxResult]) -> tuple[MuxResult, float]:
    """The last result and the median ffmpeg CPU s of ``runs`` runs."""
    results = [mux() for _ in range(runs)]
    return results[-1], statistics.median(r.ffmpeg_cpu_s for r in results)


def ffmpeg_dash_cpu(mux: MuxResult, out_dir: Path) -> float:
    """CPU s of ffmpeg's own dash muxer repackaging the same files (for comparison)."""
    inputs = [mux.path, *mux.rungs]
    args = ["ffmpeg", "-v", "error", "-y"]
    for path in inputs:
        args += ["-i", str(path)]
    for i in range(len(inputs)):
        args += ["-map", f"{i}:v:0"]
    args += ["-map", "0:a", "-c", "copy", "-f", "dash", "-seg_duration", f"{SEGMENT_S:g}"]
    out_dir.mkdir(parents=True, exist_ok=True)
    return run_tool([*args, str(out_dir / "manifest.mpd")]).cpu_s


def encodes(plan: Preflight) -> int:
    """Video streams libx264 encodes in the mux run for ``plan``."""
    return (0 if plan.copy_video else 1) + len(plan.rungs)


def measure(clip: Path, work: Path, repeats: int = REPEATS) -> dict[str, Any]:
    info = probe(clip)
    wav = foley_wav(work / f"{clip.stem}.wav", info.duration_s)
    plan = plan_delivery(info, segment_s=SEGMENT_S)
    forced = dataclasses.replace(plan, video="encode", rungs=())

    def run(name: str, how: Preflight, source: Path = clip, meta: MediaInfo = info) -> MuxResult:
        return mux_foley(source, wav, work / f"{clip.stem}.{name}.mp4", meta, plan=how)

    full, full_cpu = median_mux(repeats, lambda: run("full", forced))
    _, chosen_cpu = median_mux(repeats, lambda: run("chosen", dataclasses.replace(plan, rungs=())))
    ladder, ladder_cpu = median_mux(repeats, lambda: run("ladder", plan))
    packaged = package_abr(
        ladder.path, work / f"{clip.stem}-abr", rungs=ladder.rungs, segment_s=SEGMENT_S
    )
    ffmpeg_pkg_cpu = ffmpeg_dash_cpu(ladder, work / f"{clip.stem}-ffdash")
    # The same clip made deliverable by its own full encode: now nothing is encoded.
    deliverable_info = probe(full.path)
    deliverable_plan = plan_delivery(deliverable_info, segment_s=SEGMENT_S)
    copy, copy_cpu = median_mux(
        repeats, lambda: run("copy", deliverable_plan, full.path, deliverable_info)
    )
    copy_pkg = package_abr(copy.path, work / f"{clip.stem}-copy-abr", segment_s=SEGMENT_S)
    on_copy_plan = plan_delivery(deliverable_info, segment_s=SEGMENT_S, ladder_on_copy=True)
    copy_ladder = run("copy-ladder", on_copy_plan, full.path, deliverable_info)
    return {
        "clip": clip.name,
        "duration_s": round(info.duration_s, 3),
        "resolution": f"{info.width}x{info.height}",
        "video": plan.video,
        "reason": plan.reason,
        "fixes": list(plan.fixes),
        "rungs": [f"{info.width}x{info.height}"] + [f"{r.width}x{r.height}" for r in plan.rungs],
        "full_encode_cpu_s": round(full_cpu, 3),
        "chosen_cpu_s": round(chosen_cpu, 3),
        "chosen_encodes": encodes(dataclasses.replace(plan, rungs=())),
        "ladder_cpu_s": round(ladder_cpu, 3),
        "ladder_encodes": encodes(plan),
        "ladder_ratio": round(ladder_cpu / full_cpu, 3),
        "repackage_cpu_s": round(packaged.cpu_s, 4),
        "repackage_share": round(packaged.cpu_s / full_cpu, 5),
        "repackage_files": len(packaged.files),
        "ffmpeg_dash_repackage_cpu_s": round(ffmpeg_pkg_cpu, 3),
        "ffmpeg_dash_share": round(ffmpeg_pkg_cpu / full_cpu, 4),
        "deliverable": {
            "video": deliverable_plan.video,
            "reason": deliverable_plan.reason,
            "encodes": encodes(deliverable_plan),
            "mux_cpu_s": round(copy_cpu, 3),
            "repackage_cpu_s": round(copy_pkg.cpu_s, 4),
            "share_of_full_encode": round((copy_cpu + copy_pkg.cpu_s) / full_cpu, 4),
            "ladder_on_copy_cpu_s": round(copy_ladder.ffmpeg_cpu_s, 3),
            "ladder_on_copy_ratio": round(copy_ladder.ffmpeg_cpu_s / full_cpu, 3),
        },
        "keyframe_index_cpu_s": {k: round(v, 4) for k, v in keyframe_index_cpu(clip).items()},
    }


def targets(rows: list[dict[str, Any]]) -> dict[str, bool]:
    long_clips = [r for r in rows if r["duration_s"] >= REPACKAGE_MIN_CLIP_S]
    return {
        "repackage_le_1pct_on_clips_ge_10s": all(
            r["repackage_share"] <= REPACKAGE_SHARE_MAX for r in long_clips
        ),
        "ladder_le_1.3x_one_encode": all(r["ladder_ratio"] <= LADDER_RATIO_MAX for r in rows),
        "zero_encodes_for_deliverable": all(r["deliverable"]["encodes"] == 0 for r in rows),
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        f"{'clip':24} {'dur s':>5} {'path':>6} {'full':>6} {'chosen':>6} {'ladder':>6} "
        f"{'ratio':>5} {'rungs':>18} {'repack':>7} {'share':>6} {'ffdash':>6} "
        f"{'deliv':>5} {'enc':>3} {'cpu':>5}"
    )
    print(header)
    for r in rows:
        d = r["deliverable"]
        print(
            f"{r['clip']:24} {r['duration_s']:5.1f} {r['video']:>6} "
            f"{r['full_encode_cpu_s']:6.2f} {r['chosen_cpu_s']:6.2f} {r['ladder_cpu_s']:6.2f} "
            f"{r['ladder_ratio']:5.2f} {'+'.join(x.split('x')[1] for x in r['rungs']):>18} "
            f"{r['repackage_cpu_s']:7.4f} {r['repackage_share']:6.2%} "
            f"{r['ffmpeg_dash_repackage_cpu_s']:6.3f} {d['video']:>5} {d['encodes']:3d} "
            f"{d['mux_cpu_s']:5.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeats", type=int, default=REPEATS, help="runs per encode (median)")
    args = parser.parse_args()
    clips = sorted(p for p in CLIPS.iterdir() if p.suffix in {".mp4", ".mkv"})
    with tempfile.TemporaryDirectory(prefix="fc-bench-") as tmp:
        rows = []
        for clip in clips:
            rows.append(measure(clip, Path(tmp), args.repeats))
            print(
                f"  {clip.name}: full encode {rows[-1]['full_encode_cpu_s']:.2f} CPU s", flush=True
            )
    met = targets(rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "segment_s": SEGMENT_S,
                "x264": {"preset": X264_PRESET, "crf": X264_CRF},
                "repeats": args.repeats,
                "cpu_count": os.cpu_count(),
                "machine": platform.platform(),
                "ffmpeg": run_tool(["ffmpeg", "-version"]).stdout.splitlines()[0],
                "targets_met": met,
                "clips": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print_table(rows)
    print("targets:", ", ".join(f"{k}={'yes' if v else 'NO'}" for k, v in met.items()))
    print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
