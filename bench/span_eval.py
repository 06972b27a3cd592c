"""Measure span verification on the shared clips: what docs/decisions/0003 rests on.

Positives: cut variants of every clip (trims, other footage prepended and appended, two
segments swapped), each re-encoded as an editor exports it; for each, the seconds the
verified spans cover against the seconds truly shared, the offset error, and any second
reused outside the truth (wrong reuse). Negatives: every clip's re-encoded copy against
every other clip, and against itself at every *wrong* offset (other stretches of one
shot, the static traffic camera included), proposals every 0.5 s: every verified span
there is a wrong reuse. Also, at every 0.1 s wrong shift, the longest run that stricter
per-sample limits would let through (``TIER_LIMITS``: what a shorter minimum span needs).

    .venv/bin/python bench/span_eval.py   # -> bench/results/span_eval.json (about 10 min)
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "layers" / "core" / "python"))

from foleycache.fingerprint import fingerprint_video  # noqa: E402
from foleycache.fingerprint import span_match as sm  # noqa: E402
from foleycache.fingerprint.spans import SPAN_FPS  # noqa: E402
from foleycache.local.cut_variants import Piece, Variant, make_variant, probe  # noqa: E402

CLIPS = REPO.parent / "shared" / "media" / "clips"
#: A reused span whose offset is further than this from the truth is wrong (one frame at
#: 12.5 fps, the slowest clip; ffmpeg's cut itself snaps to a frame).
OFFSET_TOLERANCE_S = 0.08


def variants(
    clips: list[Path], durations: dict[Path, float], out: Path, seed: int
) -> list[Variant]:
    rng = random.Random(seed)
    made: list[Variant] = []
    for clip in clips:
        d = durations[clip]
        others = [c for c in clips if c != clip]
        if d < 3.6:
            continue
        a = rng.uniform(0.05, 0.3) * d
        made.append(
            make_variant(
                "trim",
                [Piece(clip, a, rng.uniform(0.5, 0.9) * (d - a))],
                out / f"{clip.stem}-trim.mp4",
            )
        )
        pre, post = rng.choice(others), rng.choice(others)
        made.append(
            make_variant(
                "extend",
                [
                    Piece(pre, 0.2, min(rng.uniform(1, 3), durations[pre] - 0.3)),
                    Piece(clip, 0, d - 0.05),
                    Piece(post, 0.1, min(rng.uniform(1, 3), durations[post] - 0.2)),
                ],
                out / f"{clip.stem}-extend.mp4",
            )
        )
        m = rng.uniform(0.35, 0.65) * d
        made.append(
            make_variant(
                "swap",
                [Piece(clip, m, d - m - 0.05), Piece(clip, 0, m)],
                out / f"{clip.stem}-swap.mp4",
            )
        )
    return made


#: Stricter per-sample limits measured for a possible short-span tier (0003).
TIER_LIMITS = (5.0, 6.0, 7.0)


def longest_negative_runs(
    query: Any, stored: Any, same_clip: bool, best: dict[float, list[Any]]
) -> None:
    """At every 0.1 s shift (the true one and its neighbours excluded for one clip), the
    longest run of evidence samples whose best 1 s rolling motion mean is within each of
    ``TIER_LIMITS`` (pictures agreeing): how long a wrong offset can look right."""
    for shift in range(-len(query), len(stored)):
        if same_clip and abs(shift) <= 1:
            continue
        dm, dp, _ = sm._distances(query, stored, shift)
        if len(dm) < sm.ROLL:
            continue
        evidence = dm < 32
        rolling = sm._rolling_evidence_mean(dm, evidence, sm.ROLL)
        pictures = sm._rolling_mean(dp, sm.ROLL) <= sm.MAX_PICTURE_H
        for limit in TIER_LIMITS:
            for a, b in sm.runs(evidence & (rolling <= limit) & pictures):
                if (b - a) / SPAN_FPS > best[limit][0]:
                    best[limit] = [(b - a) / SPAN_FPS, round(float(dm[a:b].mean()), 2), shift]


def main() -> None:
    started = time.time()
    clips = sorted(p for p in CLIPS.iterdir() if p.suffix in {".mp4", ".mkv", ".mov"})
    durations = {c: probe(c)[3] for c in clips}
    codes = {c: fingerprint_video(c).span_codes for c in clips}
    positives: list[dict[str, Any]] = []
    negatives: list[dict[str, Any]] = []
    tier_runs: dict[float, list[Any]] = {limit: [0.0, None, None] for limit in TIER_LIMITS}
    with tempfile.TemporaryDirectory(prefix="span-eval-") as tmp:
        for v in variants(clips, durations, Path(tmp), seed=13):
            q = fingerprint_video(v.path).span_codes
            for clip in {p.clip for p in v.pieces}:
                truth = [(s, e, off) for s, e, c, off in v.truth() if c == clip]
                spans: list[sm.SharedSpan] = []
                for _s, _e, off in truth:
                    for span in sm.shared_spans(q, codes[clip], round(off * SPAN_FPS)):
                        if not any(
                            span.start_s < x.end_s and x.start_s < span.end_s for x in spans
                        ):
                            spans.append(span)
                covered = wrong = 0.0
                length = sum(p.duration_s for p in v.pieces)  # the grid's last step may overhang
                errors = []
                for span in spans:
                    right = 0.0
                    for s, e, off in truth:
                        inter = max(0.0, min(span.end_s, e) - max(span.start_s, s))
                        if inter > 0 and abs(span.offset_s - off) <= OFFSET_TOLERANCE_S:
                            right += inter
                            errors.append(abs(span.offset_s - off))
                    covered += right
                    wrong += max(0.0, min(span.end_s, length) - span.start_s - right)
                positives.append(
                    {
                        "variant": v.path.name,
                        "kind": v.name,
                        "clip": clip.name,
                        "shared_s": round(sum(e - s for s, e, _ in truth), 2),
                        "covered_s": round(float(covered), 2),
                        "wrong_s": round(float(wrong), 2),
                        "offset_error_ms": round(1000 * max(errors), 1) if errors else None,
                        "spans": [
                            [
                                round(x.start_s, 2),
                                round(x.end_s, 2),
                                round(x.offset_s, 3),
                                round(x.motion_h, 2),
                            ]
                            for x in spans
                        ],
                    }
                )
                print(positives[-1], flush=True)
        # Negatives: another upload of each clip (re-encoded) against the stored clips.
        for clip in clips:
            copy = make_variant(
                "copy",
                [Piece(clip, 0, durations[clip] - 0.05)],
                Path(tmp) / f"{clip.stem}-copy.mp4",
            )
            copy_codes = fingerprint_video(copy.path).span_codes
            for other in clips:
                stored = codes[other]
                longest_negative_runs(copy_codes, stored, other == clip, tier_runs)
                for hint in range(-len(copy_codes), len(stored), 5):
                    if other == clip and abs(hint) <= 1 * SPAN_FPS:
                        continue  # the true offset (0) and the search around it
                    for span in sm.shared_spans(copy_codes, stored, hint):
                        if other == clip and abs(span.offset_s) <= OFFSET_TOLERANCE_S:
                            continue
                        negatives.append(
                            {
                                "query": clip.name,
                                "stored": other.name,
                                "span": [span.start_s, span.end_s, span.offset_s, span.motion_h],
                            }
                        )
                        print("WRONG", negatives[-1], flush=True)
            print("negatives done for", clip.name, flush=True)
    shared = sum(float(p["shared_s"]) for p in positives)
    result = {
        "constants": {
            "SPAN_FPS": SPAN_FPS,
            "MAX_MOTION_H": sm.MAX_MOTION_H,
            "MAX_PICTURE_H": sm.MAX_PICTURE_H,
            "MAX_SPAN_MOTION_H": sm.MAX_SPAN_MOTION_H,
            "MIN_SPAN_S": sm.MIN_SPAN_S,
            "BRIDGE_S": sm.BRIDGE_S,
        },
        "positives": positives,
        "covered_share": round(sum(float(p["covered_s"]) for p in positives) / shared, 4),
        "wrong_reuse_s_in_positives": round(sum(float(p["wrong_s"]) for p in positives), 2),
        "max_offset_error_ms": max(float(p["offset_error_ms"] or 0) for p in positives),
        "negatives_wrong_spans": negatives,
        # [seconds, mean motion distance over the run, shift in samples] per rolling limit
        "negatives_longest_run_by_rolling_limit": {str(k): v for k, v in tier_runs.items()},
        "wall_s": round(time.time() - started, 1),
    }
    out = REPO / "bench" / "results" / "span_eval.json"
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k not in {"positives"}}, indent=1))


if __name__ == "__main__":
    main()
