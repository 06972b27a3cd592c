"""Measure span verification on the shared clips: what docs/decisions/0003 rests on.

Positives: cut variants of every clip (trims, other footage prepended and appended, two
segments swapped), each re-encoded as an editor exports it; for each, the seconds the
verified spans cover against the seconds truly shared, the offset error, and any second
reused outside the truth (wrong reuse). Negatives: every clip's re-encoded copy against
every other clip, and against itself at every *wrong* offset (other stretches of one
shot, the static traffic camera included), and each clip's second half against its first
(and the other way: the query's frames are not in the source at all), proposals every
0.5 s: every verified span there is a wrong reuse. Also, at every 0.1 s wrong shift, the
longest run that stricter per-sample limits would let through (``TIER_LIMITS``), and the
short tier and its variants (``SHORT_TIER_RULES``) on 1.5-3 s pieces of every clip placed
before, after and between other footage, and on every negative.

    .venv/bin/python bench/span_eval.py   # -> bench/results/span_eval.json (about 3 min)
"""

from __future__ import annotations

import itertools
import json
import math
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "layers" / "core" / "python"))

from foleycache.cache import span_index  # noqa: E402
from foleycache.cache.span_plan import plan_spans  # noqa: E402
from foleycache.fingerprint import fingerprint_video  # noqa: E402
from foleycache.fingerprint import span_match as sm  # noqa: E402
from foleycache.fingerprint.spans import SPAN_FPS, STILL, motion_half  # noqa: E402
from foleycache.local.cut_variants import (  # noqa: E402
    Piece,
    Variant,
    frame_truth,
    make_variant,
    probe,
)

CLIPS = REPO.parent / "shared" / "media" / "clips"
#: A reused span whose offset is further than one frame of its clip from the (nominal)
#: truth is wrong: ffmpeg's cut itself snaps to a frame. At least 80 ms (12.5 fps); the
#: fire clip runs at about 10.5 fps (variable), one frame 95 ms.
OFFSET_TOLERANCE_S = 0.08
TOLERANCE: dict[Path, float] = {}


def tolerance(clip: Path) -> float:
    if clip not in TOLERANCE:
        num, _, den = probe(clip)[2].partition("/")
        fps = float(num) / float(den or 1)
        TOLERANCE[clip] = max(OFFSET_TOLERANCE_S, 1.0 / fps if fps > 0 else 0.0)
    return TOLERANCE[clip]


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


#: Variants of the rules probed on short pieces and on every negative: module constants of
#: ``span_match`` set for the probe. The third is the rule in force.
SHORT_TIER_RULES: dict[str, dict[str, float]] = {
    "long tier only (3 s, before the short tier)": {"SHORT_SPAN_S": 1e4},
    "short tier without the uniqueness test": {"UNIQUE_MARGIN_H": -math.inf, "MIN_ALTERNATIVES": 0},
    "in force": {},
    "short tier from 1.0 s": {"SHORT_SPAN_S": 1.0},
}
SHORT_PIECES_S = (1.5, 2.0, 2.5, 3.0)


@contextmanager
def rule(**constants: float) -> Iterator[None]:
    """Verify under other constants for a while (a probe, never the product's rule)."""
    saved = {name: getattr(sm, name) for name in constants}
    for name, value in constants.items():
        setattr(sm, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(sm, name, value)


Negative = tuple[str, Any, Any, bool]  # label, query codes, stored codes, same footage
#: A variant's span codes, duration, frame lags and frame-exact truth (``frame_truth``).
Joinable = tuple[Any, float, Any, list[tuple[float, float, Path, float]]]


def short_pieces(
    clips: list[Path], durations: dict[Path, float], out: Path, seed: int
) -> list[tuple[Path, Any, list[tuple[float, float, Path, float]], Joinable]]:
    """1.5-3 s pieces of every clip before, after and between other footage (intros, end
    cards, inserts): (clip, the variant's span codes, its truth, it as a ``Joinable``)."""
    rng = random.Random(seed)
    made = []
    for clip in clips:
        others = [c for c in clips if c != clip]
        for length in SHORT_PIECES_S:
            if length > durations[clip] - 0.2:
                continue
            for where in ("before", "after", "between"):
                piece = Piece(
                    clip, round(rng.uniform(0.0, durations[clip] - length - 0.1), 2), length
                )
                o = rng.choice(others)
                other = Piece(o, 0.1, min(3.0, durations[o] - 0.2))
                pieces = {
                    "before": [piece, other],
                    "after": [other, piece],
                    "between": [other, piece, Piece(rng.choice(others), 0.2, 2.0)],
                }[where]
                v = make_variant("short", pieces, out / f"{clip.stem}-{length:g}-{where}.mp4")
                fp = fingerprint_video(v.path)
                joinable = (fp.span_codes, fp.duration_s, fp.span_lags_s, frame_truth(v))
                made.append((clip, fp.span_codes, v.truth(), joinable))
    return made


def cut_join_check(
    codes: dict[Path, Any],
    lags: dict[Path, Any],
    durations: dict[Path, float],
    variants: list[Joinable],
) -> dict[str, Any]:
    """The plan (``span_plan``) of every variant with every clip stored, spans verified
    at the true offsets' proposals, with and without joins at cuts: for each join, is a
    true cut (``frame_truth``) inside its crossfade, as ``cut_joins`` claims; the reused
    seconds outside the crossfades that are not the truth at their offset (wrong reuse,
    the same with and without: joins add none); the seconds saved."""
    out: dict[str, Any] = {"variants": len(variants)}
    for joining in (False, True):
        joins, misses, wrong, saved = 0, [], 0.0, 0.0
        for q, duration, q_lags, truth in variants:
            found = []
            for clip in {c for _, _, c, _ in truth}:
                spans: list[sm.SharedSpan] = []
                for off in (off for _, _, c, off in truth if c == clip):
                    for span in sm.shared_spans(q, codes[clip], round(off * SPAN_FPS)):
                        if not any(_overlaps(span, x) for x in spans):
                            spans.append(span)
                entry = SimpleNamespace(
                    key=clip.name, audio_key=clip.name, duration_s=durations[clip]
                )
                found.append(span_index.Found(cast(Any, entry), (*spans,), codes[clip], lags[clip]))
            query = q if joining else None
            plan = plan_spans(duration, found, samples=len(q), query=query, lags_s=q_lags)
            if plan is None:
                continue
            cuts = [start for start, _, _, _ in truth[1:]]
            reused = plan.reused
            fades = [
                (b.start_s, a.end_s) for a, b in itertools.pairwise(reused) if b.start_s < a.end_s
            ]
            joins += len(fades)
            misses += [[lo, hi, cuts] for lo, hi in fades if not any(lo <= c <= hi for c in cuts)]
            for r in reused:
                lo = max([r.start_s, *(hi for lo_, hi in fades if lo_ == r.start_s)])
                hi = min([r.end_s, *(lo_ for lo_, hi in fades if hi == r.end_s)])
                right = sum(
                    max(0.0, min(hi, b) - max(lo, a))
                    for a, b, c, off in truth
                    if c.name == r.source and abs(r.offset_s - off) <= tolerance(c)
                )
                wrong += max(0.0, hi - lo - right)
            saved += duration - plan.generated_s
        mode = "with_joins" if joining else "without_joins"
        out[mode] = {
            "joins": joins,
            "joins_without_the_true_cut_inside": misses,
            "wrong_reuse_s_outside_crossfades": round(wrong, 2),
            "saved_s": round(saved, 2),
        }
    return out


def _overlaps(a: sm.SharedSpan, b: sm.SharedSpan) -> bool:
    return a.start_s < b.end_s and b.start_s < a.end_s


def probe_short_tier(
    codes: dict[Path, Any],
    negatives: list[Negative],
    pieces: list[tuple[Path, Any, list[tuple[float, float, Path, float]], Joinable]],
) -> list[dict[str, Any]]:
    """Per rule: the share of the short pieces' seconds verified at the right offset, the
    seconds verified at a wrong one (in the pieces and in every negative), and the longest
    wrong span."""
    out = []
    for name, constants in SHORT_TIER_RULES.items():
        with rule(**constants):
            shared = covered = wrong = 0.0
            longest: list[Any] = [0.0, None]
            for clip, q, truth, _ in pieces:
                for a, b, c, off in truth:
                    if c != clip:
                        continue
                    shared += b - a
                    for span in sm.shared_spans(q, codes[c], round(off * SPAN_FPS)):
                        inter = max(0.0, min(span.end_s, b) - max(span.start_s, a))
                        right = inter if abs(span.offset_s - off) <= tolerance(c) else 0.0
                        covered += right
                        wrong += span.duration_s - right
            for label, q, stored, same in negatives:
                for span in wrong_spans(q, stored, same):
                    wrong += span.duration_s
                    if span.duration_s > longest[0]:
                        longest = [round(span.duration_s, 2), [label, span.offset_s]]
        out.append(
            {
                "rule": name,
                "constants": constants,
                "short_pieces_covered_share": round(covered / shared, 3) if shared else None,
                "wrong_s": round(wrong, 2),
                "longest_wrong_span": longest,
            }
        )
        print("short tier", out[-1], flush=True)
    return out


def index_recall(
    codes: dict[Path, Any],
    pieces: list[tuple[Path, Any, list[tuple[float, float, Path, float]], Joinable]],
    query_hop: int,
) -> float:
    """Share of the short pieces' seconds whose source the span index proposes near the
    true offset (one posting sharing a bucket with a query window, within FIND_RADIUS),
    with query windows every ``query_hop`` samples."""
    shared = found = 0.0
    for clip, q, truth, _ in pieces:
        source = codes[clip]
        posts = [
            (b, span_index.window_code(source[b : b + span_index._WINDOW]))
            for b in span_index.window_starts(len(source), span_index._STORE_HOP)
        ]
        moving = motion_half(q) != STILL
        starts = span_index.window_starts(len(q), query_hop, span_index.MAX_QUERY_WINDOWS, moving)
        for a, b, c, off in truth:
            if c != clip:
                continue
            shared += b - a
            shift = round(off * SPAN_FPS)
            if any(
                abs(stored - start - shift) <= SPAN_FPS
                and set(span_index.buckets(code)) & set(span_index.buckets(query))
                and (code ^ query).bit_count() <= span_index.FIND_RADIUS
                for start in starts
                for query in [span_index.window_code(q[start : start + span_index._WINDOW])]
                for stored, code in posts
            ):
                found += b - a
    return round(found / shared, 3) if shared else 0.0


def wrong_spans(q: Any, stored: Any, same: bool) -> list[sm.SharedSpan]:
    """Spans verified with proposals every 0.5 s at every offset, but the true one of the
    same footage (and the search around it)."""
    found = []
    for hint in range(-len(q), len(stored), 5):
        if same and abs(hint) <= SPAN_FPS:
            continue
        for span in sm.shared_spans(q, stored, hint):
            if not (same and abs(span.offset_s) <= OFFSET_TOLERANCE_S):
                found.append(span)
    return found


def main() -> None:
    started = time.time()
    clips = sorted(p for p in CLIPS.iterdir() if p.suffix in {".mp4", ".mkv", ".mov"})
    durations = {c: probe(c)[3] for c in clips}
    stored = {c: fingerprint_video(c) for c in clips}
    codes = {c: fp.span_codes for c, fp in stored.items()}
    lags = {c: fp.span_lags_s for c, fp in stored.items()}
    positives: list[dict[str, Any]] = []
    negatives: list[dict[str, Any]] = []
    tier_runs: dict[float, list[Any]] = {limit: [0.0, None, None] for limit in TIER_LIMITS}
    with tempfile.TemporaryDirectory(prefix="span-eval-") as tmp:
        joinable: list[Joinable] = []
        for v in variants(clips, durations, Path(tmp), seed=13):
            fp = fingerprint_video(v.path)
            q = fp.span_codes
            joinable.append((q, fp.duration_s, fp.span_lags_s, frame_truth(v)))
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
                        if inter > 0 and abs(span.offset_s - off) <= tolerance(clip):
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
        # Negatives: another upload of each clip (re-encoded) against every stored clip
        # (itself at every wrong offset); and each clip's second half against its first,
        # and the other way, where the query's frames are not in the source at all.
        pairs: list[Negative] = []
        for clip in clips:
            copy = make_variant(
                "copy",
                [Piece(clip, 0, durations[clip] - 0.05)],
                Path(tmp) / f"{clip.stem}-copy.mp4",
            )
            copy_codes = fingerprint_video(copy.path).span_codes
            for other in clips:
                longest_negative_runs(copy_codes, codes[other], other == clip, tier_runs)
                pairs.append(
                    (f"{clip.name} -> {other.name}", copy_codes, codes[other], other == clip)
                )
            half = durations[clip] / 2
            a_, b_ = (
                fingerprint_video(
                    make_variant(
                        n, [Piece(clip, start, half - 0.05)], Path(tmp) / f"{clip.stem}-{n}.mp4"
                    ).path
                ).span_codes
                for n, start in (("first", 0.0), ("second", half))
            )
            pairs += [
                (f"{clip.name} 2nd half -> 1st", b_, a_, False),
                (f"{clip.name} 1st half -> 2nd", a_, b_, False),
            ]
        for label, q, stored, same in pairs:
            for span in wrong_spans(q, stored, same):
                negatives.append(
                    {
                        "pair": label,
                        "span": [span.start_s, span.end_s, span.offset_s, span.motion_h],
                    }
                )
                print("WRONG", negatives[-1], flush=True)
        pieces = short_pieces(clips, durations, Path(tmp), seed=5)
        short_tier = probe_short_tier(codes, pairs, pieces)
        # Does the index propose them at all? (verification above was given the offset)
        recall = {
            f"query hop {hop / SPAN_FPS:g} s": index_recall(codes, pieces, hop)
            for hop in (span_index._QUERY_HOP, 2)  # in force, and a denser query grid
        }
        print("index recall of short pieces", recall, flush=True)
        joins = cut_join_check(codes, lags, durations, joinable + [p[3] for p in pieces])
        print("cut joins", joins, flush=True)
    shared = sum(float(p["shared_s"]) for p in positives)
    result = {
        "constants": {
            "SPAN_FPS": SPAN_FPS,
            "MAX_MOTION_H": sm.MAX_MOTION_H,
            "MAX_PICTURE_H": sm.MAX_PICTURE_H,
            "MAX_SPAN_MOTION_H": sm.MAX_SPAN_MOTION_H,
            "MIN_SPAN_S": sm.MIN_SPAN_S,
            "SHORT_SPAN_S": sm.SHORT_SPAN_S,
            "SHORT_MAX_MOTION_H": sm.SHORT_MAX_MOTION_H,
            "SHORT_MAX_SPAN_MOTION_H": sm.SHORT_MAX_SPAN_MOTION_H,
            "UNIQUE_MARGIN_H": sm.UNIQUE_MARGIN_H,
            "BRIDGE_S": sm.BRIDGE_S,
        },
        "positives": positives,
        "covered_share": round(sum(float(p["covered_s"]) for p in positives) / shared, 4),
        "wrong_reuse_s_in_positives": round(sum(float(p["wrong_s"]) for p in positives), 2),
        "max_offset_error_ms": max(float(p["offset_error_ms"] or 0) for p in positives),
        "negatives_wrong_spans": negatives,
        # [seconds, mean motion distance over the run, shift in samples] per rolling limit
        "negatives_longest_run_by_rolling_limit": {str(k): v for k, v in tier_runs.items()},
        # Would a shorter minimum be safe (0003)? Short pieces covered vs wrong seconds.
        "short_tier_probe": short_tier,
        "index_recall_short_pieces": recall,
        # Spans joined at a cut without the GPU (cache.cut_joins), on every variant above
        # with each clip stored: the true cut inside each crossfade, nothing wrong outside.
        "cut_joins": joins,
        "wall_s": round(time.time() - started, 1),
    }
    out = REPO / "bench" / "results" / "span_eval.json"
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k not in {"positives"}}, indent=1))


if __name__ == "__main__":
    main()
