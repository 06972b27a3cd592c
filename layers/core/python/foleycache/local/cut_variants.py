"""Cut variants of a clip made with ffmpeg, each with its ground truth: which seconds of the
new video are which seconds of which clip (nominal, ``Variant.truth``; or as the frames the
file shows, ``frame_truth``).

Used by the span tests and ``bench/replay_cuts.py``: trims, other footage prepended or
appended, and re-cuts with two segments swapped. Every piece is re-encoded (frame-accurate
cuts, as an editor exports them) at the main clip's size and frame rate.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from foleycache.core.errors import InvalidVideo, ToolMissing


@dataclass(frozen=True)
class Piece:
    clip: Path
    start_s: float
    duration_s: float


@dataclass(frozen=True)
class Variant:
    name: str
    path: Path
    pieces: tuple[Piece, ...]

    def truth(self) -> list[tuple[float, float, Path, float]]:
        """(start_s, end_s) in the variant, the clip, and offset_s (clip time = t + offset)."""
        out, at = [], 0.0
        for p in self.pieces:
            out.append((at, at + p.duration_s, p.clip, p.start_s - at))
            at += p.duration_s
        return out

    def shared_s(self, clip: Path) -> float:
        """Seconds of this variant that are frames of ``clip``."""
        return sum(p.duration_s for p in self.pieces if p.clip == clip)


def probe(path: Path) -> tuple[int, int, str, float]:
    """(width, height, frame rate as ffprobe gives it, duration in seconds)."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height,avg_frame_rate:format=duration",
            "-of",
            "default=nw=1",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return (
        int(fields["width"]),
        int(fields["height"]),
        fields["avg_frame_rate"],
        float(fields["duration"]),
    )


def make_variant(name: str, pieces: list[Piece], out: Path) -> Variant:
    """Concatenate the pieces (re-encoded at the longest piece's size and rate) into ``out``."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ToolMissing("ffmpeg is not installed")
    main = max(pieces, key=lambda p: p.duration_s).clip
    width, height, rate, _ = probe(main)
    num, _, den = rate.partition("/")
    if not den or float(den) == 0 or not 1 <= float(num) / float(den) <= 120:
        rate = "30"
    args: list[str] = [ffmpeg, "-nostdin", "-v", "error", "-y"]
    chains = []
    for i, p in enumerate(pieces):
        args += ["-ss", f"{p.start_s:.6f}", "-t", f"{p.duration_s:.6f}", "-i", str(p.clip)]
        chains.append(
            f"[{i}:v:0]scale={width}:{height},setsar=1,fps={rate},"
            f"trim=duration={p.duration_s:.6f},setpts=PTS-STARTPTS[v{i}]"
        )
    joined = "".join(f"[v{i}]" for i in range(len(pieces)))
    graph = ";".join(chains) + f";{joined}concat=n={len(pieces)}:v=1:a=0[out]"
    args += [
        "-filter_complex",
        graph,
        "-map",
        "[out]",
        "-an",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "20",
        "-pix_fmt",
        "yuv420p",
        str(out),
    ]
    proc = subprocess.run(args, capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode != 0 or not out.exists():
        raise InvalidVideo(f"ffmpeg could not make {name}: {proc.stderr.strip()[:300]}")
    return Variant(name, out, tuple(pieces))


def piece_frames(piece: Piece, main: Path) -> int:
    """Frames ``make_variant``'s filter chain makes of one piece (decoded, not predicted:
    input seeking and the ``fps`` filter decide whether the last partial frame exists)."""
    width, height, rate, _ = probe(main)
    chain = (
        f"scale={width}:{height},setsar=1,fps={rate},"
        f"trim=duration={piece.duration_s:.6f},setpts=PTS-STARTPTS"
    )
    args = ["ffmpeg", "-nostdin", "-v", "error", "-ss", f"{piece.start_s:.6f}"]
    args += ["-t", f"{piece.duration_s:.6f}", "-i", str(piece.clip), "-vf", chain]
    out = subprocess.run(
        [*args, "-an", "-f", "framecrc", "-"], capture_output=True, text=True, check=True
    ).stdout
    return sum(1 for line in out.splitlines() if line and not line.startswith("#"))


def frame_truth(variant: Variant) -> list[tuple[float, float, Path, float]]:
    """``Variant.truth()`` on the frames the file really shows: each piece lasts its whole
    frames (a nominal 1.216 s at 25 fps is 30 frames, 1.20 s), and the last one until
    the file ends (its last frame is shown for a whole frame period, past the nominal
    sum). The frame counts must add up to the file's, else the judge would guess."""
    main = max(variant.pieces, key=lambda p: p.duration_s).clip
    num, _, den = probe(main)[2].partition("/")
    fps = float(num) / float(den or 1)
    counts = [piece_frames(p, main) for p in variant.pieces]
    probe_args = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-of"]
    out = subprocess.run(
        [*probe_args, "csv=p=0", "-show_entries", "stream=nb_read_frames", str(variant.path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if sum(counts) != int(out.strip().strip(",")):
        raise RuntimeError(f"{variant.path.name}: pieces {counts} != {out.strip()} frames")
    truth, at = [], 0
    for i, (piece, n) in enumerate(zip(variant.pieces, counts, strict=True)):
        start = at / fps
        end = float("inf") if i == len(counts) - 1 else (at + n) / fps
        truth.append((start, end, piece.clip, piece.start_s - start))
        at += n
    return truth
