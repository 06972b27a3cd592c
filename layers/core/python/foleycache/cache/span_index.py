"""Find stored videos that share a stretch of frames with a new one (reuse across cuts).

Why: a trimmed, extended or re-cut upload is a whole-video miss, but Foley sound is
time-synchronised to the frames, so the sound made for the frames it shares with a
stored video is right for it too. This module *finds* candidates and rough offsets;
:mod:`foleycache.fingerprint.span_match` *decides*.

Index: one time-local code per window of ``WINDOW_S`` of a stored video's span codes
(``fingerprint.spans``), every ``STORE_HOP_S``: the bitwise majority of the window's
samples. Multi-index hashing as in ``near_index``: the 64-bit window code is split into
``BLOCKS`` blocks of 16 bits and posted under each block's value (``names.span_bucket``),
in the near index's stores (Redis hot, DynamoDB durable) under ``names.index_scope``: the
fingerprint library's scope, shared by every model version. A candidate is verified on
the library's fingerprint of it; its sound is the entry under the lookup's model version,
and a video with none under that version lends nothing.

Lookup: the new video's windows every ``QUERY_HOP_S`` where at least half the samples
move (at most ``MAX_QUERY_WINDOWS``, spread evenly), each probed in its ``BLOCKS``
buckets: at most 4 x 48 = 192 bucket reads in one round trip per store, however many
videos are stored. A posting whose window code lies within ``FIND_RADIUS`` bits of the
query window's votes for (stored video, offset); ``MAX_VERIFIED`` videos are verified on
their stored span codes, chosen to explain the most query windows (``ranked``: an
intro's source beside the main clip's).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from foleycache.cache import names
from foleycache.cache.entry import CacheEntry
from foleycache.cache.indexed_lookup import IndexedLookup
from foleycache.core import metrics as M
from foleycache.core.keys import CacheKey
from foleycache.fingerprint import Fingerprint
from foleycache.fingerprint.span_match import SharedSpan, shared_spans
from foleycache.fingerprint.spans import SPAN_FPS, STILL, motion_half

log = logging.getLogger(__name__)

LAYOUT = "span-w2m4"
WINDOW_S = 2.0
STORE_HOP_S = 1.0
QUERY_HOP_S = 0.5
MAX_QUERY_WINDOWS = 48
BLOCKS = 4
BLOCK_BITS = 64 // BLOCKS
#: Postings farther than this from the query window are not votes (the blocks find
#: everything within BLOCKS - 1 bits for certain, and much more in practice).
FIND_RADIUS = 12
#: Stored videos verified per lookup, best-voted first (each costs one entry read).
MAX_VERIFIED = 3

_WINDOW = round(WINDOW_S * SPAN_FPS)
_STORE_HOP = round(STORE_HOP_S * SPAN_FPS)
_QUERY_HOP = round(QUERY_HOP_S * SPAN_FPS)


def window_code(codes: np.ndarray) -> int:
    """Bitwise majority of a window's span codes (ties count as 0)."""
    bits = np.unpackbits(codes.astype(">u8").view(np.uint8).reshape(len(codes), 8), axis=1)
    majority = (bits.sum(axis=0) * 2 > len(codes)).astype(np.uint8)
    return int.from_bytes(np.packbits(majority).tobytes(), "big")


def window_starts(
    n: int, hop: int, limit: int | None = None, moving: np.ndarray | None = None
) -> list[int]:
    """Window starts every ``hop`` samples (the last window ends at the last sample);
    with ``moving`` (per sample), only windows where at least half the samples move; at
    most ``limit`` of them, spread evenly."""
    if n < _WINDOW:
        return []
    starts = list(range(0, n - _WINDOW + 1, hop))
    if starts[-1] != n - _WINDOW:
        starts.append(n - _WINDOW)
    if moving is not None:
        starts = [s for s in starts if 2 * int(moving[s : s + _WINDOW].sum()) >= _WINDOW]
    if limit is not None and len(starts) > limit:
        picks = np.linspace(0, len(starts) - 1, limit).round().astype(int)
        starts = [starts[i] for i in sorted(set(picks.tolist()))]
    return starts


def buckets(code: int) -> list[str]:
    return [
        names.span_bucket(LAYOUT, t, (code >> (BLOCK_BITS * (BLOCKS - 1 - t))) & 0xFFFF)
        for t in range(BLOCKS)
    ]


@dataclass(frozen=True)
class Found:
    """A stored entry and the spans of the new video verified against it."""

    entry: CacheEntry
    spans: tuple[SharedSpan, ...]
    #: The stored video's span codes (where two spans meet at a cut, ``cut_joins``).
    codes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64), compare=False)
    #: Its span samples' frame lags (s), where its record has them.
    lags_s: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64), compare=False)


class SpanIndex(IndexedLookup):
    @staticmethod
    def postings(key: CacheKey, codes: np.ndarray) -> list[tuple[list[str], str]]:
        """(buckets, member) for every stored window of a video."""
        out = []
        for start in window_starts(len(codes), _STORE_HOP):
            code = window_code(codes[start : start + _WINDOW])
            out.append((buckets(code), names.span_member(key.fingerprint, start, code)))
        return out

    def add(self, key: CacheKey, fingerprint: Fingerprint) -> None:
        """Post every window; a failing store skips itself (best-effort, it only finds)."""
        for store in self._stores():
            for bucket_list, member in self.postings(key, fingerprint.span_codes):
                store.add(names.index_scope(key), bucket_list, member)

    def remove(self, key: CacheKey, fingerprint: Fingerprint) -> None:
        for store in self._stores():
            for bucket_list, member in self.postings(key, fingerprint.span_codes):
                store.remove(names.index_scope(key), bucket_list, member)

    def find(self, key: CacheKey, fingerprint: Fingerprint) -> list[Found]:
        """Stored entries sharing verified spans with ``fingerprint``: hot store first, the
        durable one only when the hot one verified nothing."""
        codes = fingerprint.span_codes
        # A window of mostly still samples (an empty road) looks like every other still
        # stretch of its camera: its votes land on every offset and crowd the true ones
        # out of the verified clusters (the traffic camera's swap: 48 -> 26 windows, and
        # both segments' true offsets come first). It asks nothing.
        moving = motion_half(codes) != STILL
        starts = window_starts(len(codes), _QUERY_HOP, MAX_QUERY_WINDOWS, moving)
        if not starts:
            return []
        queries = [(s, window_code(codes[s : s + _WINDOW])) for s in starts]
        probes = sorted({b for _, code in queries for b in buckets(code)})
        for store in self._stores():
            members = store.members(names.index_scope(key), probes)
            # Our own code may be stored: lookup only gets here when the entry under it is
            # another video (a verified key collision), whose shared spans count too.
            found = self._verify(key, fingerprint, *_votes(queries, members))
            if found:
                return found
        return []

    def _verify(
        self,
        key: CacheKey,
        fingerprint: Fingerprint,
        votes: dict[str, Counter[int]],
        windows: dict[str, set[int]],
    ) -> list[Found]:
        self.metrics.emit(M.SPAN_CANDIDATES, len(votes))
        out: list[Found] = []
        for other in ranked(votes, windows):
            offsets = votes[other]
            other_key = CacheKey(other, key.prompt_md5, key.model_version, key.fingerprint_version)
            known, entry = self._known(other_key)
            if known is None:
                continue
            stored = Fingerprint.from_dict(dict(known))
            if stored.version != fingerprint.version or not len(stored.span_codes):
                continue
            spans: list[SharedSpan] = []
            for shift in _clusters(offsets):
                for span in shared_spans(fingerprint.span_codes, stored.span_codes, shift):
                    if not any(_overlap(span, s) for s in spans):
                        spans.append(span)
            if spans:
                # Only this model version's sound lends itself, read after verification:
                # a video known to the library without it is no span source.
                entry = entry or self._sound_of(other_key, known)
                if entry is None:
                    continue
                spans.sort(key=lambda s: s.start_s)
                out.append(Found(entry, tuple(spans), stored.span_codes, stored.span_lags_s))
            else:
                self.metrics.emit(M.SPAN_REJECTED)
                log.info("span candidate %s not verified", other_key)
        return out

    def _known(self, key: CacheKey) -> tuple[dict[str, Any] | None, CacheEntry | None]:
        """The fingerprint the library knows the video by; without a library record (an
        entry from before the library), its entry's own, and that entry."""
        if self.library is not None and (known := self.library.get(key)) is not None:
            return known, None
        entry = self._entry(key)
        if entry is None or not entry.fingerprint_data:
            return None, None
        return dict(entry.fingerprint_data), entry


def ranked(votes: dict[str, Counter[int]], windows: dict[str, set[int]]) -> list[str]:
    """The ``MAX_VERIFIED`` stored videos to verify: first, greedily, the one whose votes
    come from the most query windows no pick so far explains (an intro's source with two
    votes is verified beside the main clip's source with thirty and its trimmed copies
    with twenty-eight), then the best-voted of the rest."""
    total = {fp: sum(c.values()) for fp, c in votes.items()}
    picked: list[str] = []
    explained: set[int] = set()
    while len(picked) < MAX_VERIFIED:
        rest = [fp for fp in votes if fp not in picked and windows[fp] - explained]
        if not rest:
            break
        best = min(rest, key=lambda fp: (-len(windows[fp] - explained), -total[fp], fp))
        picked.append(best)
        explained |= windows[best]
    rest = sorted((fp for fp in votes if fp not in picked), key=lambda fp: (-total[fp], fp))
    return picked + rest[: MAX_VERIFIED - len(picked)]


def _votes(
    queries: list[tuple[int, int]], members: set[str]
) -> tuple[dict[str, Counter[int]], dict[str, set[int]]]:
    """Stored video -> Counter of shifts (stored sample - query sample) voted for, and
    stored video -> the query windows (their first samples) that voted for it."""
    by_block: dict[str, list[tuple[str, int, int]]] = {}
    for m in members:
        try:
            fp, sample, code = names.parse_span_member(m)
        except ValueError:
            continue
        for bucket in buckets(code):
            by_block.setdefault(bucket, []).append((fp, sample, code))
    votes: dict[str, Counter[int]] = {}
    windows: dict[str, set[int]] = {}
    for start, code in queries:
        seen: set[tuple[str, int]] = set()
        for bucket in buckets(code):
            for fp, sample, stored in by_block.get(bucket, ()):
                if (fp, sample) in seen or (code ^ stored).bit_count() > FIND_RADIUS:
                    continue
                seen.add((fp, sample))
                votes.setdefault(fp, Counter())[sample - start] += 1
                windows.setdefault(fp, set()).add(start)
    return votes, windows


def _clusters(offsets: Counter[int]) -> list[int]:
    """Distinct offsets to verify, most voted first, at least a second apart (the
    verification searches +-1 s around each)."""
    picked: list[int] = []
    for shift, _ in offsets.most_common():
        if all(abs(shift - p) > SPAN_FPS for p in picked):
            picked.append(shift)
    return picked[:4]


def _overlap(a: SharedSpan, b: SharedSpan) -> bool:
    return a.start_s < b.end_s and b.start_s < a.end_s
