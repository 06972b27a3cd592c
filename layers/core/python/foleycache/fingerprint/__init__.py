"""Near-duplicate video fingerprints: find by a 64-bit code, decide on richer data.

Public interface (used by the pipeline and the CLI):

- ``fingerprint_video(path) -> Fingerprint`` (raises ``InvalidVideo``);
- ``fingerprint_paths(paths) -> list[dict]``;
- ``decide(a, b) -> MatchDecision`` and ``match_files(a, b) -> dict``;
- ``FIND_RADIUS``, the seed's Hamming radius for candidate search (the index
  then widens to 11 and to a second code, see ``core.near_index``);
- ``FINGERPRINT_VERSION``, which must be part of every cache key.

Measured by ``bench/fingerprint_eval.py`` (v3, 2 shared cores; figures in
``bench/results/fingerprint_eval.json``): 0 false matches over cross-clip
pairs, same-shot segments and every pair of 2-4 s windows of one shot; 91/91
positives accepted (13 edits x 7 clips, the 2.4 s clip included). The rule
and its margins are in ``decision``. Videos under 2 s are never matched (too
few samples for the temporal check).

Import weight: the package itself is numpy-only, as the core Lambda layer ships
numpy but not OpenCV or onnxruntime (too big for a zip function). ``record``,
``hashing``, ``decision`` and ``version`` load eagerly; ``fingerprint_video``,
``fingerprint_paths`` and ``match_files`` need OpenCV and onnxruntime, so they
are loaded on first access by the module ``__getattr__`` (PEP 562): only the
fingerprint function (a container image) and the CLI ever touch them.
Modules of the hot-path functions must not import ``extract``, ``compare``,
``sampling``, ``cnn``, ``handcrafted`` or ``calibration`` at module level
(``tests/unit/test_light_imports.py`` checks the handlers).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from foleycache.fingerprint.decision import FIND_RADIUS, MatchDecision, decide
from foleycache.fingerprint.record import Fingerprint
from foleycache.fingerprint.version import FINGERPRINT_VERSION

if TYPE_CHECKING:
    from foleycache.fingerprint.compare import match_files
    from foleycache.fingerprint.extract import fingerprint_paths, fingerprint_video

#: The heavy exports, by the module that defines them (imported on first access).
_LAZY = {
    "fingerprint_paths": "foleycache.fingerprint.extract",
    "fingerprint_video": "foleycache.fingerprint.extract",
    "match_files": "foleycache.fingerprint.compare",
}

__all__ = [
    "FIND_RADIUS",
    "FINGERPRINT_VERSION",
    "Fingerprint",
    "MatchDecision",
    "decide",
    "fingerprint_paths",
    "fingerprint_video",
    "match_files",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value
