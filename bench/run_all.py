"""``make bench``: every benchmark in turn, then the cost model and the report.

Run: ``.venv/bin/python bench/run_all.py [--only NAME ...]``. Each benchmark is its own
process (as when run by hand), with the sizes below chosen so the whole run fits in
20 minutes on the 2 shared cores; its wall time and exit status go to
``bench/results/bench_run.json``, which the report quotes. A failing benchmark does not
stop the others; the run exits non-zero at the end if any failed.

A new benchmark is one line in ``BENCHES``; any ``bench/replay_*.py`` not listed there
runs too, with no arguments, before the cost model (so new replay scenarios are measured
by ``make bench`` without an edit here).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"

#: (script, arguments), in order. The sizes are make bench's (see bench/REPORT.md).
BENCHES: list[tuple[str, list[str]]] = [
    ("cache_bench.py", ["-n", "3000", "--max-index", "1000000", "--max-index-wide", "100000"]),
    ("replay_bench.py", []),
    ("e2e_bench.py", []),
    ("api_bench.py", ["--n", "200"]),
    ("encode_vs_repackage.py", ["--repeats", "1"]),
    ("fingerprint_eval.py", []),
    ("replay_cuts.py", []),
    # The three rollouts, 100 requests each side of the switch (the
    # canary-without-prewarm contrast is run by hand: it adds a quarter to the time).
    ("replay_rollout.py", ["--requests", "200", "--scenarios", "plain,prewarm,canary"]),
]
#: Run after every benchmark: they read the results.
AFTER: list[tuple[str, list[str]]] = [("cost_model.py", []), ("report.py", [])]


def plan(only: set[str]) -> list[tuple[str, list[str]]]:
    listed = {name for name, _ in BENCHES}
    discovered: list[tuple[str, list[str]]] = [
        (p.name, []) for p in sorted(BENCH.glob("replay_*.py")) if p.name not in listed
    ]
    steps = [*BENCHES, *discovered]
    if only:
        steps = [s for s in steps if Path(s[0]).stem in only]
    return steps


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(script: str, args: list[str]) -> dict[str, object]:
    """One benchmark; its wall time and the CPU seconds of it and the processes it reaped
    (ffmpeg, the local stack; a redis-server that is terminated but never waited for is
    missing): on shared cores CPU seconds say more about a quiet machine than wall time."""
    print(f"== {script} {' '.join(args)}", flush=True)
    started, cpu_before = time.perf_counter(), children_cpu_s()
    rc = subprocess.call([sys.executable, str(BENCH / script), *args], cwd=BENCH.parent)
    wall, cpu = time.perf_counter() - started, children_cpu_s() - cpu_before
    print(f"== {script}: exit {rc}, {wall:.0f} s wall, {cpu:.0f} CPU s", flush=True)
    return {
        "name": Path(script).stem,
        "args": args,
        "rc": rc,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", nargs="*", default=[], help="benchmark names to run")
    args = parser.parse_args()
    started = time.perf_counter()
    started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    load_start = [round(x, 2) for x in os.getloadavg()]
    benches = [run(script, extra) for script, extra in plan(set(args.only))]
    RESULTS.mkdir(parents=True, exist_ok=True)
    record: dict[str, object] = {
        "started": started_at,
        "cpu_count": os.cpu_count(),
        "load_start": load_start,
        "benches": benches,
    }
    for script, extra in AFTER:
        if script == "report.py":
            # The report quotes this run: write the record first.
            record["wall_s"] = round(time.perf_counter() - started, 1)
            record["cpu_s"] = round(sum(float(str(b["cpu_s"])) for b in benches), 1)
            record["load_end"] = [round(x, 2) for x in os.getloadavg()]
            record["finished"] = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
            (RESULTS / "bench_run.json").write_text(json.dumps(record, indent=2) + "\n")
        benches.append(run(script, extra))
    failed = [b["name"] for b in benches if b["rc"] != 0]
    print(f"make bench: {time.perf_counter() - started:.0f} s; failed: {failed or 'none'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
