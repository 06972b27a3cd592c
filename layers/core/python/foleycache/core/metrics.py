"""The metrics catalogue: every metric the code emits, its unit and its dimensions.

Why one module: the dashboard and the alarms in ``template.yaml`` name metrics by
string, and a metric renamed in the code would leave a graph flat and an alarm silent
without any error. Every emit passes a :class:`Metric` from here (``services.metrics.emit(
metrics.HIT, Tier="l1")``), never a string; ``tests/unit/test_metrics_catalogue.py``
scans the code (AST) for every emit and fails on a literal name, and fails when the
template names a metric of our namespace that no emit uses.

Dimensions are few and fixed per metric (CloudWatch identifies a metric by name *and*
its whole dimension set, so a dashboard must name the same set): ``Tier`` (where a
job's sound came from), ``Stage`` (the stage a job failed in), ``Class`` (the kind of
bad input refused), ``Action`` (what a prewarm did with a manifest row) and
``ModelVersion`` (the version that served a job, on the ``...ByVersion`` metrics only:
a canary's two sides are compared by it, while the dashboard's and alarms' metrics keep
their version-free dimension sets, valid across a promotion). Powertools adds
``service`` to each.

Job-level timings, measured from the job record's ``created_at`` (the API's
``POST /v1/jobs`` or the upload's S3 event reaching ingest):

* **time to result** (:data:`TIME_TO_RESULT`): until the job's record says
  ``succeeded``, every deliverable (WAV, MP4, DASH and HLS) written;
* **time to first byte of sound** (:data:`TIME_TO_FIRST_SOUND`): until this job's Foley
  WAV exists in the cache and the job knows its key: the first moment its sound could be
  read. For a hit that is the lookup (or the exact-bytes check), for a miss the
  endpoint's notification; the rest of time to result is mux and packaging.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Unit(StrEnum):
    """CloudWatch units (the values Powertools' ``MetricUnit`` takes)."""

    COUNT = "Count"
    SECONDS = "Seconds"
    MILLISECONDS = "Milliseconds"
    BYTES = "Bytes"


class Dimension(StrEnum):
    TIER = "Tier"
    STAGE = "Stage"
    CLASS = "Class"
    MODEL_VERSION = "ModelVersion"
    ACTION = "Action"


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    unit: Unit
    dimensions: tuple[Dimension, ...] = ()

    def check(self, dimensions: dict[str, str]) -> None:
        """Refuse an emit whose dimensions differ from the catalogue's (a dashboard would
        never see it)."""
        if set(dimensions) != {d.value for d in self.dimensions}:
            raise ValueError(
                f"{self.name} takes dimensions {[d.value for d in self.dimensions]}, "
                f"not {sorted(dimensions)}"
            )


#: Where a hit's sound came from; ``partial``: reuse across cuts (shared spans reused, the
#: rest generated; its saved seconds are the reused ones). A tier added here must be
#: added to the dashboard's hit-ratio graph and alarm too (the template test reads this).
HIT_TIERS: tuple[str, ...] = ("exact", "l1", "l2", "near", "partial")
#: The ``Tier`` of a job whose sound was generated.
MISS_TIER = "miss"
#: The stages a job can fail in (the job record's stage when it failed).
FAILURE_STAGES: tuple[str, ...] = ("fingerprint", "lookup", "lease", "inference", "mux", "package")

_T = (Dimension.TIER,)
_V = (Dimension.MODEL_VERSION,)

# --- one per finished job (the hit ratio, what it saved) ------------------------------
#: A job served from the cache, by tier.
HIT = Metric("JobHit", Unit.COUNT, _T)
#: A job whose sound the model generated.
MISS = Metric("JobMiss", Unit.COUNT)
#: See the module docstring; ``Tier`` is a hit tier or ``miss``.
TIME_TO_RESULT = Metric("TimeToResult", Unit.SECONDS, _T)
TIME_TO_FIRST_SOUND = Metric("TimeToFirstSound", Unit.SECONDS, _T)
#: Seconds of sound asked of the model, per run started.
INFERENCE_SECONDS_ASKED = Metric("InferenceSecondsAsked", Unit.SECONDS)
#: Seconds of sound a hit served without a run (what the model was not asked for).
INFERENCE_SECONDS_SAVED = Metric("InferenceSecondsSaved", Unit.SECONDS, _T)
#: The endpoint's own measure of a finished run (GPU seconds spent).
GPU_SECONDS = Metric("GpuSeconds", Unit.SECONDS)
#: A job that failed in a stage, for a reason other than its input.
JOB_FAILED = Metric("JobFailed", Unit.COUNT, (Dimension.STAGE,))
#: Bad input refused (pipeline or API), by error code.
REJECTED = Metric("Rejected", Unit.COUNT, (Dimension.CLASS,))
#: Every job that ended, succeeded or failed: the failure rate's denominator.
JOB_FINISHED = Metric("JobFinished", Unit.COUNT)
INSTANT_ANSWER = Metric("InstantAnswer", Unit.COUNT)

# --- by the model version that served the job (stable or canary candidate) -------------
#: A succeeded job by version and tier (a hit tier or ``miss``): each side's hit ratio.
JOB_BY_VERSION = Metric("JobByVersion", Unit.COUNT, (Dimension.MODEL_VERSION, Dimension.TIER))
#: A job that failed for a reason other than its input, by version.
JOB_FAILED_BY_VERSION = Metric("JobFailedByVersion", Unit.COUNT, _V)
#: :data:`TIME_TO_RESULT` by version (all tiers together).
TIME_TO_RESULT_BY_VERSION = Metric("TimeToResultByVersion", Unit.SECONDS, _V)
#: An inference run started, by the version whose endpoint runs it.
INFERENCE_CALL_BY_VERSION = Metric("InferenceCallByVersion", Unit.COUNT, _V)

# --- coalescing ----------------------------------------------------------------------------
LEASE_WAIT = Metric("LeaseWait", Unit.COUNT)
#: From a job's first lease attempt to the holder resuming it with the result.
LEASE_WAIT_SECONDS = Metric("LeaseWaitSeconds", Unit.SECONDS)
#: A lease taken from a holder whose time ran out (it died, or its run outlived the lease).
LEASE_TAKEOVER = Metric("LeaseTakeover", Unit.COUNT)
LEASE_WAITERS_RESUMED = Metric("LeaseWaitersResumed", Unit.COUNT)

# --- media ---------------------------------------------------------------------------------
#: CPU seconds (user + system) of the mux step's ffmpeg runs: the one encode, or a copy.
ENCODE_CPU_SECONDS = Metric("EncodeCpuSeconds", Unit.SECONDS)
#: CPU seconds of repackaging the MP4 as DASH and HLS.
REPACKAGE_CPU_SECONDS = Metric("RepackageCpuSeconds", Unit.SECONDS)

# --- inference -----------------------------------------------------------------------------
INFERENCE_CALL = Metric("InferenceCall", Unit.COUNT)
INFERENCE_START_RETRIED = Metric("InferenceStartRetried", Unit.COUNT)

# --- the cache's reads (per read, not per job: a job may read more than once) -------------
L1_READ_HIT = Metric("L1Hit", Unit.COUNT)
L2_READ_HIT = Metric("L2Hit", Unit.COUNT)
READ_MISS = Metric("Miss", Unit.COUNT)
L1_HIT_BYTES = Metric("L1HitBytes", Unit.BYTES)
L2_HIT_BYTES = Metric("L2HitBytes", Unit.BYTES)
LOOKUP_LATENCY = Metric("LookupLatency", Unit.MILLISECONDS)
EXACT_MATCH = Metric("ExactHit", Unit.COUNT)
#: An upload whose fingerprint the library knew (no decode), under any model version.
FINGERPRINT_FROM_LIBRARY = Metric("FingerprintFromLibrary", Unit.COUNT)
NEAR_MATCH = Metric("NearHit", Unit.COUNT)
NEAR_CANDIDATES = Metric("NearCandidates", Unit.COUNT)
#: A verified near copy of a known video with no sound under this model version yet.
NEAR_KNOWN_WITHOUT_SOUND = Metric("NearKnownWithoutSound", Unit.COUNT)
NEAR_REJECTED = Metric("NearRejected", Unit.COUNT)
#: A verified near match whose pictures align only at a shift (its sound would be out of
#: sync): left to the span search.
NEAR_SHIFTED_REJECTED = Metric("NearShiftedRejected", Unit.COUNT)
#: Reuse across cuts: stored videos the span index voted for, per lookup that got there.
SPAN_CANDIDATES = Metric("SpanCandidates", Unit.COUNT)
#: A span candidate whose spans failed verification.
SPAN_REJECTED = Metric("SpanRejected", Unit.COUNT)
#: A lookup that planned a partial result (verified spans reused).
SPAN_PLAN = Metric("SpanPlan", Unit.COUNT)
KEY_COLLISION_REJECTED = Metric("KeyCollisionRejected", Unit.COUNT)
#: A key slot of this video's code that the library says is another video's (the video
#: takes the next slot).
KEY_SLOT_TAKEN = Metric("KeySlotTaken", Unit.COUNT)
NEGATIVE_HIT = Metric("NegativeHit", Unit.COUNT)
DROP_WITHOUT_PROMPT = Metric("DropWithoutPrompt", Unit.COUNT)

# --- degraded stores -----------------------------------------------------------------------
L1_UNAVAILABLE = Metric("L1Unavailable", Unit.COUNT)
NEAR_INDEX_UNAVAILABLE = Metric("NearIndexUnavailable", Unit.COUNT)

# --- maintenance ---------------------------------------------------------------------------
#: One per archival run that finished (the "archival not run" alarm watches it).
ARCHIVAL_RUN = Metric("ArchivalRun", Unit.COUNT)
ARCHIVED = Metric("Archived", Unit.COUNT)
#: Entries of retired model versions archived by the retirement sweep.
ARCHIVED_RETIRED = Metric("ArchivedRetired", Unit.COUNT)
#: Hit-day partitions an archival run processed (more than one: it caught up).
ARCHIVAL_DAYS = Metric("ArchivalDays", Unit.COUNT)
#: A prewarm manifest row decided, by ``Action`` (cached, done, run, failed, no-source).
PREWARM_ITEM = Metric("PrewarmItem", Unit.COUNT, (Dimension.ACTION,))
INVALIDATED_L1_KEYS = Metric("InvalidatedL1Keys", Unit.COUNT)
INVALIDATED_L2_OBJECTS = Metric("InvalidatedL2Objects", Unit.COUNT)


def catalogue() -> dict[str, Metric]:
    """Every metric defined here, by name."""
    found = {m.name: m for m in globals().values() if isinstance(m, Metric)}
    return dict(sorted(found.items()))
