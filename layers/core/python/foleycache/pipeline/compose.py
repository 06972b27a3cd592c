"""Compose a partial result: stored sound for the verified spans, generated sound for the rest.

Why here (called from ``finish_inference``, or from ``lookup`` when the spans cover the
whole video and nothing is generated): the composition needs the generated spans, which
exist only once the endpoint's notification arrives; doing it where a run is finished
keeps the lease, the pending-run record and the resumption of waiters exactly as for a
full run, and the entry it commits is a normal entry (whole-video reusable) whose
``extra["spans"]`` records where each second came from.

Reused spans are copied sample for sample (16-bit PCM, no resampling or gain); the
generated sound replaces them only inside the margins, where the two are joined by the
same equal-power crossfade the windows of one run use; two spans joined at a cut are
crossfaded the same way over their overlap.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from foleycache.cache import names
from foleycache.cache.entry import CacheEntry
from foleycache.cache.library import same_video
from foleycache.cache.near_match import alternate_of
from foleycache.cache.span_plan import SpanPlan
from foleycache.core.errors import InferenceFailed
from foleycache.core.job import CacheOutcome
from foleycache.core.keys import CacheKey
from foleycache.fingerprint import Fingerprint
from foleycache.media.crossfade import equal_power_gains
from foleycache.services import Services

SAMPLE_RATE = 48_000


def read_pcm(data: bytes) -> tuple[np.ndarray, int]:
    """Mono 16-bit PCM samples and their rate."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            if w.getnchannels() != 1 or w.getsampwidth() != 2:
                raise InferenceFailed("stored Foley audio is not mono 16-bit PCM")
            frames = w.readframes(w.getnframes())
            rate = w.getframerate()
    except (wave.Error, EOFError) as exc:
        raise InferenceFailed(f"stored Foley audio is not a WAV file: {exc}") from exc
    return np.frombuffer(frames, dtype="<i2").astype(np.int16), rate


def write_pcm(samples: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return buf.getvalue()


def compose(
    plan: SpanPlan, sources: dict[str, np.ndarray], generated: np.ndarray | None, total: int
) -> np.ndarray:
    """The new track (int16, ``total`` samples): reused spans copied (crossfaded where two
    overlap at a cut), generated spans laid over them with equal-power crossfades inside
    the margins."""
    out = np.zeros(total, dtype=np.float64)
    reused = np.zeros(total, dtype=bool)
    previous_end = 0
    for span in plan.reused:
        lo, hi = _samples(span.start_s, total), _samples(span.end_s, total)
        # Spans joined at a cut overlap by its crossfade (``cut_joins``): the earlier sound
        # fades out and this one in over the whole overlap, also where a source's sound
        # begins or ends inside it.
        fade = max(0, min(hi, previous_end) - lo)
        fade_in, fade_out = equal_power_gains(fade)
        out[lo : lo + fade] *= fade_out
        gain = np.concatenate([fade_in, np.ones(hi - lo - fade)])
        src = sources[span.source_audio]
        shift = round(span.offset_s * SAMPLE_RATE)
        a, b = max(lo, -shift), min(hi, len(src) - shift)
        if b > a:
            new = src[a + shift : b + shift] * gain[a - lo : b - lo]
            mixed = min(b, lo + fade)  # inside the fade, both sounds sum
            out[a:mixed] += new[: max(0, mixed - a)]
            out[max(a, mixed) : b] = new[max(0, mixed - a) :]
            reused[a:b] = True
        previous_end = hi
    if plan.generate:
        if generated is None or len(generated) < total:
            raise InferenceFailed("the generated spans are missing or shorter than the video")
        for start_s, end_s in plan.generate:
            lo, hi = _samples(start_s, total), _samples(end_s, total)
            gain = np.ones(hi - lo)
            left = _run_length(reused, lo, +1, hi)  # reused sound under the span's start
            right = _run_length(reused, hi - 1, -1, lo)
            if left:
                gain[:left] = equal_power_gains(left)[0]
            if right:
                gain[hi - lo - right :] = np.minimum(
                    gain[hi - lo - right :], equal_power_gains(right)[1]
                )
            old = out[lo:hi] * np.sqrt(np.clip(1.0 - gain**2, 0.0, 1.0))
            out[lo:hi] = old + generated[lo:hi].astype(np.float64) * gain
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def _samples(t: float, total: int) -> int:
    return min(total, max(0, round(t * SAMPLE_RATE)))


def _run_length(mask: np.ndarray, at: int, step: int, stop: int) -> int:
    """How many consecutive True from ``at`` towards ``stop``."""
    n, i = 0, at
    while (i < stop if step > 0 else i >= stop) and mask[i]:
        n += 1
        i += step
    return n


def compose_and_store(
    services: Services,
    key: CacheKey,
    plan: SpanPlan,
    fingerprint_data: dict[str, object],
    job_id: str,
    generated_key: str | None,
    base: CacheEntry | None = None,
    audio_key: str | None = None,
) -> CacheEntry:
    """Read the sources (and the generated spans), compose, write L2 audio (the key's, or
    ``audio_key``), commit the entry."""
    blobs = services.cache_blobs
    sources: dict[str, np.ndarray] = {}
    for span in plan.reused:
        if span.source_audio not in sources:
            data = blobs.get_bytes(span.source_audio)
            if data is None:
                raise InferenceFailed(f"reused sound {span.source_audio} is gone")
            sources[span.source_audio], _ = read_pcm(data)
    generated = None
    total = round(plan.duration_s * SAMPLE_RATE)
    if generated_key is not None:
        data = blobs.get_bytes(generated_key)
        if data is None:
            raise InferenceFailed(f"the generated spans {generated_key} are missing")
        generated, _ = read_pcm(data)
        total = len(generated)
    track = compose(plan, sources, generated, total)
    audio_key = audio_key or names.l2_audio(key)
    blobs.put_bytes(audio_key, write_pcm(track, SAMPLE_RATE), "audio/wav")
    provenance = {
        "spans": [
            {
                "start_s": round(r.start_s, 4),
                "end_s": round(r.end_s, 4),
                "source": r.source,
                "source_audio": r.source_audio,
                "source_offset_s": round(r.offset_s, 4),
            }
            for r in plan.reused
        ],
        "generated": [[round(a, 4), round(b, 4)] for a, b in plan.generate],
        "reuse_share": round(plan.reuse_share, 4),
    }
    entry = CacheEntry(
        key=key,
        audio_key=audio_key,
        duration_s=total / SAMPLE_RATE,
        sample_rate=SAMPLE_RATE,
        fingerprint_data=dict(fingerprint_data),
        created_at=services.clock.now(),
        source_job=job_id,
        backend=base.backend if base else "reused",
        extra={**(base.extra if base else {}), "composed": provenance},
    )
    if base is not None:
        entry = replace(entry, backend=base.backend)
    services.cache.store(entry)
    return entry


def index_entry(services: Services, key: CacheKey, fingerprint_data: dict[str, object]) -> None:
    """Make a new entry findable: its fingerprint into the library first (every index
    member must have one to be verified against), then the whole-video near index and
    the span index (both the library's, shared by every model version)."""
    record_in_library(services, key, fingerprint_data)
    if (near := services.near) is not None:
        near.add(key, alternate_of(fingerprint_data))
    if (spans := services.spans) is not None and fingerprint_data:
        fingerprint = Fingerprint.from_dict(dict(fingerprint_data))
        if len(fingerprint.span_codes):
            spans.add(key, fingerprint)


def record_in_library(
    services: Services, key: CacheKey, fingerprint_data: Mapping[str, object]
) -> None:
    """The library's record for the key, unless it already describes this video (another
    upload of it): a record that stays put keeps the exact-bytes records naming it valid
    (``ExactRecord.library_digest``). Another video's record is replaced: the key is this
    video's now (every slot of the code was taken)."""
    if not fingerprint_data:
        return
    known = services.library.get(key)
    if known is None or not same_video(known, fingerprint_data):
        services.library.put(key, dict(fingerprint_data))


def record_partial(services: Services, job_id: str, plan: SpanPlan) -> None:
    """The job says ``cache: partial`` and the share of seconds reused."""
    job = services.jobs.get(job_id)
    details = dict(job.details) if job else {}
    details["reuse_share"] = round(plan.reuse_share, 4)
    details["reused_s"] = round(plan.duration_s - plan.generated_s, 3)
    details["generated_s"] = round(plan.generated_s, 3)
    details["reused_from"] = sorted({r.source for r in plan.reused})
    services.jobs.update(job_id, cache=CacheOutcome.PARTIAL, details=details)
