"""The ``foleycache`` command: the main job, fingerprints, and the local stack."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foleycache.core.errors import FoleyError, ToolMissing

if TYPE_CHECKING:
    from foleycache.local.stack import StackInfo


def _print(obj: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, indent=2, sort_keys=True))
    else:
        print(_human(obj))


def _human(obj: Any) -> str:
    if not isinstance(obj, dict):
        return json.dumps(obj, indent=2)
    if "status" in obj and "job_id" in obj:
        lines = [f"job {obj['job_id']}: {obj['status']}"]
        if obj.get("error"):
            lines.append(f"  error: {obj['error']}")
        for name in ("cache", "fingerprint", "cache_key", "model_version"):
            if obj.get(name):
                lines.append(f"  {name}: {obj[name]}")
        for name, path in obj.get("outputs", {}).items():
            lines.append(f"  {name}: {path}")
        timings = obj.get("timings_ms", {})
        if timings:
            lines.append("  timings: " + ", ".join(f"{k} {v:.0f} ms" for k, v in timings.items()))
        return "\n".join(lines)
    return "\n".join(f"{k}: {v}" for k, v in obj.items())


def cmd_run(args: argparse.Namespace) -> int:
    import boto3

    from foleycache.local.run_job import Progress, run_video
    from foleycache.local.stack import start_daemon, use_stack

    video = Path(args.video)
    if not video.is_file():
        _print({"job_id": None, "status": "failed", "error": f"{video} is not a file"}, args.json)
        return 2
    use_stack(start_daemon(args.model_version))
    from foleycache.adapters.wiring import services  # reads the stack's settings

    result = run_video(
        services(),
        boto3.client("s3"),
        video,
        args.prompt,
        Path(args.out),
        timeout_s=args.timeout,
        progress=Progress(not args.json),
        audio_mode=args.audio_mode,
    )
    _print(result, args.json)
    return 0 if result["status"] == "succeeded" else 1


def cmd_fingerprint(args: argparse.Namespace) -> int:
    from foleycache.fingerprint import fingerprint_video

    rows: list[dict[str, Any]] = []
    status = 0
    for path in args.videos:
        try:
            fp = fingerprint_video(Path(path))
        except FoleyError as exc:
            rows.append({"path": path, "error": str(exc), "error_code": exc.code})
            status = 1
            continue
        rows.append(
            {
                "path": path,
                "fingerprint": fp.hex,
                "duration_s": round(fp.duration_s, 3),
                "frames": fp.frames,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(f"{row.get('fingerprint', 'ERROR'):16}  {row['path']}  {row.get('error', '')}")
    return status


def cmd_match(args: argparse.Namespace) -> int:
    from foleycache.fingerprint import match_files

    result = match_files(Path(args.a), Path(args.b))
    _print(result, args.json)
    return 0


def cmd_stack(args: argparse.Namespace) -> int:
    from foleycache.local.stack import read_stack, start_daemon, stop_daemon

    if args.action == "up":
        info = start_daemon(args.model_version, artefacts=args.artefacts or None)
    elif args.action == "down":
        stopped = stop_daemon()
        print("stopped" if stopped else "not running")
        return 0
    else:
        found = read_stack()
        if found is None:
            print("not running")
            return 3
        info = found
    _print(
        {
            "moto (S3, DynamoDB, SQS, Step Functions, Lambda)": f"http://127.0.0.1:{info.moto_port}",
            "redis": f"redis://127.0.0.1:{info.redis_port}",
            "inference (SageMaker runtime)": info.inference_url,
            "model_version": info.env.get("MODEL_VERSION", ""),
            "runs": "built artefacts, IAM enforced" if info.artefacts else "source tree",
            "pid": info.pid,
        },
        args.json,
    )
    return 0


def _running_stack() -> StackInfo | None:
    """The running local stack, its settings in effect; None (said on stderr) when none."""
    from foleycache.local.stack import read_stack, use_stack

    info = read_stack()
    if info is None:
        print("the local stack is not running (foleycache stack up)", file=sys.stderr)
        return None
    use_stack(info)
    return info


def cmd_cache(args: argparse.Namespace) -> int:
    from foleycache.local.paths import state_dir

    info = _running_stack()
    if info is None:
        return 3
    if args.action == "stats":
        from foleycache.local.api_server import API_LOG
        from foleycache.local.cache_stats import (
            job_timings,
            jobs_from_metrics,
            read_emf,
            read_points,
            summarise,
        )

        # What CloudWatch would gather: the stack's functions and a running `api serve`.
        logs = (state_dir() / "stack.log", state_dir() / API_LOG)
        stats = summarise(read_emf(*logs), info.env["REDIS_URL"])
        points = read_points(*logs)
        _print(
            {**stats, "jobs": jobs_from_metrics(points), "job_timings_s": job_timings(points)}, True
        )
        return 0
    if not args.model_version:
        print("cache invalidate needs --model-version", file=sys.stderr)
        return 2
    from foleycache.local.invalidate_runner import invalidate_through_function

    report = invalidate_through_function(info, args.model_version, args.resume, args.budget)
    _print(report, args.json)
    return 0 if report.get("done") else 1


def cmd_jobs(args: argparse.Namespace) -> int:
    """``jobs list``: the local stack's job records, newest first, and their summary."""
    if _running_stack() is None:
        return 3
    from foleycache.adapters.wiring import services
    from foleycache.local.cache_stats import jobs_from_records

    store = services().jobs
    jobs = sorted(store.scan_all(), key=lambda j: j.created_at, reverse=True)  # type: ignore[attr-defined]
    rows = [
        {
            "job_id": j.job_id,
            "status": j.status.value,
            "cache": j.cache,
            "stage": j.stage,
            "error_code": j.error.get("code", ""),
            "created_at": j.created_at,
        }
        for j in jobs[: args.limit]
    ]
    body = {"jobs": rows, "summary": jobs_from_records(jobs), "total": len(jobs)}
    if args.json:
        _print(body, True)
        return 0
    for row in rows:
        print(f"{row['job_id']:40} {row['status']:10} {row['cache'] or '-':6} {row['error_code']}")
    print(json.dumps(body["summary"]))
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    from foleycache.local.api_server import serve

    return serve(args.port, rate=args.rate, burst=args.burst)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="foleycache", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="add Foley sound to a video through the local pipeline")
    run.add_argument("video")
    run.add_argument("--prompt", required=True)
    run.add_argument("--out", default="out")
    run.add_argument("--json", action="store_true")
    run.add_argument("--timeout", type=float, default=900.0)
    run.add_argument(
        "--audio-mode",
        default="replace",
        choices=["replace", "mix", "add"],
        help="the source's audio: replaced by the Foley, mixed under it, or a second track",
    )
    run.add_argument("--model-version", default=None, help="default: template.yaml's ModelVersion")
    run.set_defaults(func=cmd_run)

    fp = sub.add_parser("fingerprint", help="print videos' 64-bit fingerprints")
    fp.add_argument("videos", nargs="+")
    fp.add_argument("--json", action="store_true")
    fp.set_defaults(func=cmd_fingerprint)

    match = sub.add_parser("match", help="would B be served A's sound?")
    match.add_argument("a")
    match.add_argument("b")
    match.add_argument("--json", action="store_true")
    match.set_defaults(func=cmd_match)

    stack = sub.add_parser("stack", help="start, stop or describe the local stack")
    stack.add_argument("action", choices=["up", "down", "status"])
    stack.add_argument("--json", action="store_true")
    stack.add_argument(
        "--model-version", default=None, help="default: template.yaml's ModelVersion"
    )
    stack.add_argument(
        "--artefacts",
        action="store_true",
        help="run the functions from `make build`'s artefacts on python3.12, with the "
        "template's IAM enforced (also: FOLEYCACHE_ARTEFACTS=1)",
    )
    stack.set_defaults(func=cmd_stack)

    cache = sub.add_parser("cache", help="cache statistics and invalidation (local stack)")
    cache.add_argument("action", choices=["stats", "invalidate"])
    cache.add_argument("--model-version", default="")
    cache.add_argument(
        "--resume", default=None, help="invalidate: the cursor a stopped run printed"
    )
    cache.add_argument("--budget", type=int, default=None, help="invalidate: items per page")
    cache.add_argument("--json", action="store_true")
    cache.set_defaults(func=cmd_cache)

    jobs = sub.add_parser("jobs", help="the local stack's jobs and their summary")
    jobs.add_argument("action", choices=["list"])
    jobs.add_argument("--limit", type=int, default=50)
    jobs.add_argument("--json", action="store_true")
    jobs.set_defaults(func=cmd_jobs)

    api = sub.add_parser("api", help="serve the REST API over HTTP on the local stack")
    api.add_argument("action", choices=["serve"])
    api.add_argument("--port", type=int, default=3000)
    api.add_argument(
        "--rate", type=float, default=None, help="requests/s per caller (template default)"
    )
    api.add_argument(
        "--burst", type=float, default=None, help="burst per caller (template default)"
    )
    api.set_defaults(func=cmd_api)

    from foleycache.local.rollout_cli import add_commands

    add_commands(sub)  # prewarm, model (issues 14 and 15)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ToolMissing as exc:
        print(f"foleycache: {exc}", file=sys.stderr)
        return 3
    return code


if __name__ == "__main__":
    sys.exit(main())
