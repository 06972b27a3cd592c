"""Verify that two videos share a stretch of frames, and where: strict, like ``decide``.

The index (``cache.span_index``) only *proposes* a stored video and a rough offset. This
module decides, on the two videos' span codes (``fingerprint.spans``), which stretches of
the new video are the stored video's frames at one constant offset:

- the offset is searched within +-``SEARCH_S`` of the proposal, on the motion half (the
  picture half cannot tell two moments of a static shot apart);
- every sample of a span must lie in a run where the 1 s rolling mean Hamming distance of
  the motion half is at most ``MAX_MOTION_H`` and of the picture half at most
  ``MAX_PICTURE_H``; a sample still in either video (next to nothing moves: no evidence
  either way) is carried only inside a span, for at most ``BRIDGE_S``, with agreeing
  pictures;
- a span holds at least ``MIN_SPAN_S`` of evidence (moving samples that pass), and their
  mean motion distance is at most ``MAX_SPAN_MOTION_H``; or, a *short* span, at least
  ``SHORT_SPAN_S`` under stricter limits (``SHORT_MAX_MOTION_H``,
  ``SHORT_MAX_SPAN_MOTION_H``) that also aligns *uniquely*: at its offset better by
  ``UNIQUE_MARGIN_H`` than at any other offset in the whole source (a coffee pour repeats
  every 2.5 s: one shot's other moments pass the limits for up to 2 s, but the true moment,
  when it is there, aligns far better, and when it is not, nothing else stands out);
- one constant offset: the first and the last third of the span, aligned on their own,
  pick the same offset (a speed change, a frame-rate trick or a different stretch drifts);
- the offset is refined below the 0.1 s grid by a parabola through the mean distances at
  the best shift and its neighbours, to 10 ms (measured error in the decision record).

The constants and the measurements behind them: docs/decisions/0003-span-reuse.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from foleycache.fingerprint.hashing import hamming_many
from foleycache.fingerprint.spans import SPAN_FPS, STILL, motion_half, picture_half

#: Rolling window of the per-sample test (samples): 1 s.
ROLL = round(SPAN_FPS)
MAX_MOTION_H = 9.0
MAX_PICTURE_H = 6.0
MAX_SPAN_MOTION_H = 7.0
MIN_SPAN_S = 3.0
#: The short tier (intros, end cards, short clips): less evidence, stricter limits, and a
#: unique alignment in the whole source. Measured in bench/results/span_eval.json
#: (``short_tier_probe``) and docs/decisions/0003-span-reuse.md.
SHORT_SPAN_S = 1.5
SHORT_MAX_MOTION_H = 6.0
SHORT_MAX_SPAN_MOTION_H = 5.0
#: How much better (mean motion bits) a short span aligns at its offset than at the best
#: other offset more than ``UNIQUE_EXCLUDE`` samples (0.2 s) away (true short pieces: 7.8 bits at
#: the 5th percentile; the coffee pour's wrong moments: -5.4, their true one is better).
UNIQUE_MARGIN_H = 4.0
UNIQUE_EXCLUDE = 2
#: Other offsets a short span must be compared with (fewer cannot show that it aligns
#: uniquely).
MIN_ALTERNATIVES = 5
#: How far from the index's proposal the offset is searched.
SEARCH_S = 1.0
#: A verified span that stops this close to the new video's own first or last sample is
#: extended to it when the picture half agrees there (the motion half of the first
#: ``MOTION_LAG`` samples has no past to compare).
EDGE_S = 0.3
#: Longest stretch of still samples (nothing moves in either video) carried inside a span.
BRIDGE_S = 6.0
BRIDGE = round(BRIDGE_S * SPAN_FPS)


@dataclass(frozen=True)
class SharedSpan:
    """Seconds ``[start_s, end_s)`` of the new video are the source's ``+ offset_s``."""

    start_s: float
    end_s: float
    offset_s: float
    motion_h: float
    picture_h: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def _distances(q: np.ndarray, s: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-sample (motion, picture) distances of ``q[i]`` and ``s[i + shift]`` where both exist,
    and the first query index compared."""
    start = max(0, -shift)
    stop = min(len(q), len(s) - shift)
    if stop <= start:
        return np.zeros(0), np.zeros(0), start
    a, b = q[start:stop], s[start + shift : stop + shift]
    dm = hamming_many(motion_half(a), motion_half(b)).astype(np.float64)
    still = (motion_half(a) == STILL) | (motion_half(b) == STILL)
    dm[still] = 32.0  # no evidence
    dp = hamming_many(picture_half(a), picture_half(b)).astype(np.float64)
    return dm, dp, start


def _rolling_mean(x: np.ndarray, n: int) -> np.ndarray:
    if len(x) < n:
        return np.full(len(x), np.inf)
    c = np.concatenate([[0.0], np.cumsum(x)])
    means = (c[n:] - c[:-n]) / n
    # Each sample gets the best window that contains it: a sample passes if some 1 s
    # window around it passes (the edges of a span are not penalised for what lies
    # beyond them, and the span stops where no passing window reaches).
    out = np.full(len(x), np.inf)
    for k in range(n):
        out[k : k + len(means)] = np.minimum(out[k : k + len(means)], means)
    return out


def _best_shift(q: np.ndarray, s: np.ndarray, shifts: range) -> tuple[int, float]:
    best, best_h = shifts.start, np.inf
    for shift in shifts:
        dm, _, _ = _distances(q, s, shift)
        if len(dm) >= ROLL and (h := float(dm.mean())) < best_h:
            best, best_h = shift, h
    return best, best_h


def _refine(q: np.ndarray, s: np.ndarray, shift: int) -> float:
    """Sub-sample offset (in samples) from a parabola through shifts -1, 0, +1."""
    h = [_distances(q, s, shift + d)[0] for d in (-1, 0, 1)]
    if min(len(x) for x in h) < ROLL:
        return float(shift)
    left, mid, right = (float(x.mean()) for x in h)
    curve = left - 2 * mid + right
    if curve <= 0:
        return float(shift)
    return shift + float(np.clip(0.5 * (left - right) / curve, -0.5, 0.5))


def runs(good: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of every run of True."""
    edges = np.diff(np.concatenate([[0], good.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _still_runs_longer_than(neutral: np.ndarray, limit: int) -> np.ndarray:
    """True where a run of still samples lasts more than ``limit`` samples."""
    out = np.zeros(len(neutral), dtype=bool)
    for a, b in runs(neutral):
        if b - a > limit:
            out[a:b] = True
    return out


def shared_spans(query: np.ndarray, source: np.ndarray, shift_hint: int) -> list[SharedSpan]:
    """Verified spans of ``query`` found in ``source`` near ``shift_hint`` (samples,
    source index = query index + shift)."""
    search = round(SEARCH_S * SPAN_FPS)
    shift, _ = _best_shift(query, source, range(shift_hint - search, shift_hint + search + 1))
    dm, dp, first = _distances(query, source, shift)
    if len(dm) < min(tier.min_evidence for tier in _tiers()):
        return []
    a_, b_ = query[first : first + len(dm)], source[first + shift : first + shift + len(dm)]
    still_q, still_s = motion_half(a_) == STILL, motion_half(b_) == STILL
    evidence = ~still_q & ~still_s
    # Still in either (next to nothing moves; codec noise decides which side of STILL_RMS
    # a sample of an empty road falls on): no evidence either way. Inside a span, up to
    # BRIDGE_S of it is carried when the pictures agree; a span never starts or ends on it
    # except at the new video's own edges.
    neutral = still_q | still_s
    picture_ok = _rolling_mean(dp, ROLL) <= MAX_PICTURE_H
    bridgeable = neutral & picture_ok & ~_still_runs_longer_than(neutral, BRIDGE)
    rolling = _rolling_evidence_mean(dm, evidence, ROLL)
    out: list[SharedSpan] = []
    for tier in _tiers():
        good = evidence & (rolling <= tier.max_motion_h) & picture_ok
        for a, b in runs(good | bridgeable):
            span = _verified(query, source, shift, first, dm, dp, good, a, b, tier)
            if span is not None and not any(
                span.start_s < o.end_s and o.start_s < span.end_s for o in out
            ):
                out.append(span)
    return sorted(out, key=lambda x: x.start_s)


@dataclass(frozen=True)
class _Tier:
    min_evidence: int  # samples
    max_motion_h: float  # every evidence sample's best 1 s rolling mean
    max_span_motion_h: float  # the span's evidence mean
    unique: bool


def _tiers() -> tuple[_Tier, ...]:
    """The long tier, then the short one (read at call time: span_eval probes variants)."""
    return (
        _Tier(round(MIN_SPAN_S * SPAN_FPS), MAX_MOTION_H, MAX_SPAN_MOTION_H, False),
        _Tier(round(SHORT_SPAN_S * SPAN_FPS), SHORT_MAX_MOTION_H, SHORT_MAX_SPAN_MOTION_H, True),
    )


def _verified(
    query: np.ndarray,
    source: np.ndarray,
    shift: int,
    first: int,
    dm: np.ndarray,
    dp: np.ndarray,
    good: np.ndarray,
    a: int,
    b: int,
    tier: _Tier,
) -> SharedSpan | None:
    """The run ``[a, b)`` (indices into the aligned arrays) as a verified span, or None."""
    # A span starts and ends on a sample that passes on its own (the rolling mean lets up
    # to half a window of strangers in at each end), or on the video's edge.
    edge_ok = good & (dm <= MAX_MOTION_H) & (dp <= MAX_PICTURE_H)
    while a < b and not edge_ok[a] and first + a > 0:
        a += 1
    while b > a and not edge_ok[b - 1] and first + b < len(query):
        b -= 1
    ev = good[a:b]
    if int(ev.sum()) < tier.min_evidence or float(dm[a:b][ev].mean()) > tier.max_span_motion_h:
        return None
    qa, qb = first + a, first + b
    # One constant offset, judged on the evidence (still samples align anywhere).
    moving = np.flatnonzero(ev)
    ea, eb = qa + int(moving[0]), qa + int(moving[-1]) + 1
    third = max(ROLL, (eb - ea) // 3)
    near = range(shift - 2, shift + 3)
    if (
        _best_shift(query[ea : ea + third], source, _window(near, ea))[0] - ea != shift
        or _best_shift(query[eb - third : eb], source, _window(near, eb - third))[0] - (eb - third)
        != shift
    ):
        return None
    if tier.unique and not _aligns_uniquely(query[qa:qb], source, shift + qa):
        return None
    qa, qb = _extend_to_edges(query, source, shift, qa, qb, round(EDGE_S * SPAN_FPS))
    offset = _refine(query[qa:qb], source, shift + qa) - qa
    return SharedSpan(
        start_s=qa / SPAN_FPS,
        end_s=qb / SPAN_FPS,
        # 10 ms steps: finer than any frame, and the parabola is no more precise.
        offset_s=round(float(offset / SPAN_FPS), 2),
        motion_h=float(dm[a:b][ev].mean()),
        picture_h=float(dp[a:b].mean()),
    )


def uniqueness_margin(piece: np.ndarray, source: np.ndarray, at: int) -> tuple[float, int]:
    """How much worse (mean motion bits over ``piece``'s moving samples) the best other
    offset of ``piece`` in ``source`` aligns than ``source[at:]`` does, and how many other
    offsets there were: those more than ``UNIQUE_EXCLUDE`` samples from ``at`` where at
    least half of the piece's moving samples fall inside the source (so a whole short clip
    is compared with its own shifted halves: a loop or a repeated gesture shows there)."""
    moving = motion_half(piece) != STILL
    if not moving.any() or len(source) == 0:
        return -np.inf, 0
    m_source = motion_half(source)
    starts = np.arange(-len(piece) + 1, len(source))  # source index of piece[0]
    total = np.zeros(len(starts))
    count = np.zeros(len(starts))
    for row, code in zip(np.flatnonzero(moving), motion_half(piece)[moving], strict=True):
        j = starts + row
        inside = (j >= 0) & (j < len(source))
        column = m_source[j[inside]]
        d = hamming_many(np.full(len(column), code, dtype=np.uint64), column).astype(np.float64)
        d[column == STILL] = 32.0
        total[inside] += d
        count[inside] += 1
    here = at - int(starts[0])
    enough = count * 2 >= int(moving.sum())
    if not 0 <= here < len(starts) or not enough[here]:
        return -np.inf, 0
    means = total / np.maximum(count, 1)
    others = enough & (np.abs(starts - at) > UNIQUE_EXCLUDE)
    if not others.any():
        return -np.inf, 0
    return float(means[others].min() - means[here]), int(others.sum())


def _aligns_uniquely(piece: np.ndarray, source: np.ndarray, at: int) -> bool:
    margin, alternatives = uniqueness_margin(piece, source, at)
    return alternatives >= MIN_ALTERNATIVES and margin >= UNIQUE_MARGIN_H


def _rolling_evidence_mean(x: np.ndarray, evidence: np.ndarray, n: int) -> np.ndarray:
    """Per sample, the best 1 s window containing it: mean of ``x`` over its evidence
    samples, where at least half of the window is evidence (else inf)."""
    if len(x) < n:
        return np.full(len(x), np.inf)
    cx = np.concatenate([[0.0], np.cumsum(np.where(evidence, x, 0.0))])
    ce = np.concatenate([[0], np.cumsum(evidence.astype(np.int64))])
    count = ce[n:] - ce[:-n]
    means = np.where(count * 2 >= n, (cx[n:] - cx[:-n]) / np.maximum(count, 1), np.inf)
    out = np.full(len(x), np.inf)
    for k in range(n):
        out[k : k + len(means)] = np.minimum(out[k : k + len(means)], means)
    return out


#: How much better (mean motion bits) another shift must align than none before a whole
#: match counts as shifted. Measured: a 1 s shifted copy of the dog clip aligns at 0.83
#: against 16.7 at zero; re-encodes of a still traffic-camera segment score 32.0 (no
#: evidence) at every shift, which a strict minimum resolved to the first shift tried.
WHOLE_TIE_H = 1.0


def whole_offset_s(query: np.ndarray, source: np.ndarray) -> float | None:
    """The offset (s) at which two whole videos' span codes align best within +-SEARCH_S;
    None when either has none. A whole-video near match is served unshifted, so it must
    align at 0: the signature decision tolerates a second of trim either way, which a
    copy with other footage at one end and not the other passes while its sound would
    be out of sync by that second."""
    if not len(query) or not len(source):
        return None
    at_zero, _, _ = _distances(query, source, 0)
    if len(at_zero) >= ROLL and float(at_zero.mean()) <= WHOLE_TIE_H:
        return 0.0  # no shift can align better than none by more than the tie
    search = round(SEARCH_S * SPAN_FPS)
    shift, h = _best_shift(query, source, range(-search, search + 1))
    if h == np.inf:
        return None
    if len(at_zero) >= ROLL and float(at_zero.mean()) <= h + WHOLE_TIE_H:
        # No shift explains the pictures better than none: a still shot (no motion is
        # evidence, every shift scores alike) or a true copy. Ties must not pick a shift.
        return 0.0
    return shift / SPAN_FPS


def _window(shifts: range, at: int) -> range:
    """Shifts for a slice that starts at query index ``at`` (its index 0)."""
    return range(shifts.start + at, shifts.stop + at)


def _extend_to_edges(
    query: np.ndarray, source: np.ndarray, shift: int, qa: int, qb: int, edge: int
) -> tuple[int, int]:
    """Reach the new video's own first/last sample when the span stops within ``edge`` of it
    and the picture half agrees there sample by sample."""

    def agrees(i: int) -> bool:
        j = i + shift
        if j == len(source) and i == len(query) - 1:
            # The new video's last sample falls after the source's last one: both files
            # sample at 0.1 s from their own start, and the offset is not a whole number
            # of samples (a copy 1.03 s in lands its last sample 0.07 s after the source's).
            # The source's last sample stands for its frames up to its end; how far its
            # sound reaches is the plan's to clamp (``span_plan._to_the_end``).
            j -= 1
        if not 0 <= j < len(source):
            return False
        d = hamming_many(picture_half(query[i : i + 1]), picture_half(source[j : j + 1]))
        return int(d[0]) <= MAX_PICTURE_H

    if 0 < qa <= edge and all(agrees(i) for i in range(qa)):
        qa = 0
    if len(query) - edge <= qb < len(query) and all(agrees(i) for i in range(qb, len(query))):
        qb = len(query)
    return qa, qb
