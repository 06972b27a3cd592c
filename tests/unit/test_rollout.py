"""Rolling out a model version: the canary split, version pinning, hit ranking, retirement."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from foleycache.cache import names
from foleycache.cache.archival import ARCHIVE_TAG
from foleycache.cache.entry import CacheEntry
from foleycache.cache.hit_tracking import top_entries, track_hit
from foleycache.cache.repeat_memory import ExactRecord, find_exact, remember_exact
from foleycache.cache.retirement import note_serving_version, retire_version, sweep_retired
from foleycache.core.errors import InvalidInput
from foleycache.core.job import CacheOutcome, JobRecord, JobStatus
from foleycache.core.keys import CacheKey, prompt_md5
from foleycache.core.ports import RetiredVersion
from foleycache.core.rollout import Rollout, canary_point
from foleycache.pipeline import resolve
from foleycache.pipeline.fingerprint_upload import job_model_version
from foleycache.pipeline.state import PipelineState
from foleycache.services import Services
from foleycache.settings import ConfigurationError, Settings
from tests.fakes import SETTINGS_ENV, CountingMetrics, FakeClock, MemoryCatalog, fake_services

DAY = 86_400.0


class MemoryRanking:
    def __init__(self) -> None:
        self.sets: dict[str, dict[str, float]] = {}

    def bump(self, key: str, member: str, ttl_s: int, keep: int) -> None:
        ranked = self.sets.setdefault(key, {})
        ranked[member] = ranked.get(member, 0.0) + 1
        while len(ranked) > keep:
            ranked.pop(min(ranked, key=lambda m: (ranked[m], m)))

    def top(self, key: str, n: int) -> list[tuple[str, float]]:
        ranked = self.sets.get(key, {})
        return sorted(ranked.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


class MemoryVersions:
    def __init__(self) -> None:
        self.current: str | None = None
        self.items: dict[str, RetiredVersion] = {}

    def serving(self) -> str | None:
        return self.current

    def set_serving(self, version: str) -> None:
        self.current = version

    def retire(self, version: str, day: str, sweep_from: str) -> bool:
        if version in self.items:
            return False
        self.items[version] = RetiredVersion(version, day, sweep_from)
        return True

    def restore(self, version: str) -> None:
        self.items.pop(version, None)

    def retired(self) -> list[RetiredVersion]:
        return list(self.items.values())

    def set_swept_to(self, version: str, day: str) -> None:
        old = self.items[version]
        self.items[version] = RetiredVersion(version, old.retired_on, day)


def settings(**env: str) -> Settings:
    return Settings.from_env({**SETTINGS_ENV, **env})


def random_fingerprints(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.getrandbits(64):016x}" for _ in range(n)]


# --- the split ---------------------------------------------------------------------------
def test_canary_split_is_deterministic_and_close_to_the_share() -> None:
    rollout = Rollout("v1", "v2", 0.10)
    digest = prompt_md5("rain on a tin roof")
    fps = random_fingerprints(20_000)
    first = [rollout.version_for(fp, digest) for fp in fps]
    assert first == [rollout.version_for(fp, digest) for fp in fps]  # same key, same side
    share = first.count("v2") / len(first)
    assert 0.09 < share < 0.11, share
    # A bigger share only adds keys to the candidate: none moves back to stable.
    wider = Rollout("v1", "v2", 0.25)
    assert all(
        wider.version_for(fp, digest) == "v2" for fp, v in zip(fps, first, strict=True) if v == "v2"
    )


def test_split_depends_on_the_prompt_too_and_off_means_stable() -> None:
    fp = "0123456789abcdef"
    points = {canary_point(fp, prompt_md5(f"prompt {i}")) for i in range(50)}
    assert len(points) == 50
    assert Rollout("v1", "v2", 0.0).version_for(fp, prompt_md5("x")) == "v1"
    assert Rollout("v1").version_for(fp, prompt_md5("x")) == "v1"
    assert Rollout("v1", "v2", 1.0).version_for(fp, prompt_md5("x")) == "v2"


def test_bad_rollout_settings_are_refused_clearly() -> None:
    with pytest.raises(InvalidInput, match="candidate version"):
        Rollout("v1", "v1", 0.1)
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        Rollout("v1", "v2", 1.5)
    with pytest.raises(ValueError):
        settings(CANARY_SHARE="2")


def test_each_version_has_its_own_endpoint() -> None:
    s = settings(CANDIDATE_MODEL_VERSION="v2", CANDIDATE_ENDPOINT_NAME="foley-candidate")
    assert s.endpoint_for("foley-ref-1") == "foleycache-foley"
    assert s.endpoint_for("v2") == "foley-candidate"
    with pytest.raises(ConfigurationError, match="no endpoint serves model version 'v3'"):
        s.endpoint_for("v3")


# --- an old version's sound is never served under a new one ---------------------------------
def _state(key: CacheKey, **update: object) -> PipelineState:
    return PipelineState(
        job_id="job-00000001",
        bucket="b",
        key="uploads/x.mp4",
        fingerprint=key.fingerprint,
        fingerprint_version=key.fingerprint_version,
        prompt_md5=key.prompt_md5,
        model_version=key.model_version,
    ).model_copy(update=update)


def test_old_versions_sound_is_never_served_under_the_new_version() -> None:
    services = fake_services()
    old = CacheKey.for_request("0123456789abcdef", "rain", "v1", 1)
    services.cache.store(CacheEntry(old, names.l2_audio(old), 3.0, 48000, {}, 0.0))
    new = CacheKey(old.fingerprint, old.prompt_md5, "v2", 1)
    assert resolve.lookup(services, _state(new)).next == "lease"
    assert resolve.lookup(services, _state(old)).next == "mux"


def test_a_prewarm_ends_at_the_entry_without_delivery() -> None:
    services = fake_services()
    key = CacheKey.for_request("0123456789abcdef", "rain", "v2", 1)
    services.cache.store(CacheEntry(key, names.l2_audio(key), 3.0, 48000, {}, 0.0))
    out = resolve.lookup(services, _state(key, deliver=False))
    assert out.next == "done" and out.audio_key == names.l2_audio(key)


def test_exact_records_are_routed_by_the_split_and_lend_outputs_only_to_their_version() -> None:
    fps = random_fingerprints(400, seed=3)
    digest = prompt_md5("rain")
    canary = settings(CANDIDATE_MODEL_VERSION="v2", CANARY_SHARE="0.5")
    services = fake_services(settings=canary, catalog=MemoryCatalog())
    rollout = canary.rollout()
    to_candidate = next(fp for fp in fps if rollout.version_for(fp, digest) == "v2")
    to_stable = next(fp for fp in fps if rollout.version_for(fp, digest) == "foley-ref-1")
    sha = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg="
    outputs = {"video": "outputs/job-1/out.mp4"}
    # The library's record (model-free), made under the stable version before the canary.
    scope = names.exact_scope(1, sha, digest)
    remember_exact(services, scope, ExactRecord(to_candidate, outputs, "foley-ref-1"))
    record = find_exact(services, scope)
    assert record is not None
    unpinned = PipelineState(job_id="job-00000001", bucket="b", key="uploads/x.mp4")
    version = job_model_version(services, unpinned, record.fingerprint, digest)
    # Routed to the candidate, whose sound the stable version's deliverables do not carry.
    assert version == "v2" and record.outputs_for(version) == {}
    assert job_model_version(services, unpinned, to_stable, digest) == "foley-ref-1"
    assert record.outputs_for("foley-ref-1") == outputs
    # A prewarm pins its version whatever the split says.
    pinned = unpinned.model_copy(update={"model_version": "foley-ref-1"})
    assert job_model_version(services, pinned, record.fingerprint, digest) == "foley-ref-1"


# --- the hit ranking -----------------------------------------------------------------------
def test_top_entries_come_from_the_bounded_ranking_else_from_hit_days() -> None:
    clock = FakeClock(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
    ranking = MemoryRanking()
    services = fake_services(clock=clock, catalog=MemoryCatalog(), ranking=ranking)
    keys = [CacheKey.for_request(fp, "rain", "foley-ref-1", 1) for fp in random_fingerprints(5)]
    for hits, key in zip((5, 1, 3, 2, 4), keys, strict=True):
        for _ in range(hits):
            track_hit(services, key)
    top = top_entries(services, keys[0].namespace, 3)
    assert [k for k, _ in top] == [keys[0], keys[4], keys[2]]
    assert [h for _, h in top] == [5.0, 4.0, 3.0]
    # Bounded: the ranking never holds more than it keeps.
    for key in keys:
        ranking.bump(names.redis_hit_ranking(key.namespace), names.entry_id(key), 60, 2)
    assert len(ranking.sets[names.redis_hit_ranking(keys[0].namespace)]) == 2

    # Without the ranking: days hit in the last week, one Query per day.
    no_ranking = fake_services(clock=clock, catalog=MemoryCatalog())
    for day in range(3):
        for key in keys[: 3 - day]:
            track_hit(no_ranking, key)
        clock.advance(DAY)
    assert [k for k, _ in top_entries(no_ranking, keys[0].namespace, 2)] == keys[:2]


# --- retirement ------------------------------------------------------------------------------
def _with_entries(services: Services, version: str, fps: list[str]) -> list[CacheKey]:
    keys = []
    for fp in fps:
        key = CacheKey.for_request(fp, "rain", version, 1)
        services.cache_blobs.put_bytes(names.l2_audio(key), b"RIFF")
        services.cache.store(CacheEntry(key, names.l2_audio(key), 3.0, 48000, {}, 0.0))
        track_hit(services, key)
        keys.append(key)
    return keys


def test_after_promotion_the_old_versions_entries_are_archived_without_a_scan() -> None:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    catalog, versions = MemoryCatalog(), MemoryVersions()
    v1 = fake_services(clock=clock, catalog=catalog, versions=versions)
    assert note_serving_version(v1).retired_now == []  # first run: records v1 as serving
    old_early = _with_entries(v1, "foley-ref-1", random_fingerprints(3, seed=1))
    clock.advance(40 * DAY)
    old_late = _with_entries(v1, "foley-ref-1", random_fingerprints(2, seed=2))
    clock.advance(DAY)

    # Promotion: the stable version is now v2 (a parameter change in the cloud).
    v2 = fake_services(
        settings=settings(MODEL_VERSION="v2"),
        clock=clock,
        catalog=catalog,
        versions=versions,
        cache_blobs=v1.cache_blobs,
        hot=v1.hot,
    )
    new = _with_entries(v2, "v2", random_fingerprints(2, seed=4))
    read_days: list[str] = []
    real_hit_on = catalog.hit_on

    def hit_on(day: str) -> list[str]:
        read_days.append(day)
        return real_hit_on(day)

    catalog.hit_on = hit_on  # type: ignore[method-assign]
    assert note_serving_version(v2).retired_now == ["foley-ref-1"]
    report = sweep_retired(v2)

    assert report.archived == 5
    for key in old_early + old_late:
        assert v2.cache_blobs.tags[names.l2_audio(key)] == ARCHIVE_TAG  # type: ignore[attr-defined]
        assert v2.hot.get(names.redis_entry(key), 60) is None  # type: ignore[union-attr]
    for key in new:
        assert names.l2_audio(key) not in v2.cache_blobs.tags  # type: ignore[attr-defined]
    # Bounded: the day partitions of the archival window up to the switch, read once each.
    assert len(read_days) == len(set(read_days)) == v2.settings.archive_after_days + 1
    # Idempotent and resumable: a second run reads no partition it has read.
    read_days.clear()
    assert sweep_retired(v2).archived == 0 and read_days == []
    assert retire_version(v2, "foley-ref-1") is False


def test_a_rollback_restores_the_version_and_retires_the_rolled_back_one() -> None:
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    versions = MemoryVersions()
    versions.set_serving("v2")
    versions.retire("foley-ref-1", "2025-12-31", "2025-10-02")
    services = fake_services(clock=clock, catalog=MemoryCatalog(), versions=versions)
    report = note_serving_version(services)
    assert report.restored_now == ["foley-ref-1"] and report.retired_now == ["v2"]
    assert [r.version for r in versions.retired()] == ["v2"]


def test_metrics_carry_the_version_that_served_each_job() -> None:
    from foleycache.pipeline.finish import succeed

    metrics = CountingMetrics()
    services = fake_services(metrics=metrics)
    services.jobs.create(JobRecord("job-00000001", JobStatus.RUNNING, "rain", 0.0, 0.0))
    key = CacheKey.for_request("0123456789abcdef", "rain", "v2", 1)
    succeed(services, _state(key, cache=CacheOutcome.MISS))
    assert metrics.values("JobByVersion", ModelVersion="v2", Tier="miss") == [1.0]
    assert metrics.values("JobByVersion", ModelVersion="foley-ref-1") == []
    assert len(metrics.values("TimeToResultByVersion", ModelVersion="v2")) == 1
