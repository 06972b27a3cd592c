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

``wait``
    A loser adds its task token to the lease's waiters, only if the lease is still
    there and unexpired (the same conditional write): a lease released between the
    loser's attempt and its registration makes the registration fail, so nobody
    waits for a holder that has gone.

``release``
    Delete only if we still own it (``owner = :token``), returning the waiters in
    the same request (``ALL_OLD``): the holder resumes every one of them. A holder
    that outlived its lease must not delete its successor's lease.

There is no ``extend``: a lease lasts ``LEASE_SECONDS`` (3,700 s), longer than the
inference step may wait, so no holder needs to renew; a renewal would only let a
stuck holder keep others waiting. A holder that fails releases its lease in the
failure step, so its waiters do not wait out the lease.

The losers do not recompute and do not poll: each waits on its task token until the
holder, done, resumes it to look the cache up again. If the holder crashes, its lease
expires and the waiters' own timeout sends them back to contend for it.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Protocol

from foleycache.core.clock import Clock
from foleycache.core.errors import LeaseHeld, LeaseNotOwned

log = logging.getLogger(__name__)


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

        Returns ``None`` on success (or, if it replaced an expired lease, that lease's
        record: a takeover), else the current (unexpired) holder's record.
        """
        ...

    def delete_if_owner(self, key: str, owner: str) -> list[str] | None:
        """Delete the lease on ``key`` if ``owner`` holds it; returns the waiters it had
        (``None`` if ``owner`` does not hold it)."""
        ...

    def add_waiter(self, key: str, waiter: str, now: float) -> bool:
        """Register ``waiter`` on the unexpired lease on ``key``; False if there is none
        (it was released meanwhile, or expired: the waiter should look again)."""
        ...


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
        #: The last acquisition replaced a holder whose time had run out.
        self.took_over = False

    def try_acquire(self) -> LeaseRecord | None:
        """One conditional write: ``None`` if we now hold the lease, else the holder's record
        (who, and until when), read in the same request."""
        now = self.clock.now()
        record = LeaseRecord(self.key, self.token, now + self.duration_s)
        holder = self.store.put_if_free(record, now)
        self.took_over = holder is not None and holder.expired(now)
        if holder is None or self.took_over:
            self.expires_at = record.expires_at
            return None
        return holder

    def acquire(self) -> None:
        """Take the lease or raise :class:`LeaseHeld` naming the holder and its expiry."""
        holder = self.try_acquire()
        if holder is not None:
            raise LeaseHeld(self.key, holder.owner, holder.expires_at)

    def release(self) -> list[str]:
        """Give the lease up; returns the waiters to resume. Raises :class:`LeaseNotOwned`
        if it was taken over."""
        waiters = self.store.delete_if_owner(self.key, self.token)
        if waiters is None:
            raise LeaseNotOwned(f"cannot release a lease on {self.key} that is no longer owned")
        self.expires_at = None
        return waiters

    def wait(self, waiter: str) -> bool:
        """Queue ``waiter`` (a task token) behind the current holder; False if the lease
        is gone meanwhile, so the waiter looks again instead of waiting for nobody."""
        return self.store.add_waiter(self.key, waiter, self.clock.now())

    def __enter__(self) -> Lease:
        """``with lease:`` releases on leaving, whatever happens inside. The lease is held
        already: acquired here, or by the step that handed over its token."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.release()
        except LeaseNotOwned:
            # It expired and another worker took over: theirs now, not ours to delete.
            log.warning("lease on %s expired before its holder finished", self.key)
