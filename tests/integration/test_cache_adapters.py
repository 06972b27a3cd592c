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
    assert successor.took_over and not holder.took_over  # DynamoDB returned the expired lease
    with pytest.raises(LeaseNotOwned):
        holder.release()
    successor.release()
    fresh = Lease(leases, "LEASE#expiry", duration_s=10, clock=clock)
    assert fresh.try_acquire() is None and not fresh.took_over  # a released lease is no takeover


def test_redis_delete_matching_removes_only_the_pattern(local_stack: StackInfo) -> None:
    cache = RedisHotCache(connect(local_stack.env["REDIS_URL"]))
    for i in range(1200):
        cache.set(f"fc:gone-v/fp1:e:{i:016x}:x", b"1", 60)
    cache.set("fc:kept-v/fp1:e:0000000000000001:x", b"1", 60)
    assert cache.delete_matching("fc:gone-v/*", 500) == 1200
    assert cache.get("fc:kept-v/fp1:e:0000000000000001:x", 60) == b"1"


def test_redis_scan_pages_resume_from_their_cursor(local_stack: StackInfo) -> None:
    cache = RedisHotCache(connect(local_stack.env["REDIS_URL"]))
    for i in range(700):
        cache.set(f"fc:paged-v/fp1:e:{i:016x}:x", b"1", 60)
    cache.set("fc:kept-paged/fp1:e:0000000000000001:x", b"1", 60)
    cursor, removed, steps = 0, 0, 0
    while True:
        cursor, gone = cache.delete_matching_page("fc:paged-v/*", cursor, 100)
        removed, steps = removed + gone, steps + 1
        if cursor == 0:
            break
    assert removed == 700 and steps > 1
    assert cache.get("fc:kept-paged/fp1:e:0000000000000001:x", 60) == b"1"


def test_s3_pages_list_after_a_key(local_stack: StackInfo) -> None:
    from foleycache.adapters.s3_blobs import S3BlobStore

    blobs = S3BlobStore(boto3.client("s3"), local_stack.env["CACHE_BUCKET"])
    for i in range(5):
        blobs.put_bytes(f"cache/paged-s3/{i}", b"x")
    first, more = blobs.list_page("cache/paged-s3/", "", 3)
    rest, more_after = blobs.list_page("cache/paged-s3/", first[-1], 3)
    assert (first, more) == (["cache/paged-s3/0", "cache/paged-s3/1", "cache/paged-s3/2"], True)
    assert (rest, more_after) == (["cache/paged-s3/3", "cache/paged-s3/4"], False)
