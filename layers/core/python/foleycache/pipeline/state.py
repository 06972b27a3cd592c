"""The typed state that flows between the Step Functions states.

One model for the whole pipeline instead of untyped dicts: each step
validates what it receives and returns a copy with its own fields set, so a
missing or misspelt field fails loudly at the step that needs it. The state
stays small (well under the 256 KB limit): media travel as S3 references.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from foleycache.core.job import CacheOutcome
from foleycache.core.keys import CacheKey

NextStep = Literal["", "lookup", "lease", "infer", "mux", "done"]


def merge_resumed(data: Any) -> Any:
    """A task resumed by another job (``.waitForTaskToken``) gets only the fields that job
    knows (``$.resumed``); they are merged into this job's own state here."""
    if isinstance(data, dict) and isinstance(data.get("resumed"), dict):
        data = {**data, **data["resumed"]}
        data.pop("resumed")
    return data


#: What a resumed task may set (a waiting task's output lands in ``$.resumed``).
RESUMABLE = (
    "next",
    "lease_token",
    "cache",
    "audio_key",
    "served_fingerprint",
    "timings_ms",
    "sound_at",
    "lease_resumed_at",
    "slot_rechecks",
)


class PipelineState(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _merge_resumed(cls, data: Any) -> Any:
        return merge_resumed(data)

    job_id: str
    bucket: str
    key: str

    fingerprint: str = ""
    fingerprint_version: int = 0
    prompt_md5: str = ""
    #: The version that serves this job: set in the execution input by a prewarm (pinned),
    #: else chosen at the fingerprint step by the canary split (:mod:`foleycache.core.rollout`).
    model_version: str = ""
    #: False for a prewarm: only the cache entry is wanted, so no mux and no packaging.
    deliver: bool = True
    cache_key: str = ""
    duration_s: float = 0.0
    # Fingerprint.to_dict(): ~3 KB + 11 bytes per second of video, well inside the state
    # limit; it travels with the state so a cache hit is verified without another read.
    fingerprint_data: dict[str, Any] = Field(default_factory=dict)
    sha256: str = ""  # the upload's S3 SHA-256 checksum (base64), when it carried one
    #: What the deliverable does with the source audio (replace | mix | add): part of the
    #: deliverable's identity, not of the sound's (the cache key does not carry it).
    audio_mode: str = "replace"
    #: media.preflight's plan, decided before inference (copy or encode, and why).
    media_plan: dict[str, Any] = Field(default_factory=dict)
    #: Uploads-bucket keys of the lower ABR rungs the one encode wrote, largest first.
    rungs: list[str] = Field(default_factory=list)

    #: cache.span_plan.SpanPlan.to_dict(): verified spans reused, the rest to generate
    #: (reuse across cuts); empty for a whole-video run.
    span_plan: dict[str, Any] = Field(default_factory=dict)
    cache: CacheOutcome | None = None  # once the audio is known
    audio_key: str = ""  # cache-bucket key of the Foley WAV
    served_fingerprint: str = ""  # fingerprint of the entry that served a hit
    lease_token: str = ""
    next: NextStep = ""
    outputs: dict[str, str] = Field(default_factory=dict)
    timings_ms: dict[str, float] = Field(default_factory=dict)  # of the fast, unannounced stages
    #: When this job's sound became readable (epoch s): time to first byte of sound.
    sound_at: float = 0.0
    #: When this job first went for the lease, and when a holder resumed it (epoch s):
    #: the lease wait.
    lease_from: float = 0.0
    lease_resumed_at: float = 0.0
    #: Times the lease step sent this job back to look again because its key slot had
    #: become another video's (``resolve._settled_meanwhile``): a bound, never a loop.
    slot_rechecks: int = 0

    def entry_key(self) -> CacheKey:
        """The cache key this job reads and fills. (Not ``key()``: the ``key`` field is the
        upload's S3 key, which the state machine's input names.)"""
        return CacheKey(
            self.fingerprint, self.prompt_md5, self.model_version, self.fingerprint_version
        )

    def after_audio(self) -> NextStep:
        """Where a job goes once its audio is known: deliver it, or (a prewarm) end."""
        return "mux" if self.deliver else "done"

    def served_key(self) -> CacheKey | None:
        """The key of the entry that served a hit (a near hit's is another video's)."""
        if not self.served_fingerprint:
            return None
        return CacheKey(
            self.served_fingerprint, self.prompt_md5, self.model_version, self.fingerprint_version
        )


class WaitingTask(BaseModel):
    """The input of a ``.waitForTaskToken`` task: the state, and the token to resume."""

    state: PipelineState
    task_token: str = Field(min_length=1)


def resumption(state: PipelineState) -> dict[str, Any]:
    """The part of ``state`` a resumed task hands back (see :data:`RESUMABLE`)."""
    return state.model_dump(mode="json", include=set(RESUMABLE))


class StepFailure(BaseModel):
    """What a Step Functions ``Catch`` hands the failure step (``ResultPath: $.failure``)."""

    Error: str = "States.TaskFailed"
    Cause: str = ""


class FailedState(BaseModel):
    """The state a failure step gets: the whole state (what the job had reached) and the
    failure. A job that held the lease has ``lease_token`` and its key's fields."""

    model_config = ConfigDict(extra="ignore")

    job_id: str
    failure: StepFailure = Field(default_factory=StepFailure)
    lease_token: str = ""
    fingerprint: str = ""
    prompt_md5: str = ""
    model_version: str = ""
    fingerprint_version: int = 0
    #: Where the job had got to (which stage's input this state was): see ``failed_stage``.
    next: str = ""
    outputs: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _merge_resumed(cls, data: Any) -> Any:
        return merge_resumed(data)

    def held_lease_key(self) -> CacheKey | None:
        if not (self.lease_token and self.fingerprint and self.prompt_md5):
            return None
        return CacheKey(
            self.fingerprint, self.prompt_md5, self.model_version, self.fingerprint_version
        )

    def failed_stage(self) -> str:
        """The stage that failed, read from the state it was given: each step hands the
        next its own ``next`` (fingerprint gets "", lookup "lookup", lease "lease",
        inference "infer", mux "mux"; package gets mux's output, with the MP4)."""
        if self.next == "mux":
            if "dash" in self.outputs:
                return "finish"
            return "package" if "video" in self.outputs else "mux"
        return {"": "fingerprint", "lookup": "lookup", "lease": "lease", "infer": "inference"}.get(
            self.next, "finish"
        )
