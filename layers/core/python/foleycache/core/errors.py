"""Typed errors of the core.

Every failure a job can meet has a class here, so handlers map errors to
responses and job records in one place, and adapters translate AWS error
codes into these instead of leaking ``ClientError`` upwards.

``code`` is stable and machine-readable (it lands in job records and in
Step Functions ``Error`` names); ``str(err)`` is the human sentence.
"""

from __future__ import annotations


class FoleyError(Exception):
    """Base of every error the core raises on purpose."""

    code = "FoleyError"
    #: Whether a retry of the same request can succeed (drives Step Functions retries
    #: and the negative cache: permanent failures are remembered, transient ones are not).
    retryable = False


class InvalidInput(FoleyError):
    """The request itself is wrong: no retry will help."""

    code = "InvalidInput"


class InvalidVideo(InvalidInput):
    """The upload is not a decodable video (empty, corrupt, not a video, no video stream)."""

    code = "InvalidVideo"


class VideoTooLarge(InvalidInput):
    """The upload exceeds a configured size, duration or resolution limit."""

    code = "VideoTooLarge"


class InvalidPrompt(InvalidInput):
    """The prompt is empty, too long or not text."""

    code = "InvalidPrompt"


class LeaseError(FoleyError):
    """Base of the coalescing lease protocol's errors."""

    code = "LeaseError"


class LeaseHeld(LeaseError):
    """Someone else holds an unexpired lease on this cache key."""

    code = "LeaseHeld"

    def __init__(self, key: str, owner: str | None = None, expires_at: float | None = None):
        super().__init__(f"lease on {key} is held by {owner or 'another worker'}")
        self.key = key
        self.owner = owner
        self.expires_at = expires_at


class LeaseNotOwned(LeaseError):
    """A release or extend was attempted with a token that no longer owns the lease."""

    code = "LeaseNotOwned"


class InferenceFailed(FoleyError):
    """The Foley model could not produce audio for this input."""

    code = "InferenceFailed"
    retryable = True


class EndpointUnavailable(InferenceFailed):
    """The endpoint is throttling or failing right now; the same request can succeed later."""

    code = "EndpointUnavailable"
    retryable = True


class ModelVersionMismatch(InferenceFailed):
    """The endpoint serves another model version than the one the cache key names.

    Storing its audio under our key would poison the namespace, so this is fatal.
    """

    code = "ModelVersionMismatch"
    retryable = False


class MediaError(FoleyError):
    """ffmpeg failed on an input that had passed validation."""

    code = "MediaError"


class ToolMissing(FoleyError):
    """A required executable or server is not installed."""

    code = "ToolMissing"


class NotFound(FoleyError):
    """The job, cache entry or object asked for does not exist."""

    code = "NotFound"


class StorageUnavailable(FoleyError):
    """A storage tier did not answer; callers decide whether to degrade."""

    code = "StorageUnavailable"
    retryable = True


def rejection_codes() -> frozenset[str]:
    """The codes of bad input (every :class:`InvalidInput`, wherever it is defined): a job
    that fails with one was refused, it did not break."""
    found: set[str] = set()
    pending: list[type[FoleyError]] = [InvalidInput]
    while pending:
        cls = pending.pop()
        found.add(cls.code)
        pending.extend(cls.__subclasses__())
    return frozenset(found)
