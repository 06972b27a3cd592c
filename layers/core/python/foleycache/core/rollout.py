"""Which model version serves a request: the stable one, or the candidate's canary share.

The split is by a hash of the cache key's model-free part (fingerprint and prompt
digest), never by request: one video and prompt always land on the same side, so the
canary share costs each key at most one generation under the candidate, and a repeat
is a hit on whichever side it lands. A prewarm pins its version instead (the state's
``model_version`` is set before the split is consulted).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from foleycache.core.errors import InvalidInput
from foleycache.core.keys import validate_model_version

_SCALE = float(1 << 64)


def canary_point(fingerprint: str, prompt_md5: str) -> float:
    """A key's fixed position in [0, 1): the first 64 bits of SHA-256 over the key's
    model-free part (uniform, and unrelated to the fingerprint's own bit structure)."""
    digest = hashlib.sha256(f"{fingerprint}:{prompt_md5}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


@dataclass(frozen=True, slots=True)
class Rollout:
    """Stable version, candidate version (or "") and the candidate's share of keys."""

    stable: str
    candidate: str = ""
    share: float = 0.0

    def __post_init__(self) -> None:
        validate_model_version(self.stable)
        if self.candidate:
            validate_model_version(self.candidate)
            if self.candidate == self.stable:
                raise InvalidInput(f"the candidate version {self.candidate!r} is the stable one")
        if not 0.0 <= self.share <= 1.0:
            raise InvalidInput(f"the canary share must be between 0 and 1, got {self.share}")

    @property
    def canary_on(self) -> bool:
        return bool(self.candidate) and self.share > 0.0

    def version_for(self, fingerprint: str, prompt_md5: str) -> str:
        """The version that serves this key."""
        if self.canary_on and canary_point(fingerprint, prompt_md5) < self.share:
            return self.candidate
        return self.stable

    def serves(self, version: str) -> bool:
        """Whether an endpoint for ``version`` is configured (stable, or the candidate)."""
        return version == self.stable or (bool(self.candidate) and version == self.candidate)

    def versions(self) -> tuple[str, ...]:
        return (self.stable, self.candidate) if self.candidate else (self.stable,)
