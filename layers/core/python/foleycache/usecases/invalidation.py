"""Retiring a model version's cache entries.

Correctness never depends on this: a new ``MODEL_VERSION`` is a new
namespace, so old entries are simply never addressed again. Invalidation
only reclaims space: L1 keys are removed with an incremental ``SCAN`` plus
``UNLINK`` in small batches (no ``KEYS``, no blocking ``DEL``; each batch is
one short command, so Redis keeps serving), and L2 objects are tagged for
the archive lifecycle rule rather than deleted, so an operator can still
recover them.
"""

from __future__ import annotations

from dataclasses import dataclass

from foleycache.core.errors import StorageUnavailable
from foleycache.core.keys import validate_model_version
from foleycache.usecases.archival import ARCHIVE_TAG
from foleycache.usecases.services import Services

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
        try:
            removed += services.hot.delete_matching(f"fc:{version}/*", BATCH)
            removed += services.hot.delete_matching(f"fc:neg:{version}:*", BATCH)
        except StorageUnavailable:
            available = False
            services.metrics.count("L1Unavailable")
    marked = 0
    for key in services.cache_blobs.list_keys(f"cache/{version}/"):
        services.cache_blobs.set_tags(key, ARCHIVE_TAG)
        marked += 1
    services.metrics.count("InvalidatedL1Keys", removed)
    return InvalidationReport(version, removed, marked, available)
