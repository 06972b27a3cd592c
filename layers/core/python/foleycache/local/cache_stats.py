"""``foleycache cache stats`` and ``foleycache jobs list``: the local stack's numbers.

The handlers publish metrics with Powertools in CloudWatch's Embedded Metric
Format: JSON lines on stdout, which in the local stack land in
``stack.log``. This reads them back exactly as CloudWatch would, and adds
Redis's own view of L1. ``jobs list`` reads the job records instead; both
summarise finished jobs in the same shape (:func:`jobs_from_metrics`,
:func:`jobs_from_records`), so the two commands can be checked against each other.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

from foleycache.core import metrics as M
from foleycache.core.errors import rejection_codes
from foleycache.core.job import JobRecord, JobStatus

Point = tuple[str, float, dict[str, str]]

#: Per-read counters of the cache (a job may read more than once), from the catalogue.
COUNTS = tuple(
    m.name
    for m in (
        M.EXACT_MATCH,
        M.L1_READ_HIT,
        M.L2_READ_HIT,
        M.NEAR_MATCH,
        M.READ_MISS,
        M.INFERENCE_CALL,
        M.NEGATIVE_HIT,
        M.LEASE_WAIT,
        M.LEASE_TAKEOVER,
        M.INSTANT_ANSWER,
        M.L1_UNAVAILABLE,
        M.NEAR_REJECTED,
        M.JOB_FAILED,
    )
)


def _emf_directives(*logs: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(record, CloudWatchMetrics directive) for every EMF line of ``logs``; other lines and
    unparseable ones are skipped, as CloudWatch skips them."""
    for log in logs:
        if not log.exists():
            continue
        with log.open(errors="replace") as lines:
            for line in lines:
                if not line.startswith('{"_aws"'):
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                for directive in record["_aws"].get("CloudWatchMetrics", []):
                    yield record, directive


def _values(record: dict[str, Any], name: str) -> list[Any]:
    """A metric's values in one record (EMF allows one value or a list)."""
    raw = record.get(name, [])
    return raw if isinstance(raw, list) else [raw]


def read_emf(*logs: Path) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    for record, directive in _emf_directives(*logs):
        for metric in directive.get("Metrics", []):
            values.setdefault(metric["Name"], []).extend(_values(record, metric["Name"]))
    return values


def read_points(*logs: Path) -> list[Point]:
    """Every EMF value with its dimensions (``service`` left out)."""
    points: list[Point] = []
    for record, directive in _emf_directives(*logs):
        dims = {
            d: str(record.get(d, ""))
            for group in directive.get("Dimensions", [])
            for d in group
            if d != "service"
        }
        for metric in directive.get("Metrics", []):
            for value in _values(record, metric["Name"]):
                points.append((metric["Name"], float(value), dims))
    return points


def _tiers() -> dict[str, int]:
    return {tier: 0 for tier in (*M.HIT_TIERS, M.MISS_TIER)}


def _ratio(by_tier: dict[str, int]) -> float | None:
    total = sum(by_tier.values())
    return round(1 - by_tier[M.MISS_TIER] / total, 4) if total else None


def _jobs_summary(by_tier: dict[str, int], failed: int, rejected: int) -> dict[str, Any]:
    """The one shape both job summaries share, so the two commands can be compared."""
    return {
        "by_tier": by_tier,
        "hit_ratio": _ratio(by_tier),
        "failed": failed,
        "rejected": rejected,
    }


def _quantiles(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0, "p50": None, "p99": None}
    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 3),
        "p99": round(ordered[int(0.99 * (len(ordered) - 1))], 3),
    }


def jobs_from_metrics(points: list[Point]) -> dict[str, Any]:
    """Finished jobs as the metrics count them: per tier, failed by stage, rejected."""
    by_tier, failed, rejected = _tiers(), 0, 0
    for name, value, dims in points:
        if name == M.HIT.name:
            by_tier[dims["Tier"]] = by_tier.get(dims["Tier"], 0) + int(value)
        elif name == M.MISS.name:
            by_tier[M.MISS_TIER] += int(value)
        elif name == M.JOB_FAILED.name:
            failed += int(value)
        elif name == M.REJECTED.name:
            rejected += int(value)
    return _jobs_summary(by_tier, failed, rejected)


def jobs_from_records(jobs: list[JobRecord]) -> dict[str, Any]:
    """Finished jobs as their records say, in :func:`jobs_from_metrics`' shape."""
    by_tier, failed, rejected = _tiers(), 0, 0
    refusals = rejection_codes()
    for job in jobs:
        if job.status is JobStatus.SUCCEEDED:
            tier = job.cache or M.MISS_TIER
            by_tier[tier] = by_tier.get(tier, 0) + 1
        elif job.status is JobStatus.FAILED:
            if job.error.get("code", "") in refusals:
                rejected += 1
            else:
                failed += 1
    return _jobs_summary(by_tier, failed, rejected)


def job_timings(points: list[Point]) -> dict[str, Any]:
    """p50/p99 of time to result and to first sound, per tier (seconds)."""
    out: dict[str, Any] = {}
    for metric in (M.TIME_TO_RESULT, M.TIME_TO_FIRST_SOUND):
        per_tier: dict[str, list[float]] = {}
        for name, value, dims in points:
            if name == metric.name:
                per_tier.setdefault(dims["Tier"], []).append(value)
        out[metric.name] = {tier: _quantiles(v) for tier, v in sorted(per_tier.items())}
    return out


def summarise(values: dict[str, list[float]], redis_url: str) -> dict[str, Any]:
    counts = {name: int(sum(values.get(name, []))) for name in COUNTS}
    hits = sum(counts[m.name] for m in (M.EXACT_MATCH, M.L1_READ_HIT, M.L2_READ_HIT, M.NEAR_MATCH))
    lookups = sorted(values.get("LookupLatency", []))
    out: dict[str, Any] = {
        "counts": counts,
        "hit_ratio": round(hits / (hits + counts["Miss"]), 4) if hits + counts["Miss"] else None,
        "lookup_latency_ms": {
            "n": len(lookups),
            "p50": round(statistics.median(lookups), 3) if lookups else None,
            "p99": round(lookups[int(0.99 * (len(lookups) - 1))], 3) if lookups else None,
        },
        "bytes": {
            "l1_hits": int(sum(values.get("L1HitBytes", []))),
            "l2_hits": int(sum(values.get("L2HitBytes", []))),
        },
    }
    try:
        info = redis.Redis.from_url(redis_url, socket_timeout=1).info()
        out["redis"] = {
            k: info.get(k)
            for k in (
                "used_memory_human",
                "maxmemory_policy",
                "keyspace_hits",
                "keyspace_misses",
                "evicted_keys",
                "expired_keys",
            )
        }
        out["redis"]["keys"] = sum(v.get("keys", 0) for k, v in info.items() if k.startswith("db"))
    except redis.RedisError as exc:
        out["redis"] = {"error": str(exc)}
    return out
