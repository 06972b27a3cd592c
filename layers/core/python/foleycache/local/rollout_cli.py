"""``foleycache prewarm`` and ``foleycache model ...``: prewarm, canary, promote, roll back.

Locally a rollout change is the stack's configuration (:func:`request_rollout`, the
local form of ``sam deploy --parameter-overrides``); promotion also records the old
version's retirement, which the archival run sweeps (cache/retirement.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from foleycache.core.errors import FoleyError


def _emit(body: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(body, indent=2, sort_keys=True))
        return
    for name, value in body.items():
        if name != "results":
            print(f"{name}: {value}")
    for row in body.get("results", []):
        if row.get("outcome") not in ("generated", "cached", "done"):
            print(f"  line {row['line']}: {row['outcome']}: {row.get('reason', '')}")


def _services() -> Any:
    from foleycache.local.stack import start_daemon, use_stack

    use_stack(start_daemon())
    from foleycache.adapters.wiring import services

    return services()


def _run(services: Any, rows: list[Any], version: str, args: argparse.Namespace) -> dict[str, Any]:
    import boto3

    if args.map:
        from foleycache.adapters.stepfunctions_workflow import StepFunctionsWorkflow
        from foleycache.pipeline.prewarm import start_prewarm_map

        arn = services.settings.prewarm_state_machine_arn or ""
        starter = StepFunctionsWorkflow(boto3.client("stepfunctions"), arn)
        return start_prewarm_map(services, starter, rows, version, args.concurrency)
    from foleycache.local.prewarm_runner import run_prewarm

    return run_prewarm(
        services,
        boto3.client("s3"),
        rows,
        version,
        concurrency=args.concurrency,
        timeout_s=args.timeout,
        progress=not args.quiet,
    )


def _failed(summary: dict[str, Any]) -> bool:
    counts = summary.get("counts", {})
    return bool(counts.get("failed") or counts.get("no-source"))


def cmd_prewarm(args: argparse.Namespace) -> int:
    from foleycache.pipeline.prewarm import manifest_format, read_manifest

    path = Path(args.manifest)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"foleycache: cannot read the manifest {path}: {exc}", file=sys.stderr)
        return 2
    services = _services()
    try:
        rows = read_manifest(
            text, manifest_format(path.name, args.format), services.settings.max_prompt_chars
        )
        summary = _run(services, rows, args.model_version or services.settings.model_version, args)
    except FoleyError as exc:
        print(f"foleycache: {exc}", file=sys.stderr)
        return 2
    _emit(summary, args.json)
    return 1 if _failed(summary) else 0


def cmd_model(args: argparse.Namespace) -> int:
    from foleycache.local.stack import read_stack, request_rollout, start_daemon

    info = read_stack() or start_daemon()
    env = info.env
    stable, candidate = env["MODEL_VERSION"], env.get("CANDIDATE_MODEL_VERSION", "")
    share = float(env.get("CANARY_SHARE", "0") or 0)
    if args.action == "status":
        _emit({"stable": stable, "candidate": candidate or None, "share": share}, args.json)
        return 0
    if args.action == "prewarm":
        return _model_prewarm(args)
    try:
        body = _change(args, stable, candidate, share)
    except FoleyError as exc:
        print(f"foleycache: {exc}", file=sys.stderr)
        return 2
    info = request_rollout(body["stable"], body["candidate"], body["share"])
    if body.get("retire"):
        from foleycache.local.stack import use_stack

        use_stack(info)
        from foleycache.adapters.wiring import services
        from foleycache.cache.retirement import retire_version

        svc = services()
        for version in body["retire"]:
            retire_version(svc, version)
        if svc.versions is not None:
            for version in body.get("restore", []):
                svc.versions.restore(version)
            svc.versions.set_serving(body["stable"])
    _emit(body, args.json)
    return 0


def _change(args: argparse.Namespace, stable: str, candidate: str, share: float) -> dict[str, Any]:
    from foleycache.core.errors import InvalidInput
    from foleycache.core.rollout import Rollout

    if args.action == "candidate":
        Rollout(stable, args.version, args.share)
        return {"stable": stable, "candidate": args.version, "share": args.share}
    if args.action == "promote":
        if not candidate:
            raise InvalidInput("no candidate to promote: `foleycache model candidate V` first")
        return {"stable": candidate, "candidate": "", "share": 0.0, "retire": [stable]}
    # rollback: a canary is withdrawn; after a promotion, --to names the version to restore.
    if candidate:
        return {"stable": stable, "candidate": "", "share": 0.0, "retire": [candidate]}
    if not args.to:
        raise InvalidInput("no canary to withdraw: name the version to go back to with --to")
    return {
        "stable": args.to,
        "candidate": "",
        "share": 0.0,
        "retire": [stable],
        "restore": [args.to],
    }


def _model_prewarm(args: argparse.Namespace) -> int:
    from foleycache.pipeline.prewarm import check_version, top_manifest

    services = _services()
    try:
        check_version(services, args.version)
        manifest = top_manifest(services, args.top)
        summary = (
            _run(services, manifest.rows, args.version, args)
            if manifest.rows
            else {"rows": 0, "counts": {}}
        )
    except FoleyError as exc:
        print(f"foleycache: {exc}", file=sys.stderr)
        return 2
    summary["missing_source"] = manifest.missing
    _emit(summary, args.json)
    return 1 if _failed(summary) else 0


def _runner_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--concurrency", type=int, default=4, help="rows in flight at once")
    parser.add_argument("--timeout", type=float, default=3600.0, help="per row, seconds")
    parser.add_argument(
        "--map", action="store_true", help="run on the prewarm Distributed Map instead"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true")


def add_commands(sub: Any) -> None:
    prewarm = sub.add_parser(
        "prewarm", help="generate the cache entries a manifest of video, prompt rows names"
    )
    prewarm.add_argument("manifest", help="CSV (header: video,prompt) or JSONL")
    prewarm.add_argument("--format", default="", choices=["", "csv", "jsonl"])
    prewarm.add_argument("--model-version", default="", help="default: the stable version")
    _runner_options(prewarm)
    prewarm.set_defaults(func=cmd_prewarm)

    model = sub.add_parser("model", help="roll out a model version: canary, prewarm, promote")
    model.add_argument("action", choices=["status", "candidate", "prewarm", "promote", "rollback"])
    model.add_argument("version_arg", nargs="?", default="", help="candidate: the version")
    model.add_argument("--version", default="", help="prewarm: the version to generate under")
    model.add_argument("--top", type=int, default=100, help="prewarm: the N most-hit pairs")
    model.add_argument("--share", type=float, default=0.0, help="candidate: its share of keys")
    model.add_argument("--to", default="", help="rollback after a promotion: this version")
    _runner_options(model)
    model.set_defaults(func=_model_entry)


def _model_entry(args: argparse.Namespace) -> int:
    args.version = args.version or args.version_arg
    if args.action in ("candidate", "prewarm") and not args.version:
        print(f"foleycache: model {args.action} needs a version", file=sys.stderr)
        return 2
    return cmd_model(args)
