"""One benchmark report: every figure next to its target and the seed's, and the plots.

Run: ``.venv/bin/python bench/report.py`` (``make bench`` runs it last). It reads whatever
``bench/results/*.json`` holds, so it can be rerun without rerunning a benchmark, and
writes ``bench/REPORT.md`` and ``bench/results/*.png``.

Each benchmark's rows are declared in ``FIGURES`` under its results file's name: a new
benchmark needs a few ``Figure`` lines there. A results file with no rows declared still
appears, with its ``targets`` (the convention every benchmark follows) as rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
REPORT = REPO / "bench" / "REPORT.md"
SEED_MEAN_WITH_S, SEED_MEAN_WITHOUT_S, SEED_REDUNDANT_AVOIDED = 1.2, 8.7, 80

Data = dict[str, Any]


@dataclass(frozen=True)
class Figure:
    """One row: what was measured, formatted from the results, next to target and seed."""

    what: str
    value: Callable[[Data], str]
    target: str = ""
    seed: str = ""
    met: Callable[[Data], bool | None] | None = None


def ms(x: float) -> str:
    return f"{x:.2f} ms" if x < 10 else f"{x:.0f} ms"


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _rollout_row(s: dict[str, Any]) -> Figure:
    """One model-rollout scenario: the hit ratio each side of the switch."""

    def value(_: Data) -> str:
        return (
            f"{s['hit_ratio_after']:.2f} / {s['hit_ratio_before']:.2f}"
            f" ({s['after_vs_before']:.0%}); peak in flight {s['peak_inference_in_flight_after']};"
            f" prewarm GPU calls {s['prewarm_gpu_calls']}; wrong version {s['wrong_version']}"
        )

    def met(_: Data) -> bool:
        return bool(s["after_vs_before"] >= 0.8 and s["wrong_version"] == 0)

    plain = s["scenario"] == "plain"
    return Figure(
        f"model rollout ({s['scenario']}): hit ratio 100 requests after / before the switch",
        value,
        "(baseline)" if plain else "≥ 80 % of before",
        met=None if plain else met,
    )


def _rollout_rows(d: Data) -> list[Figure]:
    return [_rollout_row(s) for s in d.get("scenarios", [])]


def _scenario_rows(d: Data) -> list[Figure]:
    """Per-scenario rows of a replay (the scenarios are read from the file)."""
    rows = []
    for i, s in enumerate(d.get("scenarios", [])):

        def value(d: Data, i: int = i) -> str:
            s = d["scenarios"][i]
            redundant = s["requests"] - s["inference_calls_oracle"]
            avoided = s["inference_calls_saved"] / redundant if redundant else None
            return (
                f"hit {pct(s['hit_ratio'])} of {s['requests']} (oracle {pct(s['oracle_hit_ratio'])}"
                f", {pct(s['hit_ratio_vs_oracle'])} of it); wrong reuse {s['wrong_reuse']}; "
                f"GPU calls {s['inference_calls']} (saved {s['inference_calls_saved']}"
                + (f", {pct(avoided)} of redundant" if avoided is not None else "")
                + ")"
            )

        def met(d: Data, i: int = i) -> bool:
            s = d["scenarios"][i]
            return bool(s["hit_ratio_vs_oracle"] >= 0.99 and s["wrong_reuse"] == 0)

        rows.append(
            Figure(
                f"replay {s['scenario']}: hit ratio, wrong reuse, GPU calls",
                value,
                "≥ 99 % of oracle, 0 wrong",
                f"{SEED_REDUNDANT_AVOIDED} % less redundant inference",
                met,
            )
        )
    return rows


def _cost_rows(d: Data) -> list[Figure]:
    rows = []
    for i, s in enumerate(d.get("scenarios", [])):

        def value(d: Data, i: int = i) -> str:
            s = d["scenarios"][i]
            t = s["mean_time_to_result_s"]
            return (
                f"${s['per_1000_with_cache_usd']['total']:.2f} with cache vs "
                f"${s['per_1000_without_cache_usd']['total']:.2f} without "
                f"({s['saving_pct']:.1f} % less); modelled mean time {t['without_cache']:.1f} s → "
                f"{t['with_cache']:.1f} s"
            )

        rows.append(
            Figure(
                f"cost per 1,000 videos, {s['scenario']}",
                value,
                "less than without",
                f"mean time {SEED_MEAN_WITHOUT_S} s → {SEED_MEAN_WITH_S} s",
                partial(_saves, i=i),
            )
        )
    return rows


def _saves(d: Data, i: int) -> bool:
    return bool(d["scenarios"][i]["saving_pct"] > 0)


def _e2e_value(d: Data) -> str:
    by = d["by_outcome"]
    parts = [f"{k} {by[k]['mean_ms'] / 1000:.2f} s" for k in by if by[k]["mean_ms"] is not None]
    return f"mean {', '.join(parts)}; all hits {d['mean_with_cache_ms'] / 1000:.2f} s"


def negative_pairs(d: Data) -> int:
    return sum(v["pairs"] for k, v in d["summary"].items() if k.startswith("negatives"))


def _index_value(d: Data) -> str:
    rows = d["index"]["m3r5"]
    return (
        f"p50 {ms(rows[0]['p50_ms'])} at {rows[0]['stored']:,} → {ms(rows[-1]['p50_ms'])} at "
        f"{rows[-1]['stored']:,} codes"
    )


FIGURES: dict[str, Callable[[Data], list[Figure]]] = {
    "cache_bench": lambda d: [
        Figure(
            "`cache_lookup` handler, L1 hit (fingerprint verified)",
            lambda d: (
                f"p50 {ms(d['l1_handler']['handler_l1_hit']['p50_ms'])}, "
                f"p99 {ms(d['l1_handler']['handler_l1_hit']['p99_ms'])} "
                f"(raw Redis GET p50 {ms(d['l1']['raw_redis_get']['p50_ms'])})"
            ),
            "p50 ≤ 1 ms, p99 ≤ 3 ms",
            met=lambda d: (
                d["targets"]["l1_handler_p50_le_1ms"] and d["targets"]["l1_handler_p99_le_3ms"]
            ),
        ),
        Figure(
            "L1 hits per second, 2 processes",
            lambda d: f"{d['l1_handler']['handler_l1_hits_per_s_2_processes']:,}/s",
            "≥ 3,000/s",
            met=lambda d: d["targets"]["l1_handler_ge_3000_per_s_on_2_cores"],
        ),
        Figure(
            "L2 hit vs one raw S3 GET (moto)",
            lambda d: (
                f"{d['l2']['ratio_p50']:.2f}x (p50 {ms(d['l2']['l2_hit']['p50_ms'])} vs "
                f"{ms(d['l2']['raw_s3_get']['p50_ms'])})"
            ),
            "≤ 2x",
            met=lambda d: d["targets"]["l2_le_2x_raw_get"],
        ),
        Figure(
            "near index r ≤ 5 lookup vs table size",
            _index_value,
            "flat (≤ 3x the smallest)",
            met=lambda d: d["targets"]["narrow_index_flat"],
        ),
    ],
    "e2e_bench": lambda d: [
        Figure(
            "upload → outputs by outcome (local stack, stand-in model)",
            _e2e_value,
            "hits far below a miss",
            f"{SEED_MEAN_WITH_S} s with cache / {SEED_MEAN_WITHOUT_S} s without",
        ),
        Figure(
            "requests that got the expected outcome",
            lambda d: pct(d["expected_outcome_rate"]),
            "100 %",
            met=lambda d: d["expected_outcome_rate"] == 1.0,
        ),
    ],
    "api_bench": lambda d: [
        Figure(
            "`POST /v1/jobs` instant answer vs one raw GetItem",
            lambda d: (
                f"p50 {ms(d['instant_answer_ms']['p50'])} vs "
                f"{ms(d['raw_getitem_ms']['p50'])} ({d['instant_over_getitem_p50']}x), "
                f"p99 {ms(d['instant_answer_ms']['p99'])}"
            ),
            "milliseconds, no workflow",
        ),
        Figure(
            "queued (202) job to succeeded, exact bytes",
            lambda d: f"p50 {ms(d['queued_to_succeeded_ms']['p50'])}",
        ),
    ],
    "encode_vs_repackage": lambda d: [
        Figure(
            "repackaging vs one full encode (CPU s), clips ≥ 10 s",
            lambda d: (
                "max "
                + pct(
                    max(
                        [c["repackage_share"] for c in d["clips"] if c["duration_s"] >= 10] or [0.0]
                    )
                )
            ),
            "≤ 1 %",
            met=lambda d: d["targets_met"]["repackage_le_1pct_on_clips_ge_10s"],
        ),
        Figure(
            "ABR ladder vs one full encode (CPU s)",
            lambda d: f"max {max(c['ladder_ratio'] for c in d['clips']):.2f}x",
            "≤ 1.3x",
            met=lambda d: d["targets_met"]["ladder_le_1.3x_one_encode"],
        ),
        Figure(
            "encodes for deliverable input",
            lambda d: str(sum(c["deliverable"]["encodes"] for c in d["clips"])),
            "0",
            met=lambda d: d["targets_met"]["zero_encodes_for_deliverable"],
        ),
    ],
    "fingerprint_eval": lambda d: [
        Figure(
            "fingerprint TPR per edit (min over edits)",
            lambda d: (
                f"{d['verdict']['tpr_per_edit_min']:.3f} ({d['summary']['positives']} positives)"
            ),
            f"≥ {d['targets']['tpr_per_edit_min']}",
            met=lambda d: d["verdict"]["meets_targets"]["tpr"],
        ),
        Figure(
            "fingerprint false matches",
            lambda d: f"{d['verdict']['false_matches']} of " + f"{negative_pairs(d):,}",
            "0",
            met=lambda d: d["verdict"]["meets_targets"]["false_matches"],
        ),
        Figure(
            "fingerprint speed",
            lambda d: (
                f"{d['verdict']['x_real_time_wall']:.1f}x real time, "
                f"{d['verdict']['vs_ffmpeg_decode_cpu']:.2f}x ffmpeg decode CPU"
            ),
            f"≥ {d['targets']['x_real_time_min']:g}x, ≤ {d['targets']['vs_ffmpeg_decode_max']:g}x",
            met=lambda d: (
                d["verdict"]["meets_targets"]["x_real_time"]
                and d["verdict"]["meets_targets"]["vs_ffmpeg"]
            ),
        ),
        Figure(
            "fingerprint peak RSS",
            lambda d: f"{d['verdict']['peak_rss_mb']:.0f} MB",
            f"≤ {d['targets']['peak_rss_mb_max']:g} MB",
            met=lambda d: d["verdict"]["meets_targets"]["rss"],
        ),
    ],
    "replay_bench": _scenario_rows,
    "replay_cuts": lambda d: [
        Figure(
            "reuse across cuts: GPU seconds saved vs the oracle's shared seconds",
            lambda d: (
                f"{d['saved_vs_oracle']:.1%} ({d['saved_s']:.0f} of {d['oracle_shared_s']:.0f} s;"
                " these plan rules with every shared stretch ≥ 1.5 s found:"
                f" {d['ceiling_saved_vs_oracle_by_min_span_s']['1.5']:.1%})"
            ),
            "≥ 90 %",
            met=lambda d: d["saved_vs_oracle"] >= 0.9,
        ),
        Figure(
            "reuse across cuts: wrong reuse",
            lambda d: f"{d['wrong_reuse_s']:.2f} s in {d['wrong_reuse_requests']} requests",
            "0",
            met=lambda d: d["wrong_reuse_requests"] == 0 and d["wrong_reuse_s"] == 0,
        ),
    ],
    "replay_rollout": _rollout_rows,
    "cost_model": _cost_rows,
}


def _met_word(_: Data, ok: bool) -> str:
    return "met" if ok else "NOT met"


def _met(_: Data, ok: bool) -> bool:
    return ok


def figures_for(stem: str, data: Data) -> list[Figure]:
    """Declared rows for this results file (``replay_bench_seed8`` uses ``replay_bench``'s),
    else one row per boolean in its ``targets``."""
    for name in sorted(FIGURES, key=len, reverse=True):
        if stem == name or stem.startswith(name + "_seed"):
            return FIGURES[name](data)
    targets = data.get("targets") or data.get("targets_met") or {}
    rows = [
        Figure(key, partial(_met_word, ok=value), key, met=partial(_met, ok=value))
        for key, value in targets.items()
        if isinstance(value, bool)
    ]
    return rows or [Figure("(no figures declared in bench/report.py FIGURES)", lambda d: "-")]


def render_row(stem: str, fig: Figure, data: Data) -> str:
    try:
        value = fig.value(data)
        met = fig.met(data) if fig.met else None
    except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError) as exc:
        value, met = f"unreadable: {type(exc).__name__} {exc}", False
    mark = {True: "yes", False: "**no**", None: ""}[met]
    return f"| {stem} | {fig.what} | {value} | {fig.target} | {mark} | {fig.seed} |"


# --- plots -----------------------------------------------------------------------------------
def plot_latency_by_tier(results: dict[str, Data], out: Path) -> bool:
    e2e, replay = results.get("e2e_bench"), results.get("replay_bench")
    if not e2e and not replay:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    tiers = ["exact", "l1", "l2", "near", "miss"]
    if e2e:
        ax = axes[0]
        present = [t for t in tiers if any(r["cache"] == t for r in e2e["rows"])]
        data = [[r["total_ms"] / 1000 for r in e2e["rows"] if r["cache"] == t] for t in present]
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(present) + 1), present)
        ax.axhline(SEED_MEAN_WITH_S, color="tab:green", ls="--", lw=1, label="seed: 1.2 s cached")
        ax.axhline(
            SEED_MEAN_WITHOUT_S, color="tab:red", ls="--", lw=1, label="seed: 8.7 s uncached"
        )
        ax.set_ylabel("seconds, upload → outputs")
        ax.set_title("e2e_bench: local stack, stand-in model")
        ax.legend(fontsize=8)
    if replay:
        ax = axes[1]
        rows = [r for s in replay["scenarios"] for r in s["rows"] if r["outcome"] != "failed"]
        present = [t for t in tiers if any(r["outcome"] == t for r in rows)]
        data = [[r["ms"] for r in rows if r["outcome"] == t] for t in present]
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(
            range(1, len(present) + 1),
            [f"{t}\n(n={len(v)})" for t, v in zip(present, data, strict=True)],
        )
        ax.set_yscale("log")
        ax.set_ylabel("ms, pipeline steps (no GPU, no mux)")
        ax.set_title("replay_bench: every request of every scenario")
    fig.suptitle("Latency by cache tier")
    _save(fig, out)
    return True


def plot_index_lookup(cache: Data | None, out: Path) -> bool:
    if not cache or "index" not in cache:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for layout, rows in cache["index"].items():
        sizes = [r["stored"] for r in rows]
        line = ax.plot(sizes, [r["p50_ms"] for r in rows], marker="o", label=f"{layout} p50")
        ax.plot(
            sizes,
            [r["p99_ms"] for r in rows],
            ls=":",
            color=line[0].get_color(),
            label=f"{layout} p99",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("codes stored in the index")
    ax.set_ylabel("lookup ms (Redis, real server)")
    ax.set_title("cache_bench: near-index lookup time against table size")
    ax.legend(fontsize=8)
    _save(fig, out)
    return True


def plot_fingerprint_distances(fp: Data | None, out: Path) -> bool:
    if not fp or not fp.get("pairs"):
        return False
    rule = fp["decision_rule"]
    panels = [
        ("hamming", "Hamming distance, 64-bit codes", rule["find_radius"], "find radius"),
        ("similarity", "cosine of the 512-d vectors", rule["min_similarity"], "min similarity"),
        (
            "frame_hamming",
            "mean aligned signature Hamming",
            rule["max_frame_hamming"],
            "max frame Hamming",
        ),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    positives = [p for p in fp["pairs"] if p["kind"] == "positive"]
    negatives = [p for p in fp["pairs"] if p["kind"] != "positive"]
    for ax, (key, title, threshold, label) in zip(axes, panels, strict=True):
        pos = [p[key] for p in positives if p.get(key) is not None]
        neg = [p[key] for p in negatives if p.get(key) is not None]
        everything = pos + neg
        bins = np.linspace(min(everything), max(everything), 50) if everything else 10
        ax.hist(
            neg,
            bins=bins,
            alpha=0.55,
            color="tab:red",
            label=f"negatives ({len(neg)})",
            density=True,
        )
        ax.hist(
            pos,
            bins=bins,
            alpha=0.55,
            color="tab:green",
            label=f"positives ({len(pos)})",
            density=True,
        )
        ax.axvline(threshold, color="k", ls="--", lw=1.2, label=f"{label} {threshold:g}")
        if key == "frame_hamming":
            short = rule.get("short_max_frame_hamming")
            if short is not None:
                ax.axvline(short, color="k", ls=":", lw=1, label=f"short clips {short:g}")
        ax.set_title(title)
        ax.legend(fontsize=8)
    fig.suptitle(
        "fingerprint_eval: distances, positives vs negatives "
        f"(fingerprint v{fp.get('fingerprint_version')})"
    )
    _save(fig, out)
    return True


def _stacked_bars(ax: Any, scenarios: list[Data], components: list[str], totals: bool) -> None:
    """With-cache and without-cache bars side by side per scenario, stacked by component
    (hatched: without)."""
    x, width = list(range(len(scenarios))), 0.38
    for offset, key, label in (
        (-width / 2, "per_1000_with_cache_usd", "with cache"),
        (width / 2, "per_1000_without_cache_usd", "without"),
    ):
        without = key == "per_1000_without_cache_usd"
        bottom = [0.0] * len(scenarios)
        for j, comp in enumerate(components):
            vals = [s[key][comp] for s in scenarios]
            ax.bar(
                [i + offset for i in x],
                vals,
                width,
                bottom=bottom,
                color=plt.cm.tab10(j),
                label=None if without else comp,
                edgecolor="white" if without else None,
                hatch="//" if without else None,
            )
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        if totals:
            for i, total in enumerate(bottom):
                text = f"${total:.1f}\n{label}"
                ax.text(i + offset, total, text, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [s["scenario"] for s in scenarios])
    ax.set_ylabel("USD per 1,000 videos")


def plot_cost(cost: Data | None, out: Path) -> bool:
    if not cost or not cost.get("scenarios"):
        return False
    scenarios = cost["scenarios"]
    components = [k for k in scenarios[0]["per_1000_with_cache_usd"] if k != "total"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    _stacked_bars(ax, scenarios, components, totals=True)
    assumed = cost["gpu_seconds_per_inference_assumed"]
    ax.set_title(f"GPU {assumed:g} s/run assumed ({cost['gpu_instance']})")
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(components), fontsize=8)
    # Everything but the GPU, where the cache's own costs show (same colours: gpu is last).
    _stacked_bars(ax2, scenarios, [c for c in components if c != "gpu"], totals=False)
    ax2.set_title("the same, GPU left out (hatched: without cache)")
    fig.suptitle(
        "cost_model: cost per 1,000 videos by scenario "
        f"(prices of {cost['prices_believed_current_at']}, re-check)"
    )
    _save(fig, out, rect=(0, 0.07, 1, 1))
    return True


def _save(fig: Any, out: Path, rect: tuple[float, float, float, float] = (0, 0, 1, 1)) -> None:
    fig.tight_layout(rect=rect)
    fig.savefig(out, dpi=100)
    plt.close(fig)


# --- the report ------------------------------------------------------------------------------
def cost_section(cost: Data) -> list[str]:
    scenarios = cost["scenarios"]
    components = [k for k in scenarios[0]["per_1000_with_cache_usd"] if k != "total"]
    lines = [
        "## Cost per 1,000 videos",
        "",
        f"USD, {cost['region']}, list prices believed current at "
        f"**{cost['prices_believed_current_at']} (re-check: `bench/aws_prices.json`)**; GPU "
        f"{cost['gpu_instance']} at an **assumed** {cost['gpu_seconds_per_inference_assumed']:g} s "
        f"per run (not measured). Counts measured by the replay (seed {cost['replay_seed']}, "
        f"{cost['requests_per_scenario']} requests per scenario); Mux/Package from "
        f"{len(cost['delivery_sample_videos'])} videos run for real.",
        "",
        "| scenario | outcomes | with cache | without | saving | GPU s / 1,000 (with / without) "
        "| redundant inference avoided (seed 80 %) | modelled mean time (seed 8.7 s → 1.2 s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in scenarios:
        outcomes = ", ".join(f"{k} {v}" for k, v in s["outcomes"].items())
        avoided = s["redundant_inference_avoided_pct"]
        t = s["mean_time_to_result_s"]
        lines.append(
            f"| {s['scenario']} | {outcomes} | ${s['per_1000_with_cache_usd']['total']:.2f} | "
            f"${s['per_1000_without_cache_usd']['total']:.2f} | {s['saving_pct']:.1f} % | "
            f"{s['gpu_seconds_per_1000']['with_cache']:,} / "
            f"{s['gpu_seconds_per_1000']['without_cache']:,} | "
            + (f"{avoided:.1f} %" if avoided is not None else "-")
            + f" | {t['without_cache']:.1f} s → {t['with_cache']:.1f} s |"
        )
    lines += [
        "",
        "By component (USD per 1,000 videos, with cache / without):",
        "",
        "| scenario | " + " | ".join(components) + " |",
        "|---|" + "---|" * len(components),
    ]
    for s in scenarios:
        w, wo = s["per_1000_with_cache_usd"], s["per_1000_without_cache_usd"]
        lines.append(
            f"| {s['scenario']} | "
            + " | ".join(f"{w[c]:.3f} / {wo[c]:.3f}" for c in components)
            + " |"
        )
    tiers: dict[str, list[float]] = {}
    for s in scenarios:
        for tier, usd in s["per_request_by_tier_usd"].items():
            tiers.setdefault(tier, []).append(usd)
    lines += [
        "",
        "Per request by tier (USD, mean over scenarios): "
        + ", ".join(f"{t} {1000 * statistics.fmean(v):.3f}/1,000" for t, v in tiers.items())
        + ".",
        "",
        "How to read it (details: `docs/decisions/0004-cost-model-and-bench-report.md`):",
        "",
        "- Without the cache = the miss path less the cache's own states (Fingerprint, Lookup, "
        "Lease and their Choices) and Valkey; every request pays the GPU.",
        "- Lambda seconds are this machine's wall times in-process (moto, redis-server, shared "
        "cores): a busy machine overstates them. They are small beside the GPU either way.",
        "- Exact repeats are costed through Mux/Package (the replay makes no deliverables); on "
        "AWS a repeat whose deliverables still exist skips both, so with-cache is an upper bound.",
        "- The GPU seconds per run are an assumption; GPU cost scales linearly with it.",
        "",
    ]
    return lines


def load_results(results_dir: Path) -> dict[str, Data]:
    out = {}
    for path in sorted(results_dir.glob("*.json")):
        if path.stem == "bench_run":
            continue
        try:
            out[path.stem] = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            out[path.stem] = {"unreadable": str(exc)}
    return out


def write_report(results_dir: Path = RESULTS, report: Path = REPORT) -> Path:
    results = load_results(results_dir)
    run_file = results_dir / "bench_run.json"
    run = json.loads(run_file.read_text()) if run_file.exists() else None
    lines = [
        "# Benchmark report",
        "",
        f"Generated by `bench/report.py` on {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC from "
        f"`bench/results/*.json` ({platform.machine()}, {platform.python_version()}). "
        "`make bench` reruns every benchmark, then this.",
        "",
    ]
    if run:
        lines += [
            f"Last `make bench`: {run['finished']}, **{run['wall_s'] / 60:.1f} min wall, "
            f"{run.get('cpu_s', 0) / 60:.1f} CPU min** (each benchmark and what it reaped) "
            f"on {run['cpu_count']} shared cores, load average {run['load_start']} at the start "
            f"and {run.get('load_end', '?')} at the end. Per benchmark, wall / CPU s: "
            + ", ".join(
                f"{b['name']}"
                + (f" (`{' '.join(b['args'])}`)" if b.get("args") else "")
                + f" {b['wall_s']:.0f} / {b.get('cpu_s', 0):.0f}"
                + ("" if b["rc"] == 0 else f" (**exit {b['rc']}**)")
                for b in run["benches"]
            )
            + "."
            + (f" {run['note']}." if run.get("note") else ""),
            "",
        ]
    lines += [
        "## Every figure",
        "",
        "| results | what | measured | target | met | seed 000 |",
        "|---|---|---|---|---|---|",
    ]
    run_started = dt.datetime.fromisoformat(run["started"]) if run else None
    for stem, data in results.items():
        written = dt.datetime.fromtimestamp((results_dir / f"{stem}.json").stat().st_mtime, dt.UTC)
        stale = run_started is not None and written < run_started
        label = f"{stem} ({written:%Y-%m-%d}{', earlier run' if stale else ''})"
        for fig in figures_for(stem, data):
            lines.append(render_row(label, fig, data))
    lines.append("")
    if "cost_model" in results and "scenarios" in results["cost_model"]:
        lines += cost_section(results["cost_model"])
    plots = [
        (
            "latency_by_tier.png",
            "Latency by tier",
            plot_latency_by_tier(results, results_dir / "latency_by_tier.png"),
        ),
        (
            "index_lookup.png",
            "Index lookup time against table size",
            plot_index_lookup(results.get("cache_bench"), results_dir / "index_lookup.png"),
        ),
        (
            "fingerprint_distances.png",
            "Fingerprint distances, positives vs negatives, thresholds drawn",
            plot_fingerprint_distances(
                results.get("fingerprint_eval"), results_dir / "fingerprint_distances.png"
            ),
        ),
        (
            "cost_by_scenario.png",
            "Cost per 1,000 videos by scenario",
            plot_cost(results.get("cost_model"), results_dir / "cost_by_scenario.png"),
        ),
    ]
    lines += ["## Plots", ""]
    for name, title, made in plots:
        lines += [
            f"### {title}",
            "",
            f"![{title}](results/{name})" if made else "(no results to plot)",
            "",
        ]
    report.write_text("\n".join(lines))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    print(f"wrote {write_report(args.results, args.out)}")


if __name__ == "__main__":
    main()
