"""Rollout benchmark: switching the model version halfway through a replay, three ways.

Run: ``.venv/bin/python bench/replay_rollout.py [--requests N] [--top K] [--seed S]``
Writes ``bench/results/replay_rollout.json`` and prints a table.

The workload is the replay benchmark's at seed 000's 75 % repeat mix (same distinct
videos, near-duplicate re-encodes and prompts, see ``bench/replay_bench.py``), run on
the same real parts (moto's server, a real ``redis-server``, the product's use cases in
state-machine order, a counting stand-in for the GPU). Halfway through, the version
changes from ``v1`` to ``v2``:

- ``plain``: the stable version is switched (``ModelVersion=v2``).
- ``prewarm``: ``v2`` is deployed as a candidate with no traffic, the ``--top`` most-hit
  pairs are generated under it by the prewarm machinery (``top_manifest`` ->
  ``prepare_item`` -> the pipeline with ``deliver: false``), then the switch.
- ``canary``: ``v2`` takes 10 % of the keys at the switch; after ``--canary-requests``
  requests the top pairs are prewarmed and ``v2`` promoted (the documented procedure).
- ``canary_no_prewarm``: the same canary, promoted without the prewarm (for contrast).

A configuration change is a new ``Settings`` over the same stores (a deploy gives each
function new containers that read their settings once). Reported per scenario: the hit
ratio in the ``--window`` requests before and after the switch (and after a promotion),
the GPU calls spent on the prewarm, and the peak inference requests in flight, measured
as the most GPU runs among any ``--in-flight`` consecutive requests (the replay is
sequential; that many requests in flight at once would put that many runs on the
endpoint together). Every served sound is checked to be of the version that served
the request (never ``v1``'s sound once ``v2`` serves a key).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay_bench import (
    DEFAULT_CLIPS,
    SERVED,
    CountingInference,
    InlineWorkflow,
    NearDuplicates,
    Request,
    Stack,
    _waited,
    distinct_videos,
    save_summary,
    shut_down,
    start_stack,
    submit,
    workload,
)

from foleycache.adapters.dynamodb_catalog import DynamoCatalog
from foleycache.adapters.dynamodb_jobs import DynamoJobStore
from foleycache.adapters.dynamodb_leases import DynamoLeaseStore
from foleycache.adapters.dynamodb_near_index import DynamoNearIndex
from foleycache.adapters.dynamodb_pending_runs import DynamoPendingRuns
from foleycache.adapters.dynamodb_versions import DynamoVersionRegistry
from foleycache.adapters.redis_hit_ranking import RedisHitRanking
from foleycache.adapters.redis_hot_cache import RedisHotCache, connect
from foleycache.adapters.redis_near_index import RedisNearIndex
from foleycache.adapters.s3_blobs import S3BlobStore
from foleycache.core.errors import FoleyError
from foleycache.local.template_resources import table_spec
from foleycache.pipeline.fingerprint_upload import fingerprint_upload
from foleycache.pipeline.finish import succeed
from foleycache.pipeline.generate import finish_inference, inference_id, start_inference
from foleycache.pipeline.prewarm import Action, prepare_item, top_manifest
from foleycache.pipeline.resolve import lease_or_wait, lookup
from foleycache.pipeline.state import PipelineState
from foleycache.services import Services
from foleycache.settings import Settings

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "replay_rollout.json"
REPEAT_SHARE = 0.75
V1, V2 = "bench-rollout-v1", "bench-rollout-v2"
SCENARIOS = ("plain", "prewarm", "canary", "canary_no_prewarm")
TARGET = 0.80  # the ratio after the switch, as a share of the ratio before


class Rollout:
    """One scenario's stores, and its services under the configuration of the moment."""

    def __init__(self, stack: Stack, name: str, db: int, work: Path) -> None:
        self.stack = stack
        self.base = {
            "UPLOADS_BUCKET": f"rollout-{name}-uploads",
            "CACHE_BUCKET": f"rollout-{name}-cache",
            "TABLE_NAME": f"rollout-{name}",
            "SAGEMAKER_ENDPOINT_NAME": "rollout-foley",
            "CANDIDATE_ENDPOINT_NAME": "rollout-foley-candidate",
            "REDIS_URL": f"{stack.redis_url}/{db}",
            "WORK_DIR": str(work),
        }
        for bucket in (self.base["UPLOADS_BUCKET"], self.base["CACHE_BUCKET"]):
            stack.s3.create_bucket(Bucket=bucket)
        stack.dynamodb.create_table(TableName=self.base["TABLE_NAME"], **table_spec(stack.template))
        self.redis = connect(self.base["REDIS_URL"])
        self.redis.flushdb()
        self.inference = CountingInference(stack.s3, stack.meter)
        self.services = self.configure(V1)

    def configure(self, stable: str, candidate: str = "", share: float = 0.0) -> Services:
        """A deploy: every function's next container reads these settings."""
        settings = Settings.from_env(
            {
                **self.base,
                "MODEL_VERSION": stable,
                "CANDIDATE_MODEL_VERSION": candidate,
                "CANARY_SHARE": str(share),
            }
        )
        s3, ddb, table = self.stack.s3, self.stack.dynamodb, settings.table_name
        self.services = Services(
            settings=settings,
            uploads=S3BlobStore(s3, settings.uploads_bucket),
            cache_blobs=S3BlobStore(s3, settings.cache_bucket),
            hot=RedisHotCache(self.redis),
            jobs=DynamoJobStore(ddb, table),
            leases=DynamoLeaseStore(ddb, table),
            inference=self.inference,
            workflow=InlineWorkflow(),
            pending=DynamoPendingRuns(ddb, table, time.time),
            catalog=DynamoCatalog(ddb, table),
            hot_index=RedisNearIndex(self.redis, settings.l1_ttl_s),
            durable_index=DynamoNearIndex(ddb, table),
            ranking=RedisHitRanking(self.redis),
            versions=DynamoVersionRegistry(ddb, table),
        )
        return self.services


def run_job(services: Services, state: PipelineState) -> PipelineState:
    """The state machine's cache path, ending at ``mux`` (a request) or ``done`` (a
    prewarm); Mux and Package only copy bytes and are left out, as in the replay."""
    state = fingerprint_upload(services, state)
    if state.next not in ("mux", "done", "lease"):  # known bytes go to the lease
        state = lookup(services, state)
    if state.next not in ("mux", "done"):
        state = _waited(services, state, "lease", lambda: lease_or_wait(services, state, "lease"))
        if state.next == "infer":
            won = state

            def run_once() -> None:
                start_inference(services, won, "infer")
                finish_inference(services, {"inferenceId": inference_id(won.entry_key())})

            state = _waited(services, won, "infer", run_once)
    if state.next not in ("mux", "done"):
        raise AssertionError(f"a sequential replay cannot wait on a lease (next={state.next})")
    return succeed(services, state)


def prewarm(rollout: Rollout, version: str, top: int) -> dict[str, Any]:
    """``foleycache model prewarm --version v2 --top K``, with the machinery's own parts."""
    services = rollout.services
    calls_before = rollout.inference.calls
    manifest = top_manifest(services, top)
    outcomes: dict[str, int] = {}
    for row in manifest.rows:
        plan = prepare_item(services, row, version)
        outcome = plan.action.value
        if plan.action is Action.RUN:
            state = run_job(services, PipelineState.model_validate(plan.execution_input))
            outcome = "generated" if state.cache == "miss" else "cached"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {
        "top": top,
        "rows": len(manifest.rows),
        "missing_source": len(manifest.missing),
        "outcomes": outcomes,
        "gpu_calls": rollout.inference.calls - calls_before,
    }


def serve(rollout: Rollout, req: Request) -> dict[str, Any]:
    services = rollout.services
    settings = services.settings
    key = f"uploads/{req.index:04d}{req.file.suffix}"
    job_id = submit(rollout.stack, services, req.file, key, req.prompt)
    calls = rollout.inference.calls
    row: dict[str, Any] = {**asdict(req), "file": req.file.name}
    try:
        state = run_job(
            services, PipelineState(job_id=job_id, bucket=settings.uploads_bucket, key=key)
        )
    except FoleyError as exc:
        return {**row, "outcome": "failed", "error": str(exc), "gpu": 0}
    served_version = state.audio_key.split("/")[1]  # cache/{version}/fp{n}/...
    return {
        **row,
        "outcome": state.cache,
        "model_version": state.model_version,
        "served_version": served_version,
        "wrong_version": served_version != state.model_version,
        "gpu": rollout.inference.calls - calls,
    }


def ratio(rows: list[dict[str, Any]]) -> float:
    return sum(r["outcome"] in SERVED for r in rows) / len(rows) if rows else 0.0


def peak_in_flight(rows: list[dict[str, Any]], width: int) -> int:
    return max((sum(r["gpu"] for r in rows[i : i + width]) for i in range(len(rows))), default=0)


def run_scenario(
    stack: Stack,
    name: str,
    db: int,
    plan: list[Request],
    work: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:
    rollout = Rollout(stack, name, db, work)
    switch = len(plan) // 2
    promote_at = switch + args.canary_requests if name.startswith("canary") else None
    rows: list[dict[str, Any]] = []
    prewarm_report: dict[str, Any] = {"gpu_calls": 0}
    for req in plan:
        if req.index == switch:
            if name == "plain":
                rollout.configure(V2)
            elif name == "prewarm":
                rollout.configure(V1, V2, 0.0)
                prewarm_report = prewarm(rollout, V2, args.top)
                rollout.configure(V2)
            else:
                rollout.configure(V1, V2, args.canary_share)
        if promote_at is not None and req.index == promote_at:
            if name == "canary":
                prewarm_report = prewarm(rollout, V2, args.top)
            rollout.configure(V2)
        row = serve(rollout, req)
        rows.append(row)
        print(
            f"  {name:<17} #{req.index:03d} {req.kind:<11} {row['outcome']:<6} "
            f"{row.get('model_version', '-'):<17}" + ("  WRONG" if row.get("wrong_version") else "")
        )
    window = args.window
    before = rows[max(0, switch - window) : switch]
    after = rows[switch : switch + window]
    result = {
        "scenario": name,
        "requests": len(rows),
        "switch_at": switch,
        "hit_ratio_before": round(ratio(before), 4),
        "hit_ratio_after": round(ratio(after), 4),
        "after_vs_before": round(ratio(after) / ratio(before), 4) if ratio(before) else None,
        "peak_inference_in_flight_after": peak_in_flight(after, args.in_flight),
        "peak_inference_in_flight_before": peak_in_flight(before, args.in_flight),
        "gpu_calls_after": sum(r["gpu"] for r in after),
        "prewarm": prewarm_report,
        "prewarm_gpu_calls": prewarm_report["gpu_calls"],
        "wrong_version": sum(bool(r.get("wrong_version")) for r in rows),
        "failed": sum(r["outcome"] == "failed" for r in rows),
        "served_by_version_after": {
            v: sum(r.get("model_version") == v for r in after) for v in (V1, V2)
        },
        "rows": rows,
    }
    if promote_at is not None:
        promoted = rows[promote_at : promote_at + window]
        result.update(
            promote_at=promote_at,
            hit_ratio_after_promotion=round(ratio(promoted), 4),
            after_promotion_vs_before=(
                round(ratio(promoted) / ratio(before), 4) if ratio(before) else None
            ),
            requests_after_promotion=len(promoted),
        )
    return result


def table(results: list[dict[str, Any]]) -> str:
    head = (
        "| scenario | hit ratio before | after switch | after / before | after promotion "
        "| peak in flight after (before) | prewarm GPU calls | wrong version |"
    )
    lines = [head, "|" + "---|" * 8]
    for r in results:
        promoted = r.get("hit_ratio_after_promotion")
        lines.append(
            f"| {r['scenario']} | {r['hit_ratio_before']:.2f} | {r['hit_ratio_after']:.2f} | "
            f"{r['after_vs_before']:.2f} | {'-' if promoted is None else f'{promoted:.2f}'} | "
            f"{r['peak_inference_in_flight_after']} ({r['peak_inference_in_flight_before']}) | "
            f"{r['prewarm_gpu_calls']} | {r['wrong_version']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=240)
    parser.add_argument("--window", type=int, default=100, help="requests compared each side")
    parser.add_argument("--top", type=int, default=40, help="pairs the prewarm generates")
    parser.add_argument("--canary-share", type=float, default=0.10)
    parser.add_argument("--canary-requests", type=int, default=50, help="before promotion")
    parser.add_argument("--in-flight", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fc-rollout-"))
    stack: Stack | None = None
    try:
        started = time.perf_counter()
        videos = distinct_videos(args.clips, work)
        dupes = NearDuplicates(work)
        plan = workload(REPEAT_SHARE, args.requests, videos, dupes, args.seed)
        stack = start_stack()
        names = [n for n in args.scenarios.split(",") if n]
        results = [
            run_scenario(stack, name, db, plan, work, args)
            for db, name in enumerate(names, start=5)
        ]
        keep = [r for r in results if r["scenario"] in ("prewarm", "canary")]
        summary = {
            "command": "python bench/replay_rollout.py " + " ".join(sys.argv[1:]),
            "repeat_share": REPEAT_SHARE,
            "requests": args.requests,
            "window": args.window,
            "top": args.top,
            "canary_share": args.canary_share,
            "canary_requests": args.canary_requests,
            "in_flight": args.in_flight,
            "seed": args.seed,
            "distinct_pairs_before_switch": len(
                {(r.video, r.prompt) for r in plan[: args.requests // 2]}
            ),
            "wall_s": round(time.perf_counter() - started, 1),
            "targets": {
                "prewarm_and_canary_keep_ge_80pct_after_switch": all(
                    (r["after_vs_before"] or 0) >= TARGET for r in keep
                ),
                "never_another_versions_sound": all(r["wrong_version"] == 0 for r in results),
            },
            "scenarios": results,
        }
        save_summary(args.out, summary, table(results))
    finally:
        shut_down(stack, work)


if __name__ == "__main__":
    main()
