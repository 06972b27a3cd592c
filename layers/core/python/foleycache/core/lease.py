"""Coalescing lease: concurrent identical requests run inference once.

The protocol, one conditional write per step (so no lock server is needed,
and a crashed holder never blocks anyone for longer than its lease):

``acquire``
    Write ``{key, owner=<random token>, expires_at=now+duration}`` only if no
    lease exists for ``key`` *or* the existing one has expired
    (``attribute_not_exists(pk) OR expires_at <= :now``). Expiry is checked in
    the condition itself because DynamoDB's TTL deletion can lag by ~48 h.
    On conflict the store returns the holder's record in the same call
    (``ReturnValuesOnConditionCheckFailure=ALL_OLD``), so losers learn who
    holds it and until when without a second read.

``extend``
    Push ``expires_at`` forward only if we still own the lease and it has not
    expired (``owner = :token AND expires_at > :now``): once it has expired,
    someone else may already have taken over, and silently renewing would give
    two owners.

``release``
    Delete only if we still own it (``owner = :token``). A holder that
    outlived its lease must not delete its successor's lease.

The losers do not recompute: they wait (a Step Functions ``Wait`` loop) and
re-check the cache; when the winner stores its result they are served from
it, and if the winner crashes its lease expires and the next waiter wins.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol

from foleycache.core.clock import Clock
from foleycache.core.errors import LeaseHeld, LeaseNotOwned


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    key: str
    owner: str
    expires_at: float

    def expired(self, now: float) -> bool:
        return self.expires_at <= now


class LeaseStore(Protocol):
    """Storage for leases; every method is a single atomic conditional write."""

    def put_if_free(self, record: LeaseRecord, now: float) -> LeaseRecord | None:
        """Store ``record`` if ``record.key`` has no lease or only an expired one.

        Returns ``None`` on success, else the current (unexpired) holder's record.
        """
        ...

    def extend_if_owner(self, key: str, owner: str, expires_at: float, now: float) -> bool:
        """Set a new expiry if ``owner`` holds an unexpired lease on ``key``."""
        ...

    def delete_if_owner(self, key: str, owner: str) -> bool:
        """Delete the lease on ``key`` if ``owner`` holds it."""
        ...

    def get(self, key: str) -> LeaseRecord | None: ...


class Lease:
    """A lease on one cache key, held by whoever knows its token.

    The token travels in the Step Functions state from the step that acquired
    the lease to the step that releases it, so a lease can outlive the Lambda
    invocation that took it.
    """

    def __init__(
        self,
        store: LeaseStore,
        key: str,
        *,
        duration_s: float,
        clock: Clock,
        token: str | None = None,
    ) -> None:
        if duration_s <= 0:
            raise ValueError("duration_s must be positive")
        self.store = store
        self.key = key
        self.duration_s = duration_s
        self.clock = clock
        self.token = token or secrets.token_hex(16)
        self.expires_at: float | None = None

    def acquire(self) -> None:
        """Take the lease or raise :class:`LeaseHeld` naming the holder and its expiry."""
        now = self.clock.now()
        record = LeaseRecord(self.key, self.token, now + self.duration_s)
        holder = self.store.put_if_free(record, now)
        if holder is not None:
            raise LeaseHeld(self.key, holder.owner, holder.expires_at)
        self.expires_at = record.expires_at

    def try_acquire(self) -> LeaseRecord | None:
        """Like :meth:`acquire`, but returns the holder's record instead of raising."""
        try:
            self.acquire()
        except LeaseHeld as held:
            return LeaseRecord(self.key, held.owner or "", held.expires_at or 0.0)
        return None

    def extend(self, additional_s: float | None = None) -> None:
        """Renew for ``additional_s`` (default: the lease duration) from now."""
        now = self.clock.now()
        expires_at = now + (additional_s or self.duration_s)
        if not self.store.extend_if_owner(self.key, self.token, expires_at, now):
            raise LeaseNotOwned(f"cannot extend a lease on {self.key} that is no longer owned")
        self.expires_at = expires_at

    def release(self) -> None:
        """Give the lease up; raises :class:`LeaseNotOwned` if it was taken over."""
        if not self.store.delete_if_owner(self.key, self.token):
            raise LeaseNotOwned(f"cannot release a lease on {self.key} that is no longer owned")
        self.expires_at = None

    def owned(self) -> bool:
        record = self.store.get(self.key)
        return (
            record is not None
            and record.owner == self.token
            and not record.expired(self.clock.now())
        )
