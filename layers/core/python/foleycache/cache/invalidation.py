"""Retiring a model version's cache entries.

Correctness never depends on this: a new ``MODEL_VERSION`` is a new
namespace for the sound, so old entries are simply never addressed again.
It removes that version's sound only, never the fingerprint library (the
stored fingerprints, exact-bytes records and near index), which the other
versions share; the patterns in :mod:`foleycache.cache.names` cannot select
it. (Retiring a *fingerprint* version would be retiring its library and
every model's entries under it; a new ``FINGERPRINT_VERSION`` is a new
library, so nothing depends on that either, and it is not built.)
Invalidation only reclaims space: L1 keys are removed with an incremental ``SCAN`` plus
``UNLINK`` in small batches (no ``KEYS``, no blocking ``DEL``; each batch is
one short command, so Redis keeps serving), and L2 objects are tagged for
the archive lifecycle rule rather than deleted, so an operator can still
recover them.
"""

from __future__ import annotations

from dataclasses import dataclass

from foleycache.cache import names
from foleycache.cache.archival import ARCHIVE_TAG
from foleycache.cache.best_effort import BestEffortHotCache
from foleycache.core.keys import validate_model_version
from foleycache.services import Services

BATCH = 500


@dataclass(frozen=True, slots=True)
class InvalidationReport:
    model_version: str
    l1_keys_removed: int
    l2_objects_marked: int
    l1_available: bool


def invalidate_model_version(services: Services, model_version: str) -> InvalidationReport:
    version = validate_model_version(model_version)
    removed, available = 0, True
    if services.hot is not None:
        failures = _failures(services)
        for pattern in names.redis_version_patterns(version):
            removed += services.hot.delete_matching(pattern, BATCH)
        available = _failures(services) == failures
    marked = 0
    for key in services.cache_blobs.list_keys(names.l2_version_prefix(version)):
        services.cache_blobs.set_tags(key, ARCHIVE_TAG)
        marked += 1
    services.metrics.count("InvalidatedL1Keys", removed)
    return InvalidationReport(version, removed, marked, available)


def _failures(services: Services) -> int:
    hot = services.hot
    return hot.failures if isinstance(hot, BestEffortHotCache) else 0
