"""The fingerprint algorithm's version.

Bump it on *any* change that alters codes, vectors or signatures (features,
weights, calibration constants, hyperplanes, thresholds that were used to build
stored data). It seeds the hyperplanes and is part of the cache key, so an old
entry can never be matched by a fingerprint made the new way.
"""

from __future__ import annotations

FINGERPRINT_VERSION = 3
