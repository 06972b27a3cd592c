"""What the cache remembers about *uploads*, not videos: exact repeats and recent failures.

Exact repeats: an upload that carries an S3 SHA-256 checksum is answered
from ``(checksum, prompt)`` before anything is downloaded or decoded. Same
bytes, prompt and model mean the same deliverables, so the earlier job's
outputs are copied server-side (no mux, no packaging); if they have expired,
only the mux and packaging run again. The record lives in Redis (hot) and
DynamoDB (durable), under the model and fingerprint version, so a new
version never reuses it.

Recent failures (negative cache): an input that failed permanently (bad
video, over a limit, rejected by the model) is remembered for a short TTL,
so identical repeats fail fast instead of downloading, decoding, or
burning the GPU again. Only permanent errors are remembered; transient ones
are retried.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from foleycache.core import errors
from foleycache.core.errors import FoleyError, StorageUnavailable
from foleycache.core.keys import namespace
from foleycache.usecases.services import Services


def _sha_hex(sha256_b64: str) -> str:
    try:
        return base64.b64decode(sha256_b64, validate=True).hex()
    except (binascii.Error, ValueError):
        return ""


def exact_scope(
    model_version: str, fingerprint_version: int, sha256_b64: str, prompt_digest: str
) -> str:
    return f"{namespace(model_version, fingerprint_version)}:{_sha_hex(sha256_b64)}:{prompt_digest}"


@dataclass(frozen=True, slots=True)
class ExactRecord:
    """What an earlier job with the same bytes and prompt produced."""

    fingerprint: str
    outputs: dict[str, str]  # uploads-bucket keys of its deliverables

    def to_json(self) -> str:
        return json.dumps({"fingerprint": self.fingerprint, "outputs": self.outputs})

    @classmethod
    def from_json(cls, text: str | bytes) -> ExactRecord:
        body = json.loads(text)
        return cls(str(body["fingerprint"]), dict(body.get("outputs", {})))


def find_exact(services: Services, scope: str) -> ExactRecord | None:
    raw: str | bytes | None = None
    if services.hot is not None:
        try:
            raw = services.hot.get(f"fc:{scope}:x", services.settings.l1_ttl_s)
        except StorageUnavailable:
            services.metrics.count("L1Unavailable")
    if raw is None and services.catalog is not None:
        raw = services.catalog.exact_get(scope)
    return ExactRecord.from_json(raw) if raw else None


def remember_exact(services: Services, scope: str, record: ExactRecord) -> None:
    body = record.to_json()
    if services.hot is not None:
        try:
            services.hot.set(f"fc:{scope}:x", body.encode(), services.settings.l1_ttl_s)
        except StorageUnavailable:
            services.metrics.count("L1Unavailable")
    if services.catalog is not None:
        services.catalog.exact_put(scope, body)


def _failure_key(model_version: str, sha256_b64: str, prompt_digest: str) -> str:
    return f"fc:neg:{model_version}:{_sha_hex(sha256_b64)}:{prompt_digest}"


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
    try:
        services.hot.set(
            _failure_key(services.settings.model_version, sha256_b64, prompt_digest),
            body,
            max(1, services.settings.negative_ttl_s),
        )
    except StorageUnavailable:
        services.metrics.count("L1Unavailable")


def remembered_failure(
    services: Services, sha256_b64: str, prompt_digest: str
) -> FoleyError | None:
    if services.hot is None or not sha256_b64 or services.settings.negative_ttl_s == 0:
        return None
    try:
        raw = services.hot.get(
            _failure_key(services.settings.model_version, sha256_b64, prompt_digest),
            services.settings.negative_ttl_s,
        )
    except StorageUnavailable:
        return None
    if raw is None:
        return None
    body = json.loads(raw)
    cls = _error_classes().get(body["code"], FoleyError)
    services.metrics.count("NegativeHit")
    return cls(f"{body['message']} (remembered: this upload and prompt failed recently)")
