"""Replay of cut variants: GPU seconds saved by reuse across cuts, against the oracle.

Run: ``.venv/bin/python bench/replay_cuts.py [--seed S] [--out PATH]``
Writes ``bench/results/replay_cuts.json`` and prints a summary.

Workload, per shared clip long enough to share a span (>= 3.6 s): the clip itself (a
miss), then cut variants made with ffmpeg (``local.cut_variants``): trims keeping 50-90 %
(10-50 % cut away, anywhere), 1-3 s of other footage prepended, 1-3 s appended, and two
segments swapped. Negatives under a second prompt: two non-overlapping stretches of the
long static-camera clip, and each clip after a different one.

Everything but the GPU is the product on real parts (``replay_bench``'s stack: moto's
server, redis-server, the use cases in the state machine's order). The stand-in model
writes, for every sample it is asked for, a *timecode* of the frames the upload truly
shows there (clip id and clip time, 100 ms steps), so wrong reuse is judged from the
served WAV itself: every 10 ms block outside the crossfades must carry the timecode of
the frames at that time (within one step), else its second counts as wrongly reused.

Which frames a file shows is read from the file (``frame_truth``), not from the nominal
piece lengths: an earlier judge used those and flagged 4 blocks of 10 ms that were right.
Three lay past the nominal end, where the last frame is still shown (7.274 s of file for
a nominal 7.259 s); one was the first 10 ms of a bikes upload reusing a stored upload
whose 1.216 s fire intro is 30 frames (1.20 s) at 25 fps: the stand-in had written fire
timecodes over the bikes frames at 1.20-1.216 s there, and that upload's true sound was
reused at the true offset. The stand-in and the judge now both use the frames shown.

Figures: GPU seconds generated (the model's own tally of seconds asked for), seconds
saved = duration - generated, against the oracle's truly shared seconds (frames of the
same prompt seen in an earlier request); the span search's cost on lookups that missed
(bucket reads, store round trips, ms), measured around ``SpanIndex.find``.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import itertools
import json
import random
import statistics
import tempfile
import time
import wave
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
from replay_bench import (
    DEFAULT_CLIPS,
    REPO,
    Stack,
    run_pipeline,
    shut_down,
    start_stack,
    submit,
)

from foleycache.cache import span_index
from foleycache.cache.span_index import Found
from foleycache.cache.span_plan import plan_spans
from foleycache.core.ports import InferenceNotice, InferenceRequest, InferenceResult
from foleycache.fingerprint.span_match import MIN_SPAN_S, SharedSpan
from foleycache.local.cut_variants import Piece, Variant, frame_truth, make_variant, probe
from foleycache.pipeline.compose import write_pcm
from foleycache.pipeline.state import PipelineState
from foleycache.services import Services

RESULTS = REPO / "bench" / "results" / "replay_cuts.json"
RATE = 48_000
STEP_S = 0.1  # timecode resolution
PROMPTS = ("footsteps and ambience, cuts replay", "rain on a window, cuts replay")


def timecode(clip_id: int, clip_t: np.ndarray) -> np.ndarray:
    return (clip_id * 1000 + np.floor(clip_t / STEP_S + 1e-6)).astype(np.int16)


class TimecodeInference:
    """Writes, for each sample asked for, the timecode of the frames truly shown there."""

    def __init__(
        self,
        s3: Any,
        truth: dict[str, list[tuple[float, float, Path, float]]],
        clip_ids: dict[Path, int],
    ) -> None:
        self.s3 = s3
        self.truth = truth
        self.clip_ids = clip_ids
        self.generated_s = 0.0
        self.calls = 0
        self.results: dict[str, InferenceResult] = {}

    def expected(self, video_uri: str, total: int) -> np.ndarray:
        t = np.arange(total) / RATE
        out = np.zeros(total, dtype=np.int16)
        for start, end, clip, offset in self.truth[video_uri]:
            inside = (t >= start) & (t < end)
            out[inside] = timecode(self.clip_ids[clip], t[inside] + offset)
        return out

    def start(self, request: InferenceRequest) -> None:
        self.calls += 1
        total = round(request.duration_s * RATE)
        full = self.expected(request.video_uri, total)
        spans = request.spans or ((0.0, request.duration_s),)
        samples = np.zeros(total, dtype=np.int16)
        for a, b in spans:
            lo, hi = round(a * RATE), min(total, round(b * RATE))
            samples[lo:hi] = full[lo:hi]
            self.generated_s += (hi - lo) / RATE
        bucket, key = request.output_uri.removeprefix("s3://").split("/", 1)
        body = write_pcm(samples, RATE)
        self.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="audio/wav")
        self.results[request.inference_id] = InferenceResult(
            request.output_uri, request.model_version, RATE, request.duration_s, "timecode", 1.0
        )

    def notice_from(self, message: dict[str, Any]) -> InferenceNotice:
        return InferenceNotice(str(message["inferenceId"]), True)

    def read_result(self, notice: InferenceNotice) -> InferenceResult:
        return self.results.pop(notice.inference_id)


def workload(clips: list[Path], work: Path, seed: int) -> list[tuple[str, str, Variant]]:
    """(kind, prompt, variant) in request order."""
    rng = random.Random(seed)
    durations = {c: probe(c)[3] for c in clips}
    usable = [c for c in clips if durations[c] >= 3.6]
    out: list[tuple[str, str, Variant]] = []
    n = 0

    def make(kind: str, prompt: str, pieces: list[Piece]) -> None:
        nonlocal n
        n += 1
        out.append((kind, prompt, make_variant(kind, pieces, work / f"{n:03d}-{kind}.mp4")))

    for clip in usable:
        d = durations[clip] - 0.05
        others = [c for c in clips if c != clip]
        make("original", PROMPTS[0], [Piece(clip, 0.0, d)])
        for _ in range(2):
            keep = rng.uniform(0.5, 0.9) * d
            make("trim", PROMPTS[0], [Piece(clip, rng.uniform(0.0, d - keep), keep)])
        pre = rng.choice(others)
        make(
            "prepend",
            PROMPTS[0],
            [Piece(pre, 0.1, min(rng.uniform(1, 3), durations[pre] - 0.2)), Piece(clip, 0.0, d)],
        )
        post = rng.choice(others)
        make(
            "append",
            PROMPTS[0],
            [Piece(clip, 0.0, d), Piece(post, 0.1, min(rng.uniform(1, 3), durations[post] - 0.2))],
        )
        m = rng.uniform(0.35, 0.65) * d
        make("swap", PROMPTS[0], [Piece(clip, m, d - m), Piece(clip, 0.0, m)])
    # Negatives under another prompt: other stretches of the static camera, other clips.
    car = next(c for c in clips if "car" in c.name)
    make("static-a", PROMPTS[1], [Piece(car, 0.0, 13.0)])
    make("static-b", PROMPTS[1], [Piece(car, 15.0, 13.0)])
    for clip in usable[1:]:  # each after a different one
        make("other-clip", PROMPTS[1], [Piece(clip, 0.0, min(8.0, durations[clip] - 0.05))])
    return out


def shared_totals(stretches: list[tuple[float, float, float]]) -> tuple[float, float]:
    """Seconds of a variant whose frames (clip, time) were in an earlier request (its
    ``shared_stretches``); and of those, the seconds in contiguous shared stretches of at
    least ``MIN_SPAN_S`` (what a rule that refuses shorter evidence can reuse at best)."""
    total = sum(b - a for a, b, _ in stretches)
    long = sum(b - a for a, b, _ in stretches if b - a >= MIN_SPAN_S)
    return total, long


#: Minimum span lengths for the ceiling (``ceiling_saved_s``).
CEILING_MIN_SPANS_S = (3.0, 2.0, 1.5, 1.0)


def ceiling_saved_s(
    duration_s: float, stretches: list[tuple[float, float, float]]
) -> dict[str, float]:
    """Per minimum span length, the seconds the product's plan rules (guards, margins, the
    model's shortest span) would save if verification found every shared stretch of at
    least that length, exactly: what no verifier under that minimum can beat."""
    out: dict[str, float] = {}
    source = cast(Any, SimpleNamespace(key="oracle", audio_key="oracle", duration_s=float("inf")))
    for minimum in CEILING_MIN_SPANS_S:
        spans = tuple(
            SharedSpan(a, b, off, 0.0, 0.0) for a, b, off in stretches if b - a >= minimum
        )
        plan = plan_spans(duration_s, [Found(source, spans)], minimum) if spans else None
        out[f"{minimum:g}"] = round(duration_s - plan.generated_s, 3) if plan else 0.0
    return out


def shared_stretches(
    variant: Variant, seen: list[tuple[Path, float, float]]
) -> list[tuple[float, float, float]]:
    """(start_s, end_s, offset_s) in ``variant`` of every contiguous stretch whose frames
    were in an earlier request (offset: clip time - variant time)."""
    out: list[tuple[float, float, float]] = []
    for start, end, clip, offset in variant.truth():
        covered: list[tuple[float, float]] = []
        for c, a, b in seen:
            if c == clip:
                lo, hi = max(start + offset, a), min(end + offset, b)
                if hi > lo:
                    covered.append((lo, hi))
        covered.sort()
        merged: list[list[float]] = []
        for lo, hi in covered:
            if merged and lo <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        out.extend((lo - offset, hi - offset, offset) for lo, hi in merged)
    return out


def cut_joins(
    spans: list[dict[str, Any]], truth: list[tuple[float, float, Path, float]]
) -> list[dict[str, Any]]:
    """Each join of two reused spans at a cut (they overlap by its crossfade), and whether
    a true cut between pieces lies inside that crossfade, as ``cut_joins`` claims."""
    cuts = [start for start, _, _, _ in truth[1:]]
    out = []
    for a, b in itertools.pairwise(spans):
        if b["start_s"] < a["end_s"]:
            fade = (b["start_s"], a["end_s"])
            inside = any(fade[0] <= c <= fade[1] for c in cuts)
            out.append({"fade_s": [round(x, 4) for x in fade], "true_cut_inside": inside})
    return out


def wrong_blocks(served: np.ndarray, expected: np.ndarray) -> list[float]:
    """Start times of the 10 ms blocks that carry another frame's timecode (crossfades
    excluded: a block whose samples are not one timecode is a join, not a verdict)."""
    block = RATE // 100
    n = min(len(served), len(expected)) // block
    wrong: list[float] = []
    for i in range(n):
        s = served[i * block : (i + 1) * block]
        if s.min() != s.max() or s[0] == 0:
            continue  # crossfade, or silence
        e = expected[i * block : (i + 1) * block]
        if not np.any(np.abs(e.astype(np.int32) - int(s[0])) <= 1):
            wrong.append(i / 100.0)
    return wrong


class CountingStore:
    """Counts one lookup's index traffic (round trips and buckets), by layout."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0
        self.buckets = 0

    def members(self, scope: str, buckets: list[str]) -> set[str]:
        self.calls += 1
        self.buckets += len(buckets)
        result: set[str] = self.inner.members(scope, buckets)
        return result

    def add(self, scope: str, buckets: list[str], member: str) -> None:
        self.inner.add(scope, buckets, member)

    def remove(self, scope: str, buckets: list[str], member: str) -> None:
        self.inner.remove(scope, buckets, member)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fc-cuts-"))
    stack: Stack | None = None
    started = time.perf_counter()
    try:
        clips = sorted(p for p in args.clips.iterdir() if p.suffix in {".mp4", ".mkv", ".mov"})
        plan = workload(clips, work, args.seed)
        prep_s = time.perf_counter() - started
        print(f"{len(plan)} requests, prep {prep_s:.0f} s", flush=True)
        stack = start_stack()
        services, _ = stack.services("cuts", 1, work)
        truth: dict[str, list[tuple[float, float, Path, float]]] = {}
        model = TimecodeInference(stack.s3, truth, {c: i + 1 for i, c in enumerate(clips)})
        hot = CountingStore(services.hot_index)
        durable = CountingStore(services.durable_index)
        services = dataclasses.replace(
            services, inference=model, hot_index=hot, durable_index=durable
        )
        span_costs: list[dict[str, Any]] = []
        real_find = span_index.SpanIndex.find

        def timed_find(self: span_index.SpanIndex, key: Any, fp: Any) -> Any:
            calls, buckets = hot.calls + durable.calls, hot.buckets + durable.buckets
            t0 = time.perf_counter()
            found = real_find(self, key, fp)
            span_costs.append(
                {
                    "ms": (time.perf_counter() - t0) * 1e3,
                    "round_trips": hot.calls + durable.calls - calls,
                    "buckets": hot.buckets + durable.buckets - buckets,
                    "found": bool(found),
                }
            )
            return found

        span_index.SpanIndex.find = timed_find  # type: ignore[method-assign,assignment]
        rows = [replay_one(services, stack, model, truth, i, *req) for i, req in enumerate(plan)]
        summary = summarise(rows, span_costs, prep_s, time.perf_counter() - started, args.seed)
        args.out.write_text(json.dumps(summary, indent=1))
        print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=1))
    finally:
        shut_down(stack, work)


#: Per prompt, the (clip, start, end) frames requested so far: the oracle's memory.
SEEN: dict[str, list[tuple[Path, float, float]]] = {}


def replay_one(
    services: Services,
    stack: Stack,
    model: TimecodeInference,
    truth: dict[str, list[tuple[float, float, Path, float]]],
    index: int,
    kind: str,
    prompt: str,
    variant: Variant,
) -> dict[str, Any]:
    settings = services.settings
    key = f"uploads/{index:04d}{variant.path.suffix}"
    uri = f"s3://{settings.uploads_bucket}/{key}"
    truth[uri] = frame_truth(variant)
    job_id = submit(stack, services, variant.path, key, prompt)
    seen = SEEN.setdefault(prompt, [])
    stretches = shared_stretches(variant, seen)
    oracle_s, reusable_s = shared_totals(stretches)
    before = model.generated_s
    t0 = time.perf_counter()
    state = run_pipeline(
        services,
        PipelineState(job_id=job_id, bucket=settings.uploads_bucket, key=key),
        stack.meter,
        {},  # the path each request took: priced by the cost model, not here
    )
    stack.meter.take()
    ms = (time.perf_counter() - t0) * 1e3
    generated = model.generated_s - before
    body = stack.s3.get_object(Bucket=settings.cache_bucket, Key=state.audio_key)["Body"].read()
    with wave.open(io.BytesIO(body), "rb") as w:
        served = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    duration = state.duration_s
    wrong_at = wrong_blocks(served, model.expected(uri, len(served)))
    entry = services.cache.get_l2(state.entry_key())
    composed = (entry.extra.get("composed") or {}) if entry is not None else {}
    wrong = len(wrong_at) / 100.0
    for start, end, clip, offset in variant.truth():
        seen.append((clip, start + offset, end + offset))
    row = {
        "index": index,
        "kind": kind,
        "prompt": prompt,
        "file": variant.path.name,
        "pieces": [
            [p.clip.name, round(p.start_s, 3), round(p.duration_s, 3)] for p in variant.pieces
        ],
        "outcome": state.cache,
        "duration_s": round(duration, 3),
        "oracle_shared_s": round(oracle_s, 3),
        "oracle_shared_3s_s": round(reusable_s, 3),
        "ceiling_saved_s": ceiling_saved_s(duration, stretches),
        "generated_s": round(generated, 3),
        "saved_s": round(max(0.0, duration - generated), 3)
        if state.cache != "exact"
        else round(duration, 3),
        "wrong_s": wrong,
        "wrong_at_s": wrong_at[:10],
        "truth_end_s": round(sum(p.duration_s for p in variant.pieces), 3),
        "frame_cuts_s": [round(a, 3) for a, _, _, _ in truth[uri][1:]],
        "reused": [
            [r["start_s"], r["end_s"], r["source_offset_s"], r["source"].split("/")[-1][:8]]
            for r in composed.get("spans", [])
        ],
        "generated": composed.get("generated", []),
        "cut_joins": cut_joins(composed.get("spans", []), truth[uri]),
        "ms": round(ms, 1),
    }
    print(
        f"  #{index:03d} {kind:<10} {row['outcome']!s:<8} dur {duration:5.1f} s  "
        f"shared {oracle_s:5.1f}  generated {generated:5.1f}  wrong {wrong:.2f}  {ms:6.0f} ms",
        flush=True,
    )
    return row


def summarise(
    rows: list[dict[str, Any]], costs: list[dict[str, Any]], prep_s: float, wall_s: float, seed: int
) -> dict[str, Any]:
    variants = [r for r in rows if r["kind"] not in {"original"}]
    oracle = sum(r["oracle_shared_s"] for r in rows)
    oracle_long = sum(r["oracle_shared_3s_s"] for r in rows)
    saved = sum(min(r["saved_s"], r["duration_s"]) for r in rows)
    by_kind: dict[str, dict[str, float]] = {}
    for r in variants:
        k = by_kind.setdefault(
            r["kind"], {"n": 0, "oracle_shared_s": 0.0, "saved_s": 0.0, "generated_s": 0.0}
        )
        k["n"] += 1
        k["oracle_shared_s"] += r["oracle_shared_s"]
        k["saved_s"] += r["saved_s"]
        k["generated_s"] += r["generated_s"]
    misses = [c for c in costs if not c["found"]]
    return {
        "seed": seed,
        "requests": len(rows),
        "gpu_seconds_generated": round(sum(r["generated_s"] for r in rows), 2),
        "gpu_seconds_without_cache": round(sum(r["duration_s"] for r in rows), 2),
        "oracle_shared_s": round(oracle, 2),
        "saved_s": round(saved, 2),
        "saved_vs_oracle": round(saved / oracle, 4) if oracle else None,
        "oracle_shared_in_3s_stretches_s": round(oracle_long, 2),
        "saved_vs_oracle_3s_stretches": round(saved / oracle_long, 4) if oracle_long else None,
        # What the plan rules would save with a perfect verifier, per minimum span (s):
        # where the target sits against the minimum the negatives allow (0003).
        "ceiling_saved_vs_oracle_by_min_span_s": {
            k: round(sum(r["ceiling_saved_s"][k] for r in rows) / oracle, 4) if oracle else None
            for k in rows[0]["ceiling_saved_s"]
        }
        if rows
        else {},
        "wrong_reuse_s": round(sum(r["wrong_s"] for r in rows), 2),
        "wrong_reuse_requests": sum(r["wrong_s"] > 0 for r in rows),
        # Spans joined at a cut without the GPU; the claim is that the true cut always
        # lies inside the crossfade (each side's sound is its own frames' outside it).
        "cut_joins": sum(len(r["cut_joins"]) for r in rows),
        "cut_joins_with_true_cut_inside": sum(
            j["true_cut_inside"] for r in rows for j in r["cut_joins"]
        ),
        "outcomes": {
            o: sum(r["outcome"] == o for r in rows)
            for o in sorted({str(r["outcome"]) for r in rows})
        },
        "by_kind": {
            k: {kk: round(v, 2) for kk, v in d.items()} for k, d in sorted(by_kind.items())
        },
        "span_search_on_miss": {
            "lookups": len(misses),
            "p50_ms": round(statistics.median(c["ms"] for c in misses), 2) if misses else None,
            "p50_bucket_reads": statistics.median(c["buckets"] for c in misses) if misses else None,
            "p50_round_trips": statistics.median(c["round_trips"] for c in misses)
            if misses
            else None,
            "max_bucket_reads": max((c["buckets"] for c in misses), default=None),
        },
        "span_search_all": {
            "lookups": len(costs),
            "p50_ms": round(statistics.median(c["ms"] for c in costs), 2) if costs else None,
        },
        "prep_s": round(prep_s, 1),
        "wall_s": round(wall_s, 1),
        "rows": rows,
    }


if __name__ == "__main__":
    main()
