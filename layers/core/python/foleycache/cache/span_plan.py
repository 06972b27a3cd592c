"""Which seconds of a new video reuse stored sound, and which the GPU must generate.

From the verified spans (``span_index``) to a plan: the longest spans first, each trimmed
to what no longer span covers, kept if it still lasts ``SHORT_SPAN_S`` (the shortest span
verification accepts). Every uncovered gap is generated with ``MARGIN_S`` of context on
both sides (into the reused spans, clipped to the video); the margin is also where the
generated and the reused sound crossfade, so a reused span is copied sample for sample
everywhere but in its margins. Two spans that meet at a clean picture cut are joined
there without the GPU (``cut_joins``), crossfaded over the interval in which the cut lies.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from foleycache.cache import cut_joins
from foleycache.cache.entry import CacheEntry
from foleycache.cache.span_index import Found
from foleycache.fingerprint.span_match import SHORT_SPAN_S, SharedSpan
from foleycache.fingerprint.spans import SPAN_FPS

#: Context generated on each side of an uncovered gap; the crossfade lies inside it.
MARGIN_S = 0.25
#: Where the new video cuts to other footage at the gap's edge, the context is only the
#: crossfade over the sample period in which the cut lies: frames across a cut carry no
#: continuity for the sound to keep (``cut_joins.gap_begins_at_cut``).
CUT_MARGIN_S = 1.0 / SPAN_FPS
#: A verified span's end inside the video is pulled back by this much before planning:
#: at a cut between two stretches of one scene, verification ran on for up to 0.08 s
#: past the cut (bench/results/span_eval.json), and that sound must not be reused.
GUARD_S = 0.1
#: The shortest stretch the GPU model is asked for: HunyuanVideo-Foley conditions on 16
#: frames at 25 fps (0.64 s; its server refuses less), plus 0.06 s because the plan sees
#: the duration rounded to the millisecond and the server cuts at its own frame-exact end
#: (a 0.64 s span at the end of a 10.07673 s clip planned as 10.077 s arrived as 0.6397 s).
#: A shorter gap, margins included (a trim that leaves 0.1 s uncovered at one end), is
#: widened into the reused sound around it, which the generated sound then replaces there.
MIN_GENERATE_S = 0.7
#: How much earlier than the new video the source's sound may end, for a span holding the
#: last sample still to run to the video's end: one 25 fps frame. The two files show one
#: last frame for a frame period each and round their durations differently (a coffee
#: clip's 9.543 s of sound lay 3 ms short of a copy's 12.546 s end, 3.0 s in); without
#: it, those milliseconds cost the model's shortest span, 0.7 s of GPU. The track is
#: silent for them: where a full run's track ends abruptly, this one ends as abruptly,
#: at most 40 ms sooner.
END_SLACK_S = 0.04


@dataclass(frozen=True)
class ReusedSpan:
    """Seconds ``[start_s, end_s)`` of the new video are ``source``'s sound at ``+ offset_s``."""

    start_s: float
    end_s: float
    source: str  # the source entry's cache key (str(CacheKey))
    source_audio: str  # its L2 audio key
    offset_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class SpanPlan:
    duration_s: float
    reused: tuple[ReusedSpan, ...]
    #: Seconds ``[start, end)`` to generate, margins included, in order and apart.
    generate: tuple[tuple[float, float], ...]

    @property
    def generated_s(self) -> float:
        return sum(b - a for a, b in self.generate)

    @property
    def reuse_share(self) -> float:
        """Share of the video's seconds the GPU does not generate."""
        if self.duration_s <= 0:
            return 0.0
        return max(0.0, min(1.0, 1.0 - self.generated_s / self.duration_s))

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration_s": self.duration_s,
            "reused": [asdict(r) for r in self.reused],
            "generate": [list(g) for g in self.generate],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpanPlan:
        return cls(
            duration_s=float(d["duration_s"]),
            reused=tuple(ReusedSpan(**r) for r in d["reused"]),
            generate=tuple((float(a), float(b)) for a, b in d["generate"]),
        )


def plan_spans(
    duration_s: float,
    found: list[Found],
    min_span_s: float = SHORT_SPAN_S,
    samples: int = 0,
    query: np.ndarray | None = None,
    lags_s: np.ndarray | None = None,
) -> SpanPlan | None:
    """The plan, or None when nothing worth reusing was verified. (``min_span_s`` is for
    the replay's ceiling: what these rules save if every shared stretch of that length
    were verified.) With the new video's span codes (``query``) and their frame lags
    (``lags_s``), spans that meet at a clean cut are joined there (``cut_joins``) instead
    of generated."""
    candidates = sorted(
        ((span, item) for item in found for span in item.spans),
        key=lambda pair: -pair[0].duration_s,
    )
    # Every verified span as the plan would reuse it, longest first.
    planned: list[_Planned] = []
    for span, item in candidates:
        start = span.start_s + (GUARD_S if span.start_s > 0 else 0.0)
        end = min(_to_the_end(span, item.entry, duration_s, samples), duration_s)
        end -= GUARD_S if end < duration_s else 0.0
        reused = ReusedSpan(start, end, str(item.entry.key), item.entry.audio_key, span.offset_s)
        sound = (-span.offset_s, item.entry.duration_s - span.offset_s)
        planned.append((reused, cut_joins.Side(item.codes, *sound, item.lags_s)))
    chosen: list[_Planned] = []
    for reused, side in planned:
        start, end = reused.start_s, reused.end_s
        for other, _ in chosen:  # trim to what the longer spans left uncovered
            if other.start_s <= start < other.end_s:
                start = other.end_s
            if other.start_s < end <= other.end_s:
                end = other.start_s
        if end - start < min_span_s or any(o.start_s < end and start < o.end_s for o, _ in chosen):
            continue
        chosen.append((replace(reused, start_s=start, end_s=end), side))
    if not chosen:
        return None
    chosen.sort(key=lambda pair: pair[0].start_s)
    codes = query if query is not None else np.zeros(0, np.uint64)
    lags = lags_s if lags_s is not None else np.zeros(0, np.float64)
    joined = _join_at_cuts(chosen, planned, codes, lags)

    # Each gap with the context generated into the reused sound on either side: the
    # margin, or where the gap begins with a picture cut, just the crossfade at the cut.
    def margin(placed: _Planned, trailing: bool) -> float:
        at_cut = cut_joins.gap_begins_at_cut(*placed, codes, trailing)
        return CUT_MARGIN_S if at_cut else MARGIN_S

    gaps: list[tuple[float, float, float, float]] = []
    at, after = 0.0, 0.0
    for i, (r, side) in enumerate(chosen):
        if i > 0 and joined[i - 1]:
            pass  # crossfaded at the cut: nothing to generate
        elif r.start_s > at:
            gaps.append((at, r.start_s, after, margin((r, side), trailing=False)))
        elif i > 0:
            gaps.append((r.start_s, r.start_s, MARGIN_S, MARGIN_S))  # two spans meet
        gap_after = r.end_s < duration_s and not joined[i]
        at, after = r.end_s, margin((r, side), trailing=True) if gap_after else 0.0
    if at < duration_s:
        gaps.append((at, duration_s, after, 0.0))
    generate: list[tuple[float, float]] = []
    for a, b, before_s, after_s in gaps:
        lo = 0.0 if a <= 0 else max(0.0, a - before_s)
        hi = duration_s if b >= duration_s else min(duration_s, b + after_s)
        if generate and lo <= generate[-1][1]:
            generate[-1] = (generate[-1][0], max(generate[-1][1], hi))
        else:
            generate.append((lo, hi))
    plan = SpanPlan(duration_s, tuple(r for r, _ in chosen), _widened(generate, duration_s))
    return plan if plan.generated_s < duration_s else None


_Planned = tuple[ReusedSpan, cut_joins.Side]


def _join_at_cuts(
    chosen: list[_Planned], planned: list[_Planned], query: np.ndarray, lags_s: np.ndarray
) -> list[bool]:
    """Join neighbouring chosen spans at the cut between them where ``cut_joins`` finds a
    clean one (in place); which pairs were joined. Either side may take its sound from
    another stored video verified from the side's far end to near the cut: the first
    choice may be an upload with the same intro, whose own cut falls under the
    crossfade, where the intro's own source has none."""
    joined = [False] * len(chosen)
    for i in range(len(chosen) - 1):
        left, right = chosen[i][0], chosen[i + 1][0]
        lefts = [chosen[i]]
        if not (i and joined[i - 1]):  # a side joined at its other end keeps its source
            lefts += [
                (replace(o, start_s=left.start_s, end_s=min(o.end_s, left.end_s)), side)
                for o, side in planned
                if o.source != left.source and o.start_s <= left.start_s + 1e-6 < o.end_s
            ]
        rights = [chosen[i + 1]] + [
            (replace(o, start_s=max(o.start_s, right.start_s), end_s=right.end_s), side)
            for o, side in planned
            if o.source != right.source and o.start_s < right.end_s <= o.end_s + 1e-6
        ]
        for (left, lside), (right, rside) in itertools.product(lefts, rights):
            cut = cut_joins.join(left, right, query, (lside, rside), lags_s)
            if cut is not None:
                chosen[i], chosen[i + 1] = (cut[0], lside), (cut[1], rside)
                joined[i] = True
                break
    return joined


def _to_the_end(span: SharedSpan, entry: CacheEntry, duration_s: float, samples: int) -> float:
    """A span that holds the video's last sample (of ``samples``) runs to its end: the
    frames after that sample (under a sample period: 22.56-22.64 s of a 12.5 fps clip
    sampled last at 22.5 s) have no sample of their own, and are the frames that follow
    it in the source, as far as the source's sound lasts (``END_SLACK_S``)."""
    source_end = entry.duration_s - span.offset_s  # where the source's sound ends, here
    if samples <= 0 or round(span.end_s * SPAN_FPS) < samples:
        return min(span.end_s, source_end)
    if duration_s - source_end <= END_SLACK_S:
        return duration_s
    return source_end


def _widened(
    spans: list[tuple[float, float]], duration_s: float
) -> tuple[tuple[float, float], ...]:
    """Every span at least ``MIN_GENERATE_S`` (or the whole video), grown evenly on both
    sides and inside the video; spans that come to touch are merged."""
    out: list[tuple[float, float]] = []
    for a, b in spans:
        short = min(MIN_GENERATE_S, duration_s) - (b - a)
        if short > 1e-9:
            a, b = a - short / 2, b + short / 2
            if a < 0.0:
                a, b = 0.0, b - a
            if b > duration_s:
                a, b = max(0.0, a - (b - duration_s)), duration_s
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return tuple(out)
