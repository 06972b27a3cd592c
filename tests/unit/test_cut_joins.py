"""Two reused spans joined at the picture cut between them (``cache.cut_joins``), and the
context of a generated gap that begins with a cut: on synthetic span codes where every
sample's side is known, then in the composition."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from foleycache.cache.cut_joins import JOIN_MAX_S, MAX_HOLE_S, Side, gap_begins_at_cut
from foleycache.cache.entry import CacheEntry
from foleycache.cache.library import same_video
from foleycache.cache.span_index import Found
from foleycache.cache.span_plan import CUT_MARGIN_S, MARGIN_S, ReusedSpan, SpanPlan, plan_spans
from foleycache.core.keys import CacheKey
from foleycache.fingerprint import Fingerprint
from foleycache.fingerprint.record import UNKNOWN_LAG_MS, span_lags_ms
from foleycache.fingerprint.span_match import SharedSpan
from foleycache.fingerprint.spans import STILL
from foleycache.media.crossfade import equal_power_gains
from foleycache.pipeline.compose import compose

RATE = 48_000
CUT = 40  # the new video's first sample of the right footage (4.0 s)


def lags25(n: int) -> np.ndarray:
    """Frame lags of span samples at 25 fps: the first frame at or after k / 10 s."""
    t = np.arange(n) / 10
    out: np.ndarray = np.ceil(np.round(t / 0.04, 6)) * 0.04 - t
    return out


def footage(seed: int, n: int) -> np.ndarray:
    """Span codes of one shot: a picture that changes by a bit or two per sample, and a
    motion hash of its own per sample (another seed: another shot, ~16 bits away)."""
    rng = np.random.default_rng(seed)
    base = int(rng.integers(1, 2**31))
    pictures = np.array([base ^ (1 << (i % 3)) for i in range(n)], dtype=np.uint64)
    motions = rng.integers(1, 2**32, n, dtype=np.uint64)
    out: np.ndarray = (pictures << np.uint64(32)) | motions
    return out


def entry(name: str, duration_s: float) -> CacheEntry:
    key = CacheKey.for_request(name * 16, "rain", "foley-ref-1", 3)
    return CacheEntry(key, f"{name}.wav", duration_s, RATE, {}, 0)


class Cut:
    """The new video: samples 0-39 are A's 0-39, samples 40-79 are B's 20-59 (offset
    -2.0 s); the motion half of the two samples after the cut compares across it."""

    def __init__(self) -> None:
        self.a, self.b = footage(1, 60), footage(2, 60)
        self.query = np.concatenate([self.a[:CUT], self.b[20:60]])
        rng = np.random.default_rng(3)
        for k in (CUT, CUT + 1):
            self.query[k] = (self.query[k] >> np.uint64(32) << np.uint64(32)) | np.uint64(
                rng.integers(1, 2**32)
            )
        self.lags = lags25(80)
        self.a_entry, self.b_entry = entry("a", 6.0), entry("b", 6.0)

    def found(self) -> list[Found]:
        # As verification reports them: the right one starts after the two mixed samples.
        return [
            Found(self.a_entry, (SharedSpan(0.0, 4.0, 0.0, 1.0, 0.0),), self.a, lags25(60)),
            Found(self.b_entry, (SharedSpan(4.2, 8.0, -2.0, 1.0, 0.0),), self.b, lags25(60)),
        ]

    def plan(self, found: list[Found] | None = None, query: bool = True) -> SpanPlan:
        plan = plan_spans(
            8.0,
            self.found() if found is None else found,
            samples=len(self.query),
            query=self.query if query else None,
            lags_s=self.lags,
        )
        assert plan is not None
        return plan


def joined(plan: SpanPlan) -> tuple[float, float] | None:
    left, right = plan.reused
    return (right.start_s, left.end_s) if right.start_s < left.end_s else None


def test_spans_meeting_at_a_clean_cut_are_joined_there_without_the_gpu() -> None:
    cut = Cut()
    plan = cut.plan()
    assert plan.generate == () and plan.reuse_share == 1.0
    # The last left sample's frame starts at 3.92 s, the first right one's at 4.0 s: the
    # first right frame starts after the one and at the latest with the other.
    assert joined(plan) == pytest.approx((3.92, 4.0))
    assert [r.source for r in plan.reused] == [str(cut.a_entry.key), str(cut.b_entry.key)]
    # Without the new video's codes (a record from before), the gap is generated as ever.
    old = cut.plan(query=False)
    assert joined(old) is None and len(old.generate) == 1
    assert old.generate[0][0] < 4.0 < old.generate[0][1]


def test_a_sample_like_both_sides_or_still_leaves_the_cut_to_the_gpu() -> None:
    cut = Cut()
    cut.a[CUT] = cut.b[20]  # A's source shows B's picture there too: no telling apart
    assert joined(cut.plan()) is None
    cut = Cut()
    cut.query[CUT + 1] = cut.query[CUT + 1] >> np.uint64(32) << np.uint64(32) | np.uint64(STILL)
    assert joined(cut.plan()) is None
    cut = Cut()  # a sample like neither (a flash of other footage)
    cut.query[CUT + 1] = footage(9, 1)[0]
    assert joined(cut.plan()) is None


def test_a_source_that_cuts_under_the_crossfade_does_not_lend_it_but_another_may() -> None:
    cut = Cut()
    cut.a = np.concatenate([cut.a[:CUT], footage(7, 20)])  # stored with another end card
    plan = cut.plan()
    assert joined(plan) is None and len(plan.generate) == 1
    # Another stored video with A's footage past the cut (its own upload) lends instead.
    own = entry("c", 6.0)
    its = Found(own, (SharedSpan(0.0, 4.0, 0.0, 1.0, 0.0),), footage(1, 60), lags25(60))
    found = [*cut.found(), its]
    plan = cut.plan(found)
    assert joined(plan) is not None and plan.generate == ()
    assert plan.reused[0].source == str(own.key)


def test_sounds_that_end_and_start_at_the_cut_may_leave_a_frame_between() -> None:
    """Both pieces are a stored video's own last and first frames: the two sounds end and
    start at the cut, as far apart as the offsets' errors put them."""
    cut = Cut()
    b_own = cut.b[20:]  # B's upload starts with the frames that follow the cut here
    found = cut.found()
    found[1] = Found(cut.b_entry, (SharedSpan(4.2, 8.0, -4.0, 1.0, 0.0),), b_own, lags25(40))
    for a_end, joins in ((4.0 - MAX_HOLE_S + 0.01, True), (4.0 - MAX_HOLE_S - 0.01, False)):
        a_entry = dataclasses.replace(cut.a_entry, duration_s=a_end)
        a_own = cut.a[:CUT]
        found[0] = Found(a_entry, (SharedSpan(0.0, 4.0, 0.0, 1.0, 0.0),), a_own, lags25(40))
        fade = joined(cut.plan(found))
        assert (fade is not None) is joins, a_end
        # Each side is told apart there only by the other having no such moment: the
        # fade reaches from inside the one span to inside the other.
        assert fade is None or (fade[0] < 3.9 and fade[1] > 4.2)


def test_a_gap_longer_than_one_cut_is_not_joined() -> None:
    cut = Cut()
    found = cut.found()
    late = 4.2 + JOIN_MAX_S  # verification found the right footage only later
    found[1] = Found(cut.b_entry, (SharedSpan(late, 8.0, -2.0, 1.0, 0.0),), cut.b, lags25(60))
    assert joined(cut.plan(found)) is None


def test_spans_joined_at_a_cut_are_crossfaded_over_their_overlap_only() -> None:
    a = np.full(10 * RATE, 1000, dtype=np.int16)
    b = np.full(10 * RATE, -2000, dtype=np.int16)
    plan = SpanPlan(
        4.0, (ReusedSpan(0.0, 2.1, "a", "a", 0.0), ReusedSpan(2.0, 4.0, "b", "b", 1.0)), ()
    )
    out = compose(plan, {"a": a, "b": b}, None, 4 * RATE)
    lo, hi = 2 * RATE, round(2.1 * RATE)
    assert np.all(out[:lo] == 1000) and np.all(out[hi:] == -2000)
    fade_in, fade_out = equal_power_gains(hi - lo)
    assert np.array_equal(out[lo:hi], np.round(1000 * fade_out - 2000 * fade_in).astype(np.int16))
    # The right source's sound starts inside the fade (its offset puts its first sample
    # at 2.05 s): the left one still fades out over the whole fade, never at full level
    # past the fade's start.
    plan = SpanPlan(
        4.0, (ReusedSpan(0.0, 2.1, "a", "a", 0.0), ReusedSpan(2.0, 4.0, "b", "b", -2.05)), ()
    )
    out = compose(plan, {"a": a, "b": b}, None, 4 * RATE)
    alone = round(0.05 * RATE)
    assert np.array_equal(out[lo : lo + alone], np.round(1000 * fade_out[:alone]).astype(np.int16))
    assert np.all(out[hi:] == -2000)


def test_a_gap_that_begins_with_a_cut_gets_only_the_cuts_crossfade_as_context() -> None:
    a = footage(1, 60)
    # Other footage after the span: the new video jumps where A's footage stops.
    query = np.concatenate([a[:40], footage(4, 30)])
    span = ReusedSpan(0.0, 3.9, "a", "a.wav", 0.0)
    side = Side(a, 0.0, 6.0)
    assert gap_begins_at_cut(span, side, query, trailing=True)
    plan = plan_spans(
        7.0,
        [Found(entry("a", 6.0), (SharedSpan(0.0, 4.0, 0.0, 1, 0),), a)],
        samples=70,
        query=query,
    )
    assert plan is not None and plan.generate[0][0] == pytest.approx(3.9 - CUT_MARGIN_S)
    # The stored video ends but the shot goes on: no cut, the full margin of context.
    query = a[:60].copy()
    side = Side(a[:40], 0.0, 4.0)
    assert not gap_begins_at_cut(span, side, query, trailing=True)
    plan = plan_spans(
        6.0,
        [Found(entry("a", 4.0), (SharedSpan(0.0, 4.0, 0.0, 1, 0),), a[:40])],
        samples=60,
        query=query,
    )
    assert plan is not None and plan.generate[0][0] == pytest.approx(3.9 - MARGIN_S)
    # Before a span: other footage, then A's from its sample 10 on (the intro's case).
    query = np.concatenate([footage(4, 20), a[10:50]])
    span = ReusedSpan(2.1, 6.0, "a", "a.wav", -1.0)
    assert gap_begins_at_cut(span, Side(a, 1.0, 7.0), query, trailing=False)


def test_the_fade_follows_the_frames_and_reaches_over_one_sided_samples() -> None:
    # A held frame before the cut (a variable frame rate): the first right sample's frame
    # starts 70 ms after its instant, and the fade ends there.
    cut = Cut()
    cut.lags[CUT] = 0.07
    assert joined(cut.plan()) == pytest.approx((3.92, 4.07))
    # A record from before frame lags (of either video) joins nothing.
    cut = Cut()
    found = cut.found()
    found[0] = dataclasses.replace(found[0], lags_s=np.zeros(0))
    assert joined(cut.plan(found)) is None
    cut.lags = np.zeros(0)
    assert joined(cut.plan()) is None
    # The first right frame looks like the left footage at that moment (one scene), and
    # the right upload starts just after it: only the missing moment tells the sample
    # apart, which is not enough to place the cut; the fade reaches over it.
    cut = Cut()
    cut.query[CUT] = cut.a[CUT]
    found = cut.found()
    found[1] = Found(cut.b_entry, (SharedSpan(4.2, 8.0, -4.1, 1.0, 0.0),), cut.b[21:], lags25(39))
    fade = joined(cut.plan(found))
    assert fade is not None and fade[0] < 4.0 <= fade[1]


def test_a_sample_whose_frame_could_not_be_decoded_joins_nothing() -> None:
    """Its picture is an earlier frame's: where its frame starts is unknown."""
    for k in (CUT, CUT + 2):
        cut = Cut()
        cut.lags[k] = np.nan
        assert joined(cut.plan()) is None
    lags = np.array([0.02, np.nan, 0.0])
    record = Fingerprint(0, np.zeros(512, np.float32), np.zeros(0, np.uint64), 0.3, 9)
    record = dataclasses.replace(
        record, span_codes=np.ones(3, np.uint64), span_lags_ms=span_lags_ms(lags)
    )
    assert record.span_lags_ms[1] == UNKNOWN_LAG_MS
    back = Fingerprint.from_dict(record.to_dict()).span_lags_s
    assert back[0] == 0.02 and np.isnan(back[1]) and back[2] == 0.0


def test_a_record_from_before_frame_lags_is_still_the_same_video() -> None:
    record = Fingerprint(1, np.ones(512, np.float32) / np.sqrt(512), np.ones(2, np.uint64), 1.0, 25)
    new = dataclasses.replace(
        record, span_codes=np.ones(10, np.uint64), span_lags_ms=np.zeros(10, np.uint16)
    )
    old = new.to_dict()
    del old["span_lags_ms"]
    assert same_video(old, new.to_dict())
