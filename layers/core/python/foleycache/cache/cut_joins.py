"""Join two reused spans at the picture cut between them, without asking the GPU.

Why: at a cut of a re-cut upload (two segments swapped, the usual intro in front) both
sides are verified, and only the few samples around the cut are not: their motion half
carries the cut, and the plan guards span ends. The plan used to generate that gap with
margins and the model's shortest span (0.7-0.9 s of GPU per cut) although the sound on
each side of a cut is the stored sound of that side's frames, exactly what a sound
editor cuts on a picture cut.

What decides where the cut is: every span sample between the two spans' planned ends
must be told apart by its picture, as one side's frame and not the other's (picture
half within ``MAX_PICTURE_H`` of one source at its verified offset and beyond it from
the other's, or the other has no such moment), moving in both files, and, away from the
cut, with matching motion; the labels must switch once (left, then right). A still
sample, a sample like both or like neither (a dissolve, a flash of other footage, one
empty road joined to another) leaves the gap to the GPU as before.

Where the sound switches: the span sample at instant ``t`` holds the first frame shown at
or after ``t``, and the fingerprint records when that frame starts (``span_lags_ms``). So
with the last left sample's frame starting at ``p1`` and the first right one's at ``p2``,
the first frame after the cut starts in ``(p1, p2]``, whatever the frame rate (a held
frame, a variable rate). The two stored sounds are crossfaded over exactly that interval
(the equal-power gains of every join; about 0.1 s): outside it each frame has its own
side's sound. A sample told apart only because the other source has no such moment (an
intro's source starts at the cut) is one-sided evidence, which right after a cut can
mistake a frame of one scene for the other's (the plan's guard): the fade reaches over
such samples to the frame of the last sample surely left (told apart from the right
source, or inside the left span) and of the first surely right one. A record without
frame times joins no cut. Measurements:
docs/decisions/0003-span-reuse.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from foleycache.fingerprint.hashing import hamming_many
from foleycache.fingerprint.span_match import MAX_MOTION_H, MAX_PICTURE_H
from foleycache.fingerprint.spans import MOTION_LAG, SPAN_FPS, STILL, motion_half, picture_half

if TYPE_CHECKING:  # span_plan imports this module
    from foleycache.cache.span_plan import ReusedSpan

#: Longest stretch between two planned spans that a join may bridge: the gaps at the
#: replay's cuts are 0.2-0.42 s (guards included); longer is no longer "one cut".
JOIN_MAX_S = 0.6
#: Where the left source's sound ends and the right one's starts at the cut (both pieces
#: are a stored video's own first or last frames), the two offsets' errors (10 ms steps,
#: measured within 49 ms) can leave a few milliseconds between them: silent, as the end
#: of a track may be (``span_plan.END_SLACK_S``), up to one 25 fps frame.
MAX_HOLE_S = 0.04


@dataclass(frozen=True)
class Side:
    """One reused span's stored video, as the join needs it."""

    codes: np.ndarray  # its span codes
    sound_start_s: float  # where its sound starts and ends, in the new video's time
    sound_end_s: float
    #: per span sample, when its frame starts after the sample's instant (s); empty if
    #: the stored record predates them (the side then joins nothing)
    lags_s: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float64))


def join(
    left: ReusedSpan,
    right: ReusedSpan,
    query: np.ndarray,
    sides: tuple[Side, Side],
    lags_s: np.ndarray,
) -> tuple[ReusedSpan, ReusedSpan] | None:
    """``left`` and ``right`` overlapping by the crossfade at the cut between them, or
    None when the samples between them do not show a single clean cut. ``lags_s``: the
    new video's frame lags, one per span code."""
    if not (len(query) and len(lags_s) == len(query)) or not all(_known(x) for x in sides):
        return None
    if not 0.0 <= right.start_s - left.end_s <= JOIN_MAX_S:
        return None
    first = int(np.ceil(left.end_s * SPAN_FPS - 1e-6))
    stop = min(int(np.ceil(right.start_s * SPAN_FPS - 1e-6)), len(query))
    dists = [
        (_distances(k, query, left, sides[0]), _distances(k, query, right, sides[1]))
        for k in range(first, stop)
    ]
    labels = [_label(query[k : k + 1], d) for k, d in zip(range(first, stop), dists, strict=True)]
    sides_of = [label for label, _ in labels if label is not None]
    if not labels or len(sides_of) < len(labels):
        return None
    switch = sides_of.index(1) if 1 in sides_of else len(sides_of)
    if any(x != 0 for x in sides_of[:switch]) or any(x != 1 for x in sides_of[switch:]):
        return None
    last_left = first + switch - 1  # the last left sample (or the one before the gap)
    if not 0 <= last_left < len(query) - 1:
        return None
    if not _motion_agrees(dists, switch):
        return None
    # The fade runs from the frame of the last sample surely left (told apart from the
    # right source, or inside the left span) to that of the first surely right one.
    escaped = {first + i for i, (_, e) in enumerate(labels) if e}
    lo, hi = last_left, last_left + 1
    while lo in escaped:
        lo -= 1
    while hi in escaped:
        hi += 1
    # A sample whose frame is unknown holds an earlier frame's picture (one not decoded).
    known = np.isfinite(lags_s[max(0, first - 1) : stop + 1])
    if lo < 0 or hi >= len(query) or not np.all(known):
        return None
    fade = (lo / SPAN_FPS + float(lags_s[lo]), hi / SPAN_FPS + float(lags_s[hi]))
    (lside, rside) = sides
    if (
        not fade[0] < fade[1]
        or fade[0] <= left.start_s
        or fade[1] >= right.end_s
        # Each side's sound reaches the fade, and together they leave no hole in it but
        # where both sources end and start at the cut, within the offsets' precision.
        or lside.sound_end_s < fade[0]
        or rside.sound_start_s > fade[1]
        or lside.sound_end_s < rside.sound_start_s - MAX_HOLE_S
        # Under the fade, each side's sound is its own footage's: its source shows no cut
        # there (a stored upload with the same intro cuts where this one does).
        or not _continuous(lside, left, query, last_left, fade[1])
        or not _continuous(rside, right, query, last_left + 1, fade[0])
    ):
        return None
    return replace(left, end_s=fade[1]), replace(right, start_s=fade[0])


def _known(side: Side) -> bool:
    return bool(len(side.codes)) and len(side.lags_s) == len(side.codes)


def _continuous(
    side: Side, span: ReusedSpan, query: np.ndarray, anchor: int, until_s: float
) -> bool:
    """The stored video shows this side's footage from the moment of query sample
    ``anchor`` (this side's sample next to the cut) through ``until_s`` (the fade's far
    end, in the new video's time): its samples up to the first whose frame starts at or
    beyond it (left side), or back to the last whose frame starts at or before it (right
    side), where it has them. Samples at the moments of this side's query samples show
    the same picture; those past the cut, where the query shows the other side, show no
    picture jump (over ``MAX_PICTURE_H``) from their neighbour towards ``anchor`` (a
    stored upload with the same intro cuts where this one does)."""
    shift = span.offset_s * SPAN_FPS
    toward = -1 if until_s * SPAN_FPS > anchor else 1  # left side: onwards from the anchor
    j = round(anchor + shift)
    target = (until_s + span.offset_s) * SPAN_FPS  # in the stored video's samples
    while 0 <= j < len(side.codes):
        k = round(j - shift)
        if (k - anchor) * toward >= 0 and 0 <= k < len(query):
            other = query[k : k + 1]  # this side's own frame in the new video
        else:
            other = side.codes[max(0, j + toward) : j + toward + 1]  # its neighbour
        if len(other) and _picture_bits(side.codes[j : j + 1], other) > MAX_PICTURE_H:
            return False
        if not np.isfinite(side.lags_s[j]):
            return False  # its picture is an earlier frame's
        starts = j + float(side.lags_s[j]) * SPAN_FPS  # its frame, in samples
        if (starts >= target) if toward < 0 else (starts <= target):
            return True
        j -= toward
    return True


def _distances(k: int, query: np.ndarray, span: ReusedSpan, side: Side) -> tuple[int, int] | None:
    """(picture, motion) bits of query sample ``k`` against the stored moment it would be
    at ``span``'s offset (motion 99 when either is still), or None where there is none."""
    j = round(k + span.offset_s * SPAN_FPS)
    if not 0 <= j < len(side.codes):
        return None
    q, s = query[k : k + 1], side.codes[j : j + 1]
    picture = _picture_bits(q, s)
    still = int(motion_half(q)[0]) == STILL or int(motion_half(s)[0]) == STILL
    motion = 99 if still else int(hamming_many(motion_half(q), motion_half(s))[0])
    return picture, motion


def _picture_bits(a: np.ndarray, b: np.ndarray) -> int:
    """Hamming distance of the picture halves of two one-sample code arrays."""
    return int(hamming_many(picture_half(a), picture_half(b))[0])


Distances = tuple[tuple[int, int] | None, tuple[int, int] | None]  # (left, right)


def _label(sample: np.ndarray, d: Distances) -> tuple[int | None, bool]:
    """0 (a left frame), 1 (a right frame) or None (still, like both, like neither), and
    whether that rests on the other source having no moment there."""
    if int(motion_half(sample)[0]) == STILL:
        return None, False
    like = [x is not None and x[0] <= MAX_PICTURE_H for x in d]
    if like[0] == like[1]:
        return None, False
    side = 0 if like[0] else 1
    return side, d[1 - side] is None


def _motion_agrees(dists: list[Distances], switch: int) -> bool:
    """Left samples, and right samples ``MOTION_LAG`` after the cut (before that, the
    query's motion half compares frames across the cut), move as their side's do."""
    for i, (on_left, on_right) in enumerate(dists):
        if switch <= i < switch + MOTION_LAG:
            continue
        d = on_left if i < switch else on_right
        if d is None or d[1] > MAX_MOTION_H:
            return False
    return True


def gap_begins_at_cut(span: ReusedSpan, side: Side, query: np.ndarray, trailing: bool) -> bool:
    """Whether the new video cuts to other footage where the generated gap next to
    ``span`` (after it, or before it) begins: going away from the span, the samples show
    its stored footage, then one that neither does (picture beyond ``MAX_PICTURE_H`` at
    the span's offset) nor looks like the sample before it (a jump in the new video
    itself, not the stored video ending while the shot goes on), within ``JOIN_MAX_S``.
    Nothing is reused differently: only the generated context shrinks."""
    if not len(query) or not len(side.codes):
        return False
    step = 1 if trailing else -1
    edge = span.end_s if trailing else span.start_s
    k = int(np.ceil(edge * SPAN_FPS - 1e-6)) - (1 if trailing else 0)  # the span's sample
    for _ in range(round(JOIN_MAX_S * SPAN_FPS) + 1):
        if not (0 <= k < len(query) and 0 <= k + step < len(query)):
            return False
        here = _distances(k, query, span, side)
        if here is None or here[0] > MAX_PICTURE_H:
            return False
        there = _distances(k + step, query, span, side)
        if there is None or there[0] > MAX_PICTURE_H:
            return _picture_bits(query[k : k + 1], query[k + step : k + step + 1]) > MAX_PICTURE_H
        k += step
    return False
