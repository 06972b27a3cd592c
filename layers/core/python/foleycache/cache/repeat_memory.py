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

import json
from dataclasses import dataclass

from foleycache.cache import names
from foleycache.core import errors
from foleycache.core import metrics as M
from foleycache.core.errors import FoleyError
from foleycache.services import Services


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
