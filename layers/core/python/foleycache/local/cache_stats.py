"""``foleycache cache stats``: the cache's metrics for the local stack.

The handlers publish metrics with Powertools in CloudWatch's Embedded Metric
Format: JSON lines on stdout, which in the local stack land in
``stack.log``. This reads them back exactly as CloudWatch would, and adds
Redis's own view of L1.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import redis

COUNTS = (
    "ExactHit",
    "L1Hit",
    "L2Hit",
    "NearHit",
    "Miss",
    "InferenceCall",
    "NegativeHit",
    "LeaseWait",
    "L1Unavailable",
    "NearRejected",
    "JobFailed",
)


def read_emf(log: Path) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    if not log.exists():
        return values
    with log.open(errors="replace") as lines:
        for line in lines:
            if not line.startswith('{"_aws"'):
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            for directive in record["_aws"].get("CloudWatchMetrics", []):
                for metric in directive.get("Metrics", []):
                    raw = record.get(metric["Name"], [])
                    values.setdefault(metric["Name"], []).extend(
                        raw if isinstance(raw, list) else [raw]
                    )
    return values


def summarise(values: dict[str, list[float]], redis_url: str) -> dict[str, Any]:
    counts = {name: int(sum(values.get(name, []))) for name in COUNTS}
    hits = counts["ExactHit"] + counts["L1Hit"] + counts["L2Hit"] + counts["NearHit"]
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
