"""Near-duplicate reuse: find candidates by code, then decide on the stored fingerprint.

The 64-bit code only *finds* candidates (multi-index hashing, a fixed number
of bucket reads); reuse is *decided* by :func:`foleycache.fingerprint.decide`
on the candidate entry's stored vector, per-second signatures and duration.
A candidate that fails the decision is never served, whatever its distance.

Redis holds the hot index; DynamoDB holds the index of everything in L2.
The durable index is read only when the hot one yields no verified match,
so Redis being down or having evicted a bucket costs latency, never reuse.

The index and the fingerprints it is verified against belong to the library
(:mod:`foleycache.cache.library`), shared by every model version; the sound
does not. So a match is a known video, verified, plus its sound under the
lookup's model version if that exists. A candidate with sound is preferred to
a nearer one without (it saves a GPU run); without any, the caller makes the
sound once under the candidate's key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from foleycache.cache import names
from foleycache.cache.entry import CacheEntry
from foleycache.cache.indexed_lookup import IndexedLookup
from foleycache.cache.library import FingerprintLibrary
from foleycache.cache.near_index import MultiIndexLayout
from foleycache.cache.tiered import TieredCache
from foleycache.core import metrics as M
from foleycache.core.keys import CacheKey
from foleycache.core.ports import MetricsSink, NearIndexStore
from foleycache.fingerprint import Fingerprint, MatchDecision, decide
from foleycache.fingerprint.hashing import alternate_code

log = logging.getLogger(__name__)


def alternate_of(fingerprint_data: Mapping[str, Any]) -> int | None:
    """The alternate code of a stored fingerprint; None where there is none to read."""
    if not fingerprint_data:
        return None
    return alternate_code(Fingerprint.from_dict(dict(fingerprint_data)).vector)


@dataclass(frozen=True, slots=True)
class NearMatch:
    """A known video that passed verification against the query."""

    #: The candidate's key under the lookup's model version.
    key: CacheKey
    #: The fingerprint it is known by (the library's record), which the decision used.
    fingerprint_data: dict[str, Any]
    decision: MatchDecision
    #: Its sound under the lookup's model version; None where that version has none yet.
    entry: CacheEntry | None


class NearMatcher(IndexedLookup):
    def __init__(
        self,
        layouts: tuple[MultiIndexLayout, ...],
        hot: NearIndexStore | None,
        durable: NearIndexStore,
        cache: TieredCache,
        metrics: MetricsSink | None = None,
        *,
        library: FingerprintLibrary | None = None,
    ) -> None:
        super().__init__(hot, durable, cache, metrics, library=library)
        self.layouts = layouts

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
    ) -> NearMatch | None:
        """The nearest verified known video with sound under the key's model version, narrow
        layout first; failing that, the nearest verified one without."""
        code = int(key.fingerprint, 16)
        tried: set[int] = {code}
        soundless: NearMatch | None = None
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
                        if found is not None and found.entry is not None:
                            return found
                        soundless = soundless or found
        return soundless

    def _verified(self, key: CacheKey, other: int, fingerprint: Fingerprint) -> NearMatch | None:
        other_key = CacheKey(
            f"{other:016x}", key.prompt_md5, key.model_version, key.fingerprint_version
        )
        known = self.library.get(other_key) if self.library is not None else None
        entry = None
        if known is None:  # no library record: the entry's own fingerprint, if there is one
            entry = self._entry(other_key)
            if entry is None:
                return None
            known = entry.fingerprint_data
        decision = decide(Fingerprint.from_dict(dict(known)), fingerprint)
        if not decision.same:
            self.metrics.emit(M.NEAR_REJECTED)
            log.info("near candidate %s rejected: %s", other_key, decision.reason)
            return None
        # Only this model version's sound, read after the decision: never another version's.
        return NearMatch(
            other_key, dict(known), decision, entry or self._sound_of(other_key, known)
        )


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
