"""Near-duplicate reuse: find candidates by code, then decide on the stored fingerprint.

The 64-bit code only *finds* candidates (multi-index hashing, a fixed number
of bucket reads); reuse is *decided* by :func:`foleycache.fingerprint.decide`
on the candidate entry's stored vector, per-second signatures and duration.
A candidate that fails the decision is never served, whatever its distance.

Redis holds the hot index; DynamoDB holds the index of everything in L2.
The durable index is read only when the hot one yields no verified match,
so Redis being down or having evicted a bucket costs latency, never reuse.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from foleycache.cache import names
from foleycache.cache.entry import CacheEntry
from foleycache.cache.near_index import MultiIndexLayout
from foleycache.cache.tiered import TieredCache
from foleycache.core import metrics as M
from foleycache.core.keys import CacheKey
from foleycache.core.ports import MetricsSink, NearIndexStore, NullMetrics
from foleycache.fingerprint import Fingerprint, MatchDecision, decide
from foleycache.fingerprint.hashing import alternate_code

log = logging.getLogger(__name__)


def alternate_of(fingerprint_data: Mapping[str, Any]) -> int | None:
    """The alternate code of a stored fingerprint; None where there is none to read."""
    if not fingerprint_data:
        return None
    return alternate_code(Fingerprint.from_dict(dict(fingerprint_data)).vector)


class NearMatcher:
    def __init__(
        self,
        layouts: tuple[MultiIndexLayout, ...],
        hot: NearIndexStore | None,
        durable: NearIndexStore,
        cache: TieredCache,
        metrics: MetricsSink | None = None,
    ) -> None:
        self.layouts = layouts
        self.hot = hot
        self.durable = durable
        self.cache = cache
        self.metrics = metrics or NullMetrics()

    def _stores(self) -> list[NearIndexStore]:
        return [s for s in (self.hot, self.durable) if s is not None]

    def _postings(self, key: CacheKey, alternate: int | None) -> list[tuple[list[str], str]]:
        """(buckets, member) per layout; alternate-code layouts only when that code is known."""
        code = int(key.fingerprint, 16)
        out: list[tuple[list[str], str]] = []
        for layout in self.layouts:
            if layout.code == "fingerprint":
                out.append((layout.buckets(code), key.fingerprint))
            elif alternate is not None:
                out.append((layout.buckets(alternate), f"{key.fingerprint}:{alternate:016x}"))
        return out

    def add(self, key: CacheKey, alternate: int | None = None) -> None:
        for store in self._stores():
            self._write("add", store.add, key, alternate)

    def remove(self, key: CacheKey, alternate: int | None = None) -> None:
        for store in self._stores():
            self._write("remove", store.remove, key, alternate)

    def _write(
        self,
        action: str,
        write: Callable[[str, list[str], str], None],
        key: CacheKey,
        alternate: int | None,
    ) -> None:
        """A failing tier skips itself (the stores are best-effort): the index finds, it
        never decides."""
        for buckets, member in self._postings(key, alternate):
            write(names.index_scope(key), buckets, member)

    def find(
        self, key: CacheKey, fingerprint: Fingerprint, alternate: int | None = None
    ) -> tuple[CacheEntry, MatchDecision] | None:
        """The nearest stored entry that passes verification, narrow layout first."""
        code = int(key.fingerprint, 16)
        tried: set[int] = {code}
        for layout in self.layouts:
            query = code if layout.code == "fingerprint" else alternate
            if query is None:
                continue
            probes = layout.probes(query)
            for store in self._stores():
                members = store.members(names.index_scope(key), probes)
                owners = _owners(layout.code, members)
                candidates = {c for c, own in owners.items() if own - tried}
                self.metrics.emit(M.NEAR_CANDIDATES, len(candidates))
                for _distance, hit in layout.within(query, candidates):
                    for other in sorted(owners[hit] - tried):
                        tried.add(other)
                        found = self._verified(key, other, fingerprint)
                        if found is not None:
                            return found
        return None

    def _verified(
        self, key: CacheKey, other: int, fingerprint: Fingerprint
    ) -> tuple[CacheEntry, MatchDecision] | None:
        other_key = CacheKey(
            f"{other:016x}", key.prompt_md5, key.model_version, key.fingerprint_version
        )
        entry = self.cache.get_l1(other_key) or self.cache.get_l2(other_key)
        if entry is None:
            return None
        decision = decide(Fingerprint.from_dict(entry.fingerprint_data), fingerprint)
        if not decision.same:
            self.metrics.emit(M.NEAR_REJECTED)
            log.info("near candidate %s rejected: %s", other_key, decision.reason)
            return None
        return entry, decision


def _owners(code: str, members: set[str]) -> dict[int, set[int]]:
    """Layout code -> the fingerprint codes stored under it (members ``fp`` or ``fp:alternate``).

    A set, because two stored videos may share an alternate code while their own codes
    differ; each must still be tried.
    """
    out: dict[int, set[int]] = {}
    for m in members:
        own, _, alternate = m.partition(":")
        if code == "fingerprint":
            out.setdefault(int(own, 16), set()).add(int(own, 16))
        elif alternate:
            out.setdefault(int(alternate, 16), set()).add(int(own, 16))
    return out
