"""Lookup serves an exact-key entry only after verifying it is the same video."""

from __future__ import annotations

from typing import Any

import pytest

from foleycache.cache import names
from foleycache.cache.entry import CacheEntry
from foleycache.core.job import JobRecord, JobStatus
from foleycache.core.keys import CacheKey, slot_fingerprints
from foleycache.core.lease import Lease
from foleycache.fingerprint import MatchDecision
from foleycache.pipeline import resolve
from foleycache.pipeline.state import PipelineState
from foleycache.services import Services
from tests.fakes import fake_services

KEY = CacheKey.for_request("0123456789abcdef", "rain", "foley-ref-1", 1)


class Stub(str):
    """A fingerprint that is its ``video`` text: ``decide`` below compares those."""

    span_codes = ()  # no time-local codes: the whole-video shift check has nothing to say

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Stub:
        return cls(body.get("video"))


def setup(monkeypatch: pytest.MonkeyPatch) -> tuple[Services, PipelineState]:
    monkeypatch.setattr(resolve, "Fingerprint", Stub)
    monkeypatch.setattr(
        resolve, "decide", lambda a, b: MatchDecision(0, 1.0 if a == b else 0.2, a == b, "stub")
    )
    services = fake_services()
    services.jobs.create(JobRecord("job-00000001", JobStatus.RUNNING, "rain", 0.0, 0.0))
    services.cache.store(CacheEntry(KEY, names.l2_audio(KEY), 3.0, 48000, {"video": "A"}, 0.0))
    state = PipelineState(
        job_id="job-00000001",
        bucket="b",
        key="uploads/x.mp4",
        fingerprint=KEY.fingerprint,
        fingerprint_version=1,
        prompt_md5=KEY.prompt_md5,
        model_version=KEY.model_version,
    )
    return services, state


def test_same_video_under_the_key_is_served(monkeypatch: pytest.MonkeyPatch) -> None:
    services, state = setup(monkeypatch)
    out = resolve.lookup(services, state.model_copy(update={"fingerprint_data": {"video": "A"}}))
    assert out.cache == "l1" and out.next == "mux" and out.audio_key == names.l2_audio(KEY)


def test_another_video_with_the_same_code_is_not_served(monkeypatch: pytest.MonkeyPatch) -> None:
    services, state = setup(monkeypatch)
    out = resolve.lookup(services, state.model_copy(update={"fingerprint_data": {"video": "B"}}))
    assert out.next == "lease" and out.audio_key == ""
    # It makes its sound under the code's next key slot, leaving A's entry alone ...
    slot = out.entry_key()
    assert slot.fingerprint == slot_fingerprints(KEY.fingerprint)[1]
    job = services.jobs.get("job-00000001")
    assert job is not None and job.cache_key == str(slot)
    resolve.lease_or_wait(services, out, "token")
    token, resumed = services.workflow.resumed[-1]  # type: ignore[attr-defined]
    assert token == "token" and resumed["next"] == "infer"  # it computes its own sound
    # ... and the lease it holds is the slot's (the run commits under the state's key:
    # tests/unit/test_key_slots.py makes the runs).
    rival = Lease(services.leases, names.lease_item(slot), duration_s=60, clock=services.clock)
    assert rival.try_acquire() is not None  # held
    code = Lease(services.leases, names.lease_item(KEY), duration_s=60, clock=services.clock)
    assert code.try_acquire() is None  # free
