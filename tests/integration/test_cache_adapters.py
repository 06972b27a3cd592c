"""The adapters against the real local stack: DynamoDB's conditional writes, Redis SCAN."""

from __future__ import annotations

import threading

import boto3
import pytest

from foleycache.adapters.dynamodb_leases import DynamoLeaseStore
from foleycache.adapters.redis_hot_cache import RedisHotCache, connect
from foleycache.core.clock import SystemClock
from foleycache.core.errors import LeaseHeld, LeaseNotOwned
from foleycache.core.lease import Lease
from foleycache.local.stack import StackInfo
from tests.fakes import FakeClock

pytestmark = pytest.mark.integration


@pytest.fixture
def leases(local_stack: StackInfo) -> DynamoLeaseStore:
    return DynamoLeaseStore(boto3.client("dynamodb"), local_stack.env["TABLE_NAME"])


def test_concurrent_acquires_on_dynamodb_have_exactly_one_winner(leases: DynamoLeaseStore) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def contend() -> None:
        lease = Lease(leases, "LEASE#race", duration_s=30, clock=SystemClock())
        barrier.wait()
        if lease.try_acquire() is None:
            winners.append(lease.token)

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_dynamodb_lease_expiry_and_ownership(leases: DynamoLeaseStore) -> None:
    clock = FakeClock()
    holder = Lease(leases, "LEASE#expiry", duration_s=10, clock=clock)
    holder.acquire()
    with pytest.raises(LeaseHeld) as held:
        Lease(leases, "LEASE#expiry", duration_s=10, clock=clock).acquire()
    assert held.value.owner == holder.token  # the loser got the holder's record (ALL_OLD)
    clock.advance(10)
    successor = Lease(leases, "LEASE#expiry", duration_s=10, clock=clock)
    successor.acquire()
    with pytest.raises(LeaseNotOwned):
        holder.release()
    successor.release()
    assert Lease(leases, "LEASE#expiry", duration_s=10, clock=clock).try_acquire() is None


def test_redis_delete_matching_removes_only_the_pattern(local_stack: StackInfo) -> None:
    cache = RedisHotCache(connect(local_stack.env["REDIS_URL"]))
    for i in range(1200):
        cache.set(f"fc:gone-v/fp1:e:{i:016x}:x", b"1", 60)
    cache.set("fc:kept-v/fp1:e:0000000000000001:x", b"1", 60)
    assert cache.delete_matching("fc:gone-v/*", 500) == 1200
    assert cache.get("fc:kept-v/fp1:e:0000000000000001:x", 60) == b"1"
