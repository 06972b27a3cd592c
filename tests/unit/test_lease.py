"""The lease protocol: one winner, expiry frees a crashed holder, only the owner releases."""

from __future__ import annotations

import pytest

from foleycache.core.errors import LeaseHeld, LeaseNotOwned
from foleycache.core.lease import Lease
from tests.fakes import FakeClock, MemoryLeaseStore


@pytest.fixture
def store() -> MemoryLeaseStore:
    return MemoryLeaseStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def lease(store: MemoryLeaseStore, clock: FakeClock, token: str | None = None) -> Lease:
    return Lease(store, "k", duration_s=60, clock=clock, token=token)


def test_only_one_of_many_contenders_wins(store: MemoryLeaseStore, clock: FakeClock) -> None:
    contenders = [lease(store, clock) for _ in range(5)]
    winners = [c for c in contenders if c.try_acquire() is None]
    assert len(winners) == 1


def test_loser_learns_the_holder_and_its_expiry(store: MemoryLeaseStore, clock: FakeClock) -> None:
    winner = lease(store, clock)
    winner.acquire()
    with pytest.raises(LeaseHeld) as held:
        lease(store, clock).acquire()
    assert held.value.owner == winner.token
    assert held.value.expires_at == clock.now() + 60


def test_an_expired_lease_can_be_taken_over(store: MemoryLeaseStore, clock: FakeClock) -> None:
    crashed = lease(store, clock)
    crashed.acquire()
    clock.advance(60)
    successor = lease(store, clock)
    successor.acquire()
    assert store.items["k"].owner == successor.token
    assert store.items["k"].owner != crashed.token


def test_a_late_holder_cannot_release_its_successors_lease(
    store: MemoryLeaseStore, clock: FakeClock
) -> None:
    late = lease(store, clock)
    late.acquire()
    clock.advance(61)
    successor = lease(store, clock)
    successor.acquire()
    with pytest.raises(LeaseNotOwned):
        late.release()
    assert store.items["k"].owner == successor.token


def test_leaving_a_with_block_releases_even_on_error(
    store: MemoryLeaseStore, clock: FakeClock
) -> None:
    holder = lease(store, clock)
    holder.acquire()
    with pytest.raises(RuntimeError), holder:
        raise RuntimeError("inference failed")
    assert "k" not in store.items


def test_a_with_block_leaves_a_successors_lease_alone(
    store: MemoryLeaseStore, clock: FakeClock
) -> None:
    late = lease(store, clock)
    late.acquire()
    with late:
        clock.advance(61)
        successor = lease(store, clock)
        successor.acquire()
    assert store.items["k"].owner == successor.token


def test_release_frees_the_key_for_the_next_request(
    store: MemoryLeaseStore, clock: FakeClock
) -> None:
    first = lease(store, clock)
    first.acquire()
    first.release()
    assert lease(store, clock).try_acquire() is None


def test_the_token_travels_between_steps(store: MemoryLeaseStore, clock: FakeClock) -> None:
    taker = lease(store, clock)
    taker.acquire()
    releaser = lease(store, clock, token=taker.token)
    releaser.release()
    assert "k" not in store.items
