"""Reuse across cuts, in memory: the lookup order, the span index, the plan, the
composition, and the partial run through start/finish of the async flow."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np
import pytest

from foleycache.cache import names
from foleycache.cache.entry import CacheEntry
from foleycache.cache.span_index import BLOCKS, MAX_QUERY_WINDOWS, MAX_VERIFIED, ranked
from foleycache.cache.span_plan import (
    CUT_MARGIN_S,
    GUARD_S,
    MARGIN_S,
    MIN_GENERATE_S,
    SpanPlan,
    plan_spans,
)
from foleycache.core.job import JobRecord, JobStatus
from foleycache.core.keys import CacheKey
from foleycache.core.lease import Lease
from foleycache.core.ports import InferenceResult
from foleycache.fingerprint import Fingerprint
from foleycache.fingerprint.span_match import (
    MIN_ALTERNATIVES,
    MIN_SPAN_S,
    SHORT_SPAN_S,
    UNIQUE_MARGIN_H,
    shared_spans,
    uniqueness_margin,
)
from foleycache.fingerprint.spans import SPAN_FPS
from foleycache.pipeline import resolve
from foleycache.pipeline.compose import compose, read_pcm, write_pcm
from foleycache.pipeline.generate import finish_inference, inference_id, start_inference
from foleycache.pipeline.state import PipelineState
from foleycache.services import Services
from tests.fakes import CountingMetrics, MemoryNearIndex, fake_services

MODEL = "foley-ref-1"
PROMPT = "rain"
RATE = 48_000
RNG = np.random.default_rng(7)


def fingerprint(span_codes: np.ndarray, seed: int) -> Fingerprint:
    rng = np.random.default_rng(seed)
    vector = rng.standard_normal(512).astype(np.float32)
    vector /= np.linalg.norm(vector)
    seconds = len(span_codes) / SPAN_FPS
    return Fingerprint(
        code=int(rng.integers(0, 2**63)),
        vector=vector,
        frame_signatures=rng.integers(0, 2**63, size=max(1, int(seconds * 2)), dtype=np.uint64),
        duration_s=seconds,
        frames=int(seconds * 25),
        span_codes=span_codes,
    )


def codes(n: int) -> np.ndarray:
    return RNG.integers(1, 2**63, size=n, dtype=np.uint64)


class Recording(MemoryNearIndex):
    def __init__(self) -> None:
        super().__init__()
        self.read_buckets: list[str] = []

    def members(self, scope: str, buckets: list[str]) -> set[str]:
        self.read_buckets += buckets
        return super().members(scope, buckets)


def services_with_index() -> Services:
    return fake_services(
        hot_index=Recording(), durable_index=Recording(), metrics=CountingMetrics()
    )


def store(services: Services, fp: Fingerprint, audio: np.ndarray) -> CacheKey:
    key = CacheKey.for_request(fp.hex, PROMPT, MODEL, fp.version)
    services.cache_blobs.put_bytes(names.l2_audio(key), write_pcm(audio, RATE))
    services.cache.store(
        CacheEntry(key, names.l2_audio(key), fp.duration_s, RATE, fp.to_dict(), 0.0)
    )
    assert services.spans is not None and services.near is not None
    services.spans.add(key, fp)
    services.near.add(key)
    return key


def query_state(services: Services, fp: Fingerprint, job_id: str = "job-00000001") -> PipelineState:
    services.jobs.create(JobRecord(job_id, JobStatus.RUNNING, PROMPT, 0.0, 0.0))
    key = CacheKey.for_request(fp.hex, PROMPT, MODEL, fp.version)
    return PipelineState(
        job_id=job_id,
        bucket="foleycache-uploads",
        key=f"uploads/{job_id}.mp4",
        fingerprint=fp.hex,
        fingerprint_version=fp.version,
        prompt_md5=key.prompt_md5,
        model_version=MODEL,
        duration_s=fp.duration_s,
        fingerprint_data=fp.to_dict(),
    )


def span_reads(services: Services) -> int:
    return sum(
        1
        for index in (services.hot_index, services.durable_index)
        for b in index.inner.read_buckets  # type: ignore[union-attr]
        if b.startswith("span-")
    )


def test_a_whole_hit_never_pays_for_the_span_search() -> None:
    services = services_with_index()
    stored = fingerprint(codes(200), 1)
    store(services, stored, RNG.integers(-9000, 9000, 20 * RATE).astype(np.int16))
    # exact key hit
    out = resolve.lookup(services, query_state(services, stored))
    assert out.cache == "l1" and span_reads(services) == 0
    # whole-video near hit: same pictures, another code (one bit away)
    near = dataclasses.replace(stored, code=stored.code ^ 1)
    out = resolve.lookup(services, query_state(services, near, "job-00000002"))
    assert out.cache == "near"
    assert span_reads(services) == 0
    # a miss pays the span search: a fixed number of bucket reads per store
    other = fingerprint(codes(200), 3)
    out = resolve.lookup(services, query_state(services, other, "job-00000003"))
    assert out.next == "lease" and out.span_plan == {}
    reads = span_reads(services)
    assert 0 < reads <= 2 * BLOCKS * MAX_QUERY_WINDOWS


def test_span_search_reads_the_same_buckets_however_many_videos_are_stored() -> None:
    counts = []
    query = fingerprint(codes(300), 5)
    for stored_videos in (1, 40):
        services = services_with_index()
        for i in range(stored_videos):
            store(services, fingerprint(codes(100), 100 + i), np.zeros(10 * RATE, np.int16))
        resolve.lookup(services, query_state(services, query))
        counts.append(span_reads(services))
    assert counts[0] == counts[1]


def test_a_trimmed_copy_is_composed_from_stored_sound_without_the_gpu() -> None:
    services = services_with_index()
    source_codes = codes(200)
    audio = RNG.integers(-9000, 9000, 20 * RATE).astype(np.int16)
    source_key = store(services, fingerprint(source_codes, 1), audio)
    trimmed = fingerprint(source_codes[53:153].copy(), 2)  # 5.3 s in, 10 s long
    out = resolve.lookup(services, query_state(services, trimmed))
    assert out.cache == "partial" and out.next == "mux"
    entry = services.cache.get_l2(out.entry_key())
    assert entry is not None
    composed = entry.extra["composed"]
    assert composed["generated"] == [] and composed["reuse_share"] == 1.0
    assert composed["spans"][0]["source"] == str(source_key)
    assert composed["spans"][0]["source_offset_s"] == pytest.approx(5.3, abs=1e-3)
    data = services.cache_blobs.get_bytes(entry.audio_key)
    assert data is not None
    new, _ = read_pcm(data)
    assert np.array_equal(new, audio[round(5.3 * RATE) : round(15.3 * RATE)])
    job = services.jobs.get("job-00000001")
    assert job is not None and job.cache == "partial" and job.details["reuse_share"] == 1.0
    # Composed without the lease, into the job's own object: a run that holds the key's
    # lease (another video, same code) and commits meanwhile never changes this sound.
    assert out.audio_key == entry.audio_key
    assert out.audio_key == names.l2_composed_audio(out.entry_key(), "job-00000001")
    services.cache_blobs.put_bytes(names.l2_audio(out.entry_key()), b"another run's sound")
    assert services.cache_blobs.get_bytes(out.audio_key) == data


def test_different_videos_and_other_stretches_of_one_video_lend_nothing() -> None:
    services = services_with_index()
    source_codes = codes(300)
    store(services, fingerprint(source_codes, 1), np.zeros(30 * RATE, np.int16))
    stranger = fingerprint(codes(150), 9)
    assert resolve.lookup(services, query_state(services, stranger)).span_plan == {}
    # A different stretch whose codes *look* like the stored one's at a wrong offset on
    # the picture half only (a static camera): the motion half differs, so no span.
    picture = source_codes[:150] & np.uint64(0xFFFF_FFFF_0000_0000)
    motion = codes(150) & np.uint64(0xFFFF_FFFF)
    static = fingerprint(picture | motion, 10)
    assert resolve.lookup(services, query_state(services, static, "job-00000002")).span_plan == {}


def test_an_entry_that_is_another_video_than_its_library_record_is_never_lent() -> None:
    # Video X's sound under the key; then video A, with the same 64-bit code, committed
    # under another model version replaced the library's record (a key collision).
    services = services_with_index()
    x = fingerprint(codes(200), 1)
    store(services, x, RNG.integers(-9000, 9000, 20 * RATE).astype(np.int16))
    a_codes = codes(200)
    a = dataclasses.replace(fingerprint(a_codes, 2), code=x.code)
    key = CacheKey.for_request(x.hex, PROMPT, MODEL, x.version)
    assert services.library is not None
    services.library.put(key, a.to_dict())
    assert services.spans is not None
    services.spans.add(key, a)  # A's windows, posted when A was committed
    # A trimmed copy of A verifies spans against A's record, but the sound is X's.
    trimmed = fingerprint(a_codes[50:150].copy(), 3)
    out = resolve.lookup(services, query_state(services, trimmed))
    assert out.span_plan == {} and out.cache is None
    # A near copy of A (same pictures, one bit away) is not served X's sound either.
    near = dataclasses.replace(a, code=a.code ^ 1)
    out = resolve.lookup(services, query_state(services, near, "job-00000002"))
    assert out.cache != "near" and out.audio_key == ""
    assert services.metrics.counts.get("KeyCollisionRejected", 0) >= 2  # type: ignore[attr-defined]


def test_spans_shorter_than_the_minimum_are_not_reused() -> None:
    source_codes = codes(200)
    short = round((SHORT_SPAN_S - 0.3) * SPAN_FPS)
    query = np.concatenate([codes(40), source_codes[100 : 100 + short], codes(40)])
    assert shared_spans(query, source_codes, 100 - 40) == []
    enough = round((MIN_SPAN_S + 1) * SPAN_FPS)
    query = np.concatenate([codes(40), source_codes[100 : 100 + enough], codes(40)])
    (span,) = shared_spans(query, source_codes, 100 - 40)
    assert span.offset_s == pytest.approx(6.0, abs=0.011)
    assert 4.0 <= span.start_s <= 4.2 and 4.0 + MIN_SPAN_S + 0.8 <= span.end_s <= 8.0


def test_a_last_sample_that_falls_after_the_sources_last_is_held_by_its_last_picture() -> None:
    """Both files sample every 0.1 s from their own start: a copy whose offset is not a
    whole number of samples can end with a sample one past the source's last one."""
    source_codes = codes(150)
    picture = np.uint64(0xFFFF_FFFF_0000_0000)
    same_picture = (source_codes[-1] & picture) | np.uint64(0x1234_5678)
    other_picture = (~source_codes[-1] & picture) | np.uint64(0x1234_5678)
    for last, end_s in ((same_picture, 9.1), (other_picture, 9.0)):
        query = np.concatenate([codes(40), source_codes[100:], [last]]).astype(np.uint64)
        (span,) = shared_spans(query, source_codes, 100 - 40)
        assert span.end_s == pytest.approx(end_s)


def test_the_source_of_an_intro_is_verified_beside_the_main_clip_and_its_copies() -> None:
    from collections import Counter

    main = {f"main{i}": Counter({-20: 30 - i}) for i in range(MAX_VERIFIED)}
    windows = {fp: set(range(20, 80, 5)) for fp in main}
    votes = {**main, "intro": Counter({5: 2})}
    windows["intro"] = {0, 5}
    picked = ranked(votes, windows)
    assert len(picked) == MAX_VERIFIED
    assert picked[:2] == ["main0", "intro"]  # then the best-voted of the rest
    assert picked[2] == "main1"
    # Without windows of its own, a candidate is ranked by its votes alone.
    windows["intro"] = {20, 25}
    assert ranked(votes, windows) == [f"main{i}" for i in range(MAX_VERIFIED)]


def test_a_short_span_is_reused_only_where_it_aligns_uniquely_in_the_source() -> None:
    n = round((SHORT_SPAN_S + 0.7) * SPAN_FPS)  # 2.2 s: short tier
    assert SHORT_SPAN_S * SPAN_FPS <= n < MIN_SPAN_S * SPAN_FPS
    source_codes = codes(200)
    query = np.concatenate([codes(40), source_codes[100 : 100 + n], codes(40)])
    (span,) = shared_spans(query, source_codes, 100 - 40)
    assert span.offset_s == pytest.approx(6.0, abs=0.011)
    assert 4.0 <= span.start_s <= 4.2 and 4.0 + n / SPAN_FPS - 0.2 <= span.end_s <= 6.4
    margin, alternatives = uniqueness_margin(query[40 : 40 + n], source_codes, 100)
    assert margin >= UNIQUE_MARGIN_H and alternatives >= MIN_ALTERNATIVES
    # The same moments twice in the source (a loop, a pour that repeats): the piece aligns
    # as well 5 s later, so neither offset is proof and nothing is reused.
    looped = source_codes.copy()
    looped[150 : 150 + n] = source_codes[100 : 100 + n]
    assert shared_spans(query, looped, 100 - 40) == []
    assert shared_spans(query, looped, 150 - 40) == []
    assert uniqueness_margin(query[40 : 40 + n], looped, 100)[0] < UNIQUE_MARGIN_H
    # A long span needs no such proof: its evidence alone outlasts every measured stranger.
    long = round((MIN_SPAN_S + 0.5) * SPAN_FPS)
    looped[150 : 150 + long] = source_codes[100 : 100 + long]
    query = np.concatenate([codes(40), source_codes[100 : 100 + long], codes(40)])
    assert [round(s.offset_s) for s in shared_spans(query, looped, 100 - 40)] == [6]


def test_a_speed_change_is_not_one_constant_offset() -> None:
    source_codes = codes(300)
    faster = source_codes[np.round(np.arange(0, 250, 1.1)).astype(int)]  # 10 % faster
    spans = shared_spans(faster, source_codes, 0)
    assert all(s.duration_s < 2 * MIN_SPAN_S for s in spans)


def test_composition_copies_reused_spans_and_crossfades_inside_the_margins() -> None:
    source = RNG.integers(-9000, 9000, 10 * RATE).astype(np.int16)
    generated = np.full(8 * RATE, 1000, dtype=np.int16)
    plan = SpanPlan.from_dict(
        {
            "duration_s": 8.0,
            "reused": [
                {"start_s": 2.0, "end_s": 8.0, "source": "k", "source_audio": "a", "offset_s": 1.0}
            ],
            "generate": [[0.0, 2.0 + MARGIN_S]],
        }
    )
    out = compose(plan, {"a": source}, generated, 8 * RATE)
    m = round(MARGIN_S * RATE)
    assert np.array_equal(out[: 2 * RATE], generated[: 2 * RATE])
    assert np.array_equal(out[2 * RATE + m :], source[3 * RATE + m : 9 * RATE])
    fade = out[2 * RATE : 2 * RATE + m].astype(np.float64)
    mid = m // 2  # equal power: both at cos(pi/4) in the middle of the crossfade
    expected = 0.7071 * source[3 * RATE + mid] + 0.7071 * 1000
    assert fade[mid] == pytest.approx(expected, abs=30)


def test_a_reused_span_past_its_sources_end_is_silent_there_and_copied_up_to_it() -> None:
    source = RNG.integers(-9000, 9000, 4 * RATE).astype(np.int16)
    plan = SpanPlan.from_dict(
        {
            "duration_s": 3.03,
            "reused": [
                {"start_s": 0.0, "end_s": 3.03, "source": "k", "source_audio": "a", "offset_s": 1.0}
            ],
            "generate": [],
        }
    )
    total = round(3.03 * RATE)
    out = compose(plan, {"a": source}, None, total)
    assert len(out) == total
    assert np.array_equal(out[: 3 * RATE], source[RATE:])
    assert not out[3 * RATE :].any()


def test_plan_generates_gaps_with_margins_and_keeps_the_longest_spans() -> None:
    from foleycache.cache.span_index import Found
    from foleycache.fingerprint.span_match import SharedSpan

    entry = CacheEntry(CacheKey.for_request("00" * 8, PROMPT, MODEL, 3), "a.wav", 20, RATE, {}, 0)
    found = [
        Found(entry, (SharedSpan(2.0, 9.0, 1.0, 1.0, 0.0), SharedSpan(9.3, 15.0, -5.0, 1.0, 0.0)))
    ]
    plan = plan_spans(16.0, found)
    assert plan is not None
    g = GUARD_S  # a span's ends inside the video are pulled back before planning
    ends = [x for r in plan.reused for x in (r.start_s, r.end_s)]
    assert ends == pytest.approx([2.0 + g, 9.0 - g, 9.3 + g, 15.0 - g])
    flat = [x for span in plan.generate for x in span]
    m = MARGIN_S
    assert flat == pytest.approx([0.0, 2 + g + m, 9 - g - m, 9.3 + g + m, 15 - g - m, 16.0])
    assert plan.reuse_share == pytest.approx(1 - plan.generated_s / 16.0)


def test_a_gap_shorter_than_the_model_generates_is_widened_into_the_reused_sound() -> None:
    from foleycache.cache.span_index import Found
    from foleycache.fingerprint.span_match import SharedSpan

    entry = CacheEntry(CacheKey.for_request("00" * 8, PROMPT, MODEL, 3), "a.wav", 20, RATE, {}, 0)
    # A trim that leaves 0.1 s uncovered at the start: 0.1 s + margin is under the minimum.
    plan = plan_spans(8.0, [Found(entry, (SharedSpan(0.1, 8.0, 1.0, 1.0, 0.0),))])
    assert plan is not None
    assert MIN_GENERATE_S > 0.1 + GUARD_S + MARGIN_S
    assert [x for g in plan.generate for x in g] == pytest.approx([0.0, MIN_GENERATE_S])
    # Near the other end the span grows away from the edge instead; two short gaps that
    # come to overlap are one span.
    plan = plan_spans(
        8.0,
        [Found(entry, (SharedSpan(0.0, 4.0, 1.0, 1.0, 0.0), SharedSpan(4.0, 7.9, 2.0, 1.0, 0.0)))],
    )
    assert plan is not None
    assert all(b - a >= MIN_GENERATE_S - 1e-9 for a, b in plan.generate)
    assert list(plan.generate[-1]) == pytest.approx([8.0 - MIN_GENERATE_S, 8.0])
    assert all(b0 < a1 for (_, b0), (a1, _) in itertools.pairwise(plan.generate))


def test_a_widened_end_span_still_satisfies_the_model_at_the_servers_exact_duration() -> None:
    from foley_server.config import HUNYUAN_MIN_WINDOW_S
    from foleycache.cache.span_index import Found
    from foleycache.fingerprint.span_match import SharedSpan

    entry = CacheEntry(CacheKey.for_request("00" * 8, PROMPT, MODEL, 3), "a.wav", 20, RATE, {}, 0)
    # 302 frames at 29.97 fps last 10.07673 s; the pipeline's duration is 10.077 s.
    plan = plan_spans(10.077, [Found(entry, (SharedSpan(0.0, 9.9, 1.0, 1.0, 0.0),))])
    assert plan is not None
    start, _ = plan.generate[-1]
    assert 10.07673 - start >= HUNYUAN_MIN_WINDOW_S


def test_a_span_holding_the_last_sample_runs_to_the_videos_end_as_far_as_the_source_lasts() -> None:
    from foleycache.cache.span_index import Found
    from foleycache.fingerprint.span_match import SharedSpan

    def entry(duration_s: float) -> CacheEntry:
        key = CacheKey.for_request("00" * 8, PROMPT, MODEL, 3)
        return CacheEntry(key, "a.wav", duration_s, RATE, {}, 0)

    # 12.5 fps: the last frame (22.56 s) is after the last sample (22.5 s), shown to 22.64 s.
    span = SharedSpan(0.0, 22.6, 6.0, 1.0, 0.0)
    plan = plan_spans(22.64, [Found(entry(30.16), (span,))], samples=226)
    assert plan is not None and plan.generate == () and plan.reused[0].end_s == 22.64
    # Without the sample count the uncovered 0.04 s is generated (the model's shortest).
    plan = plan_spans(22.64, [Found(entry(30.16), (span,))])
    assert plan is not None and [x for g in plan.generate for x in g] == pytest.approx(
        [22.64 - MIN_GENERATE_S, 22.64]
    )
    # The source's sound ends at 28.5 s: 22.5 s of the new video, no further.
    plan = plan_spans(22.64, [Found(entry(28.5), (span,))], samples=226)
    assert plan is not None and plan.generate
    assert plan.reused[0].end_s == pytest.approx(22.5 - GUARD_S)
    # Sound that ends within a frame of the video's end (the files round their last
    # frame's period differently) still runs to it: nothing is generated for 30 ms.
    plan = plan_spans(22.64, [Found(entry(28.61), (span,))], samples=226)
    assert plan is not None and plan.generate == () and plan.reused[0].end_s == 22.64
    # A span that stops before the last sample keeps its end.
    short = SharedSpan(0.0, 22.4, 6.0, 1.0, 0.0)
    plan = plan_spans(22.64, [Found(entry(30.16), (short,))], samples=226)
    assert plan is not None and plan.reused[0].end_s == pytest.approx(22.4 - GUARD_S)


class SpanEndpoint:
    """Writes a WAV of the clip's length with 1000 inside the asked spans, 0 elsewhere."""

    def __init__(self, blobs: Any) -> None:
        self.blobs = blobs
        self.started: list[Any] = []

    def start(self, request: Any) -> None:
        self.started.append(request)
        total = round(request.duration_s * RATE)
        samples = np.zeros(total, np.int16)
        for a, b in request.spans:
            samples[round(a * RATE) : round(b * RATE)] = 1000
        self.blobs.put_bytes(request.output_uri.split("/", 3)[3], write_pcm(samples, RATE))
        self.result = InferenceResult(request.output_uri, MODEL, RATE, request.duration_s, "t", 1.0)

    def notice_from(self, message: dict[str, Any]) -> Any:
        from foleycache.core.ports import InferenceNotice

        return InferenceNotice(message["inferenceId"], True)

    def read_result(self, notice: Any) -> Any:
        return self.result


def test_a_partial_run_asks_only_for_the_uncovered_spans_and_is_finished_by_the_notice() -> None:
    services = services_with_index()
    endpoint = SpanEndpoint(services.cache_blobs)
    services = dataclasses.replace(services, inference=endpoint)
    source_codes = codes(200)
    audio = RNG.integers(-9000, 9000, 20 * RATE).astype(np.int16)
    store(services, fingerprint(source_codes, 1), audio)
    extended = fingerprint(np.concatenate([codes(30), source_codes]), 2)  # 3 s prepended
    state = resolve.lookup(services, query_state(services, extended))
    assert state.next == "lease" and state.span_plan
    plan = SpanPlan.from_dict(state.span_plan)
    # Other footage before the cut: the context reaches only over the cut's crossfade.
    edge = 3.0 + GUARD_S + CUT_MARGIN_S
    assert [x for span in plan.generate for x in span] == pytest.approx([0.0, edge])
    lease = Lease(
        services.leases, names.lease_item(state.entry_key()), duration_s=60, clock=services.clock
    )
    assert lease.try_acquire() is None
    state = state.model_copy(update={"next": "infer", "lease_token": lease.token})
    start_inference(services, state, "token-1")
    (request,) = endpoint.started
    assert [x for span in request.spans for x in span] == pytest.approx([0.0, edge])
    assert request.output_uri.endswith(names.generated_audio(inference_id(state.entry_key())))
    finish_inference(services, {"inferenceId": inference_id(state.entry_key())})
    token, resumed = services.workflow.resumed[-1]  # type: ignore[attr-defined]
    assert token == "token-1" and resumed["cache"] == "partial" and resumed["next"] == "mux"
    entry = services.cache.get_l2(state.entry_key())
    assert entry is not None and entry.extra["composed"]["generated"] == [[0.0, round(edge, 4)]]
    data = services.cache_blobs.get_bytes(entry.audio_key)
    assert data is not None
    new, _ = read_pcm(data)
    assert np.all(new[: round((3.0 + GUARD_S) * RATE)] == 1000)
    assert np.array_equal(new[round(edge * RATE) :], audio[round((edge - 3) * RATE) : 20 * RATE])
    job = services.jobs.get("job-00000001")
    assert job is not None and job.cache == "partial"
    assert job.details["reuse_share"] == pytest.approx(1 - edge / 23.0, abs=1e-3)


def test_a_whole_video_near_match_shifted_in_time_is_not_served_whole() -> None:
    """Same pictures one second later (other footage at one end, a trim at the other):
    the signature decision tolerates the shift, the unshifted sound would be out of sync."""
    services = services_with_index()
    source_codes = codes(200)
    stored = fingerprint(source_codes, 1)
    store(services, stored, RNG.integers(-9000, 9000, 20 * RATE).astype(np.int16))
    shifted = dataclasses.replace(
        stored, code=stored.code ^ 1, span_codes=np.concatenate([codes(10), source_codes[:190]])
    )
    out = resolve.lookup(services, query_state(services, shifted))
    assert out.cache != "near"
    assert services.metrics.counts.get("NearShiftedRejected") == 1  # type: ignore[attr-defined]


def test_a_still_shot_near_match_is_served_whole_not_taken_for_shifted() -> None:
    """A still camera's samples carry no motion evidence, so every shift aligns alike; a
    tie must read as "not shifted" (the signature decision has verified the copy), not as
    the first shift tried, which refused re-encodes of a still traffic camera."""
    services = services_with_index()
    still = (codes(200) >> np.uint64(32)) << np.uint64(32)  # picture half only: motion STILL
    stored = fingerprint(still, 1)
    store(services, stored, RNG.integers(-9000, 9000, 20 * RATE).astype(np.int16))
    copy = dataclasses.replace(stored, code=stored.code ^ 1)
    out = resolve.lookup(services, query_state(services, copy))
    assert out.cache == "near"
    assert "NearShiftedRejected" not in services.metrics.counts  # type: ignore[attr-defined]


def test_a_span_source_is_verified_on_the_library_and_lends_only_this_versions_sound() -> None:
    """The span index is the library's (every model version finds the same videos); the
    sound lent must be the lookup's model version's, never another version's."""
    services = services_with_index()
    source = fingerprint(codes(200), 1)
    old_key = CacheKey.for_request(source.hex, PROMPT, "foley-ref-0", source.version)
    services.cache_blobs.put_bytes(names.l2_audio(old_key), write_pcm(np.ones(20 * RATE), RATE))
    services.cache.store(
        CacheEntry(old_key, names.l2_audio(old_key), 20.0, RATE, source.to_dict(), 0.0)
    )
    services.library.put(old_key, source.to_dict())
    assert services.spans is not None
    services.spans.add(old_key, source)
    trimmed = fingerprint(source.span_codes[40:160].copy(), 2)
    out = resolve.lookup(services, query_state(services, trimmed))
    assert out.next == "lease" and out.span_plan == {} and out.cache is None
    assert services.metrics.counts.get("SpanCandidates", 0) >= 1  # type: ignore[attr-defined]
    # This version's sound appears; its entry carries no fingerprint, the library's verifies.
    new_key = CacheKey.for_request(source.hex, PROMPT, MODEL, source.version)
    audio = RNG.integers(-9000, 9000, 20 * RATE).astype(np.int16)
    services.cache_blobs.put_bytes(names.l2_audio(new_key), write_pcm(audio, RATE))
    services.cache.store(CacheEntry(new_key, names.l2_audio(new_key), 20.0, RATE, {}, 0.0))
    out = resolve.lookup(services, query_state(services, trimmed, "job-00000002"))
    assert out.cache == "partial"
    entry = services.cache.get_l2(out.entry_key())
    assert entry is not None and entry.extra["composed"]["spans"][0]["source"] == str(new_key)
    data = services.cache_blobs.get_bytes(entry.audio_key)
    assert data is not None
    assert np.array_equal(read_pcm(data)[0], audio[4 * RATE : 16 * RATE])
    # The new entry is in the library, so its own copies verify against it too.
    assert services.library.get(out.entry_key()) == trimmed.to_dict()
