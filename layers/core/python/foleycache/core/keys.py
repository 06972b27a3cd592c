"""Cache keys: what identifies one cached result.

The key contract is ``{fingerprint}:{md5(prompt)}:{model_version}``, under the
fingerprint version. The names it is stored under (Redis, S3, DynamoDB) are built
from it in :mod:`foleycache.cache.names`: the sound under the namespace (model
version first), what is known of the video in the library (no model version).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

from foleycache.core.errors import InvalidInput, InvalidPrompt

_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HEX16_RE = re.compile(r"^[0-9a-f]{16}$")
_MD5_RE = re.compile(r"^[0-9a-f]{32}$")


def normalise_prompt(prompt: str) -> str:
    """Canonical form of a prompt: NFC, trimmed, inner whitespace collapsed.

    Two prompts that differ only in spacing or Unicode composition ask for the
    same sound; hashing them differently would burn a GPU run for nothing.
    Case is kept, because it can carry meaning for the text encoder.
    """
    return " ".join(unicodedata.normalize("NFC", prompt).split())


def validate_prompt(prompt: object, max_chars: int) -> str:
    """The normalised prompt, or :class:`InvalidPrompt` saying what is wrong."""
    if not isinstance(prompt, str):
        raise InvalidPrompt("the prompt must be text")
    text = normalise_prompt(prompt)
    if not text:
        raise InvalidPrompt("the prompt is empty")
    if len(text) > max_chars:
        raise InvalidPrompt(f"the prompt has {len(text)} characters; the limit is {max_chars}")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise InvalidPrompt("the prompt contains control characters")
    return text


def prompt_md5(prompt: str) -> str:
    return hashlib.md5(normalise_prompt(prompt).encode("utf-8"), usedforsecurity=False).hexdigest()


def validate_model_version(version: str) -> str:
    if not _VERSION_RE.match(version):
        raise InvalidInput(
            f"model version {version!r} must be 1-64 characters of letters, digits, '.', '_' or '-'"
        )
    return version


@dataclass(frozen=True, slots=True)
class CacheKey:
    """One cached result: a video (by fingerprint), a prompt and a model version."""

    fingerprint: str
    prompt_md5: str
    model_version: str
    fingerprint_version: int

    def __post_init__(self) -> None:
        if not _HEX16_RE.match(self.fingerprint):
            raise InvalidInput(f"fingerprint {self.fingerprint!r} is not 16 hex characters")
        if not _MD5_RE.match(self.prompt_md5):
            raise InvalidInput(f"prompt digest {self.prompt_md5!r} is not an md5 hex digest")
        validate_model_version(self.model_version)

    @classmethod
    def for_request(
        cls, fingerprint: str, prompt: str, model_version: str, fingerprint_version: int
    ) -> CacheKey:
        return cls(fingerprint, prompt_md5(prompt), model_version, fingerprint_version)

    @classmethod
    def parse(cls, text: str, fingerprint_version: int) -> CacheKey:
        fingerprint, digest, version = text.split(":", 2)
        return cls(fingerprint, digest, version, fingerprint_version)

    def __str__(self) -> str:
        return f"{self.fingerprint}:{self.prompt_md5}:{self.model_version}"

    @property
    def namespace(self) -> str:
        """Model version first, then fingerprint version: the unit of invalidation."""
        return namespace(self.model_version, self.fingerprint_version)


#: Keys one 64-bit code can stand for. Equal codes are a candidate, never proof: a trim
#: often keeps its original's code, and the second video must not overwrite the first's
#: sound. Slot 0 is the code itself; slot n flips its bit n - 1, so a slot stays a near
#: neighbour of the code in the near index. Which video holds which slot is the
#: fingerprint library's to say (:func:`foleycache.pipeline.resolve.own_key`).
KEY_SLOTS = 4


def slot_fingerprints(code: str) -> list[str]:
    """The fingerprints (16 hex) of the keys a video with this code may take, in order."""
    value = int(code, 16)
    return [code] + [f"{value ^ (1 << n):016x}" for n in range(KEY_SLOTS - 1)]


def is_slot_of(fingerprint: str, code: str) -> bool:
    """Whether a key's fingerprint is one of the slots of ``code``."""
    return bool(_HEX16_RE.match(code)) and fingerprint in slot_fingerprints(code)


def namespace(model_version: str, fingerprint_version: int) -> str:
    return f"{validate_model_version(model_version)}/fp{fingerprint_version}"
