"""What the cache remembers about *uploads*, not videos: exact repeats and recent failures.

Exact repeats: an upload that carries an S3 SHA-256 checksum is answered
from ``(checksum, prompt)`` before anything is decoded. The record lives in
Redis (hot) and DynamoDB (durable), in the fingerprint library (per
fingerprint version, shared by every model version): it names the fingerprint
the bytes are known by, so a new model version skips decoding too. Same bytes,
prompt *and model version* mean the same deliverables, so the earlier job's
outputs are copied server-side (no mux, no packaging) only when the record's
``model_version`` is the job's: a record holds the deliverables of the last
version that made them, and never lends them to another.

Recent failures (negative cache): an input that failed permanently (bad
video, over a limit, rejected by the model) is remembered for a short TTL,
so identical repeats fail fast instead of downloading, decoding, or
burning the GPU again. Only permanent errors are remembered; transient ones
are retried.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from foleycache.cache import names
from foleycache.core import errors
from foleycache.core import metrics as M
from foleycache.core.errors import FoleyError
from foleycache.services import Services


@dataclass(frozen=True, slots=True)
class ExactRecord:
    """What an earlier job with the same bytes and prompt produced."""

    fingerprint: str  # the key (code or key slot) these bytes are known by in the library
    outputs: dict[str, str]  # uploads-bucket keys of its deliverables
    model_version: str = ""  # whose sound the outputs carry
    #: ``record_digest`` of the library's record under that key when this was written:
    #: the record may since be another video's (every slot of a code taken, the code's
    #: own key overwritten), and then these bytes are not that video. "" (older records):
    #: not trusted, the bytes are decoded.
    library_digest: str = ""
    #: The 64-bit code of that record (the canary split is keyed on codes, not slots).
    code: str = ""

    def to_json(self) -> str:
        return json.dumps(
            {
                "fingerprint": self.fingerprint,
                "outputs": self.outputs,
                "model_version": self.model_version,
                "library_digest": self.library_digest,
                "code": self.code,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ExactRecord:
        body = json.loads(text)
        return cls(
            str(body["fingerprint"]),
            dict(body.get("outputs", {})),
            str(body.get("model_version", "")),
            str(body.get("library_digest", "")),
            str(body.get("code", "")),
        )

    @property
    def split_code(self) -> str:
        """The code the canary split routes these bytes by."""
        return self.code or self.fingerprint

    def names(self, library_record: Mapping[str, Any] | None) -> bool:
        """Whether ``library_record`` is still the one these bytes were recorded with."""
        return bool(self.library_digest) and (
            library_record is not None and record_digest(library_record) == self.library_digest
        )

    def outputs_for(self, model_version: str) -> dict[str, str]:
        """The deliverables, if they carry this model version's sound; else {}."""
        return dict(self.outputs) if self.model_version == model_version else {}


def record_digest(record: Mapping[str, Any]) -> str:
    """SHA-256 of a library record's canonical JSON."""
    body = json.dumps(dict(record), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def find_exact(services: Services, scope: str) -> ExactRecord | None:
    raw: str | bytes | None = None
    if services.hot is not None:
        raw = services.hot.get(names.redis_exact_record(scope), services.settings.l1_ttl_s)
    if raw is None and services.catalog is not None:
        raw = services.catalog.exact_get(scope)
    return ExactRecord.from_json(raw) if raw else None


def remember_exact(services: Services, scope: str, record: ExactRecord) -> None:
    body = record.to_json()
    if services.hot is not None:
        services.hot.set(names.redis_exact_record(scope), body.encode(), services.settings.l1_ttl_s)
    if services.catalog is not None:
        services.catalog.exact_put(scope, body)


def _error_classes() -> dict[str, type[FoleyError]]:
    found: dict[str, type[FoleyError]] = {}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, FoleyError):
            found[value.code] = value
    return found


def is_permanent(code: str) -> bool:
    cls = _error_classes().get(code)
    return (
        cls is not None
        and not cls.retryable
        and issubclass(cls, errors.InvalidInput | errors.InferenceFailed)
    )


def remember_failure(
    services: Services, sha256_b64: str, prompt_digest: str, code: str, message: str
) -> None:
    if services.hot is None or not sha256_b64 or not is_permanent(code):
        return
    body = json.dumps({"code": code, "message": message}).encode()
    services.hot.set(
        names.redis_failure(services.settings.model_version, sha256_b64, prompt_digest),
        body,
        max(1, services.settings.negative_ttl_s),
    )


def remembered_failure(
    services: Services, sha256_b64: str, prompt_digest: str
) -> FoleyError | None:
    if services.hot is None or not sha256_b64 or services.settings.negative_ttl_s == 0:
        return None
    raw = services.hot.get(
        names.redis_failure(services.settings.model_version, sha256_b64, prompt_digest),
        services.settings.negative_ttl_s,
    )
    if raw is None:
        return None
    body = json.loads(raw)
    cls = _error_classes().get(body["code"], FoleyError)
    services.metrics.emit(M.NEGATIVE_HIT)
    return cls(f"{body['message']} (remembered: this upload and prompt failed recently)")
