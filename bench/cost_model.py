"""What the cache saves in money: the replay's measured counts, priced per 1,000 videos.

Run: ``.venv/bin/python bench/cost_model.py [--replay bench/results/replay_bench.json]``
(after ``bench/replay_bench.py``). Writes ``bench/results/cost_model.json``.

Inputs, all read, none typed in here:

- counts per request and per step from the replay (``bench/usage_meter.py``: AWS calls
  through botocore hooks, DynamoDB units from item sizes, Redis commands and bytes), and
  the Mux/Package sample the replay measured on real videos;
- each function's memory and ephemeral storage from ``template.yaml``, and which function
  each ASL Task runs (its ``DefinitionSubstitutions``);
- the state path each request takes, walked through ``infra/statemachine/pipeline.asl.json``
  with the answers its Tasks gave (one Standard transition per state entered);
- prices and the assumptions that are not measurements (GPU seconds per inference) from
  ``bench/aws_prices.json``, which carries its date.

"Without the cache" is the same pipeline with the cache's own states removed (Fingerprint,
Lookup, Lease and their Choice states; no Valkey): every request runs Ingest, Inference,
the GPU, Mux, Package and RecordSuccess, costed from the misses' measured steps. Lambda
durations are this machine's wall times in-process against moto and redis-server.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
PRICES = REPO / "bench" / "aws_prices.json"
ASL = REPO / "infra" / "statemachine" / "pipeline.asl.json"
TEMPLATE = REPO / "template.yaml"

#: Steps that are not ASL Tasks, and the function that runs them.
EXTRA_FUNCTIONS = {"Ingest": "IngestFunction", "InferenceDone": "InferenceDoneFunction"}
#: The cache's own states: absent from the pipeline without a cache. ``Deliver?`` lets a
#: prewarm (which only fills the cache) end at its entry.
CACHE_STATES = frozenset(
    {"Fingerprint", "ExactRepeat?", "Lookup", "Cached?", "Lease", "Won?", "Deliver?"}
)
#: Steps measured outside the replay's requests (bench/replay_bench.py delivery_sample).
DELIVERY_STEPS = ("Mux", "Package")
#: S3 requests billed at the PUT/COPY/POST/LIST rate; every other request but DELETE is a GET.
S3_PUT_CLASS = frozenset(
    {
        "PutObject",
        "CopyObject",
        "UploadPart",
        "UploadPartCopy",
        "CreateMultipartUpload",
        "CompleteMultipartUpload",
        "ListObjects",
        "ListObjectsV2",
        "ListObjectVersions",
        "PutObjectTagging",
    }
)
S3_FREE = frozenset({"DeleteObject", "DeleteObjects", "AbortMultipartUpload"})
COMPONENTS = (
    "lambda",
    "step_functions",
    "dynamodb",
    "valkey",
    "s3_requests",
    "s3_storage",
    "gpu",
)
GB = 1024**3
ECPU_BYTES = 1024


class Cost(defaultdict[str, float]):
    """USD by component; ``add`` sums another cost into this one."""

    def __init__(self) -> None:
        super().__init__(float)

    def add(self, other: dict[str, float]) -> None:
        for component, usd in other.items():
            self[component] += usd


# --- inputs --------------------------------------------------------------------------------
@dataclass(frozen=True)
class FunctionSize:
    memory_mb: int
    ephemeral_mb: int = 512


@dataclass(frozen=True)
class Prices:
    """The price table (USD per unit) and the assumptions that go with it."""

    usd: dict[str, float]
    gpu_seconds_per_inference: float
    gpu_instance: str
    storage_months: float
    believed_current_at: str

    @classmethod
    def load(cls, path: Path = PRICES) -> Prices:
        table = json.loads(path.read_text())
        assumptions = {k: v["value"] for k, v in table["assumptions"].items()}
        return cls(
            usd={k: float(v["usd"]) for k, v in table["prices"].items()},
            gpu_seconds_per_inference=float(assumptions["gpu_seconds_per_inference"]),
            gpu_instance=str(assumptions["gpu_instance"]),
            storage_months=float(assumptions["storage_months"]),
            believed_current_at=str(table["believed_current_at"]),
        )

    @property
    def gpu_second(self) -> float:
        return self.usd[f"sagemaker_{self.gpu_instance}_hour"] / 3600


def function_sizes(template: dict[str, Any]) -> dict[str, FunctionSize]:
    """Logical id -> memory and ephemeral storage, Globals applied, for every function."""
    default = template.get("Globals", {}).get("Function", {})
    sizes = {}
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        memory = props.get("MemorySize", default.get("MemorySize", 128))
        storage = props.get("EphemeralStorage", default.get("EphemeralStorage", {}))
        sizes[name] = FunctionSize(int(memory), int(storage.get("Size", 512)))
    return sizes


def step_functions(template: dict[str, Any], asl: dict[str, Any]) -> dict[str, str]:
    """Step (ASL Task state, or an EXTRA_FUNCTIONS step) -> the function's logical id."""
    machine = next(
        r
        for r in template["Resources"].values()
        if r.get("Type") == "AWS::Serverless::StateMachine"
    )
    subs = machine["Properties"].get("DefinitionSubstitutions", {})
    out = dict(EXTRA_FUNCTIONS)
    for name, state in asl["States"].items():
        if state["Type"] != "Task":
            continue
        target = state.get("Parameters", {}).get("FunctionName") or state["Resource"]
        if target.startswith("${") and target.endswith("}"):
            value = subs[target[2:-1]]
            out[name] = value["Fn::GetAtt"][0]
    return out


# --- the ASL path --------------------------------------------------------------------------
def asl_path(asl: dict[str, Any], decisions: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The states a successful execution enters, given what each Task answered.

    ``decisions`` maps a Task state to its answers in order (a state entered twice answers
    twice). A Task with ``ResultPath: $.x`` puts its answer under ``x``; any other Task's
    answer replaces the fields it names. Choice rules are evaluated as Step Functions does
    (first match, else Default). Only the rule forms the pipeline uses are supported.
    """
    pending = {name: list(answers) for name, answers in decisions.items()}
    data: dict[str, Any] = {}
    path: list[str] = []
    current: str | None = asl["StartAt"]
    while current is not None:
        if len(path) > 100:
            raise ValueError(f"no end after {path}")
        path.append(current)
        state = asl["States"][current]
        kind = state["Type"]
        if kind == "Task":
            answers = pending.get(current)
            if answers:
                answer = answers.pop(0)
                result_path = state.get("ResultPath", "$")
                if result_path == "$":
                    data.update(answer)
                elif result_path.startswith("$.") and "." not in result_path[2:]:
                    data[result_path[2:]] = answer
                else:
                    raise ValueError(f"unsupported ResultPath {result_path} in {current}")
            current = None if state.get("End") else state["Next"]
        elif kind == "Choice":
            current = next(
                (rule["Next"] for rule in state["Choices"] if _matches(rule, data)),
                state.get("Default"),
            )
            if current is None:
                raise ValueError(f"{path[-1]}: no rule matched and no Default")
        elif kind in {"Succeed", "Fail"}:
            current = None
        elif kind == "Pass":
            current = None if state.get("End") else state["Next"]
        else:
            raise ValueError(f"unsupported state type {kind} ({current})")
    return path


def _matches(rule: dict[str, Any], data: dict[str, Any]) -> bool:
    if set(rule) != {"Variable", "StringEquals", "Next"}:
        raise ValueError(f"unsupported Choice rule {sorted(rule)}")
    value: Any = data
    for part in rule["Variable"].removeprefix("$.").split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return bool(value == rule["StringEquals"])


# --- pricing one step ---------------------------------------------------------------------
def lambda_cost(seconds: float, invocations: int, size: FunctionSize, prices: Prices) -> float:
    """Duration billed per 1 ms, rounded up per invocation; requests; extra /tmp."""
    if invocations <= 0:
        return 0.0
    billed_s = math.ceil(seconds * 1000 / invocations) / 1000 * invocations
    gb_s = billed_s * size.memory_mb / 1024
    extra_storage_gb_s = billed_s * max(0, size.ephemeral_mb - 512) / 1024
    return (
        gb_s * prices.usd["lambda_gb_second_x86"]
        + invocations * prices.usd["lambda_request"]
        + extra_storage_gb_s * prices.usd["lambda_ephemeral_gb_second"]
    )


def ecpus(commands: int, bytes_moved: int) -> int:
    """ElastiCache Serverless: one ECPU per simple command, or one per KB moved if more."""
    return max(commands, math.ceil(bytes_moved / ECPU_BYTES))


def step_cost(
    usage: dict[str, Any], size: FunctionSize | None, prices: Prices, *, with_redis: bool = True
) -> Cost:
    """The cost of one step's measured usage, by component (USD)."""
    p, months = prices.usd, prices.storage_months
    cost = Cost()
    if size is not None:
        cost["lambda"] += lambda_cost(usage["seconds"], usage["invocations"], size, prices)
    for call, n in usage["aws_calls"].items():
        service, op = call.split(".", 1)
        if service != "s3" or op in S3_FREE:
            continue
        cost["s3_requests"] += n * p["s3_put_request" if op in S3_PUT_CLASS else "s3_get_request"]
    cost["s3_storage"] += usage["s3_bytes_in"] / GB * months * p["s3_standard_gb_month"]
    cost["dynamodb"] += (
        usage["dynamodb_rru"] * p["dynamodb_read_request_unit"]
        + usage["dynamodb_wru"] * p["dynamodb_write_request_unit"]
        + usage["dynamodb_bytes_written"] / GB * months * p["dynamodb_storage_gb_month"]
    )
    if with_redis:
        moved = usage["redis_bytes_sent"] + usage["redis_bytes_received"]
        cost["valkey"] += ecpus(usage["redis_commands"], moved) * p["valkey_serverless_ecpu"]
    return cost


# --- pricing requests -----------------------------------------------------------------------
@dataclass(frozen=True)
class Model:
    """Everything a request's price depends on besides its own counts."""

    prices: Prices
    asl: dict[str, Any]
    functions: dict[str, str]  # step -> logical id
    sizes: dict[str, FunctionSize]  # logical id -> size
    delivery: dict[str, dict[str, Any]]  # Mux/Package: mean usage over the measured sample
    l1_ttl_hours: float

    def size_of(self, step: str) -> FunctionSize | None:
        name = self.functions.get(step)
        return self.sizes[name] if name else None


def mean_usage(usages: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean of several usages of one step (aws_calls averaged per call)."""
    n = len(usages)
    calls: Counter[str] = Counter()
    for usage in usages:
        calls.update(usage["aws_calls"])
    out: dict[str, Any] = {k: sum(u[k] for u in usages) / n for k in usages[0] if k != "aws_calls"}
    out["aws_calls"] = {k: v / n for k, v in calls.items()}
    return out


def request_cost(row: dict[str, Any], model: Model) -> tuple[Cost, list[str]]:
    """With the cache: the request's measured steps, Mux/Package on its path, transitions."""
    path = asl_path(model.asl, row["decisions"])
    cost = Cost()
    for step, usage in row["usage"].items():
        cost.add(step_cost(usage, model.size_of(step), model.prices))
    for step in DELIVERY_STEPS:
        if step in path and step not in row["usage"]:
            cost.add(step_cost(model.delivery[step], model.size_of(step), model.prices))
    cost["step_functions"] += len(path) * model.prices.usd["sfn_standard_transition"]
    gpu_runs = row["usage"].get("gpu", {}).get("invocations", 0)
    cost["gpu"] += gpu_runs * model.prices.gpu_seconds_per_inference * model.prices.gpu_second
    return cost, path


def baseline_cost(miss_row: dict[str, Any], model: Model) -> Cost:
    """Without the cache: a miss's path and steps less the cache's own, and no Valkey."""
    path = [s for s in asl_path(model.asl, miss_row["decisions"]) if s not in CACHE_STATES]
    cost = Cost()
    for step, usage in miss_row["usage"].items():
        if step not in CACHE_STATES:
            cost.add(step_cost(usage, model.size_of(step), model.prices, with_redis=False))
    for step in DELIVERY_STEPS:
        if step in path and step not in miss_row["usage"]:
            cost.add(step_cost(model.delivery[step], model.size_of(step), model.prices))
    cost["step_functions"] += len(path) * model.prices.usd["sfn_standard_transition"]
    cost["gpu"] += model.prices.gpu_seconds_per_inference * model.prices.gpu_second
    return cost


def time_to_result_s(row: dict[str, Any], model: Model, *, with_cache: bool = True) -> float:
    """Modelled time to result: the measured steps, Mux/Package from the sample, and the
    assumed GPU seconds for each run (the stand-in model takes none)."""
    path = asl_path(model.asl, row["decisions"])
    steps = {
        step: usage
        for step, usage in row["usage"].items()
        if step not in {"upload", "gpu"} and (with_cache or step not in CACHE_STATES)
    }
    seconds = sum(usage["seconds"] for usage in steps.values())
    seconds += sum(model.delivery[s]["seconds"] for s in DELIVERY_STEPS if s in path)
    gpu_runs = row["usage"].get("gpu", {}).get("invocations", 0)
    return float(seconds + gpu_runs * model.prices.gpu_seconds_per_inference)


def per_thousand(costs: list[Cost]) -> dict[str, float]:
    """Mean cost of these requests, times 1,000, by component and in total."""
    n = len(costs)
    out = {c: round(1000 * sum(cost[c] for cost in costs) / n, 4) for c in COMPONENTS}
    out["total"] = round(sum(out[c] for c in COMPONENTS), 4)
    return out


def scenario_report(
    scenario: dict[str, Any], model: Model, baseline: dict[str, float], baseline_time_s: float
) -> dict[str, Any]:
    rows = [r for r in scenario["rows"] if r["outcome"] != "failed"]
    costs, by_tier = [], defaultdict(list)
    transitions: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        cost, path = request_cost(row, model)
        costs.append(cost)
        by_tier[row["outcome"]].append(cost)
        transitions[row["outcome"]].append(len(path))
    # Valkey data storage: what the scenario left in L1, held for the L1 TTL, per request.
    stored_gb = scenario.get("redis_bytes_stored", 0) / GB
    storage = stored_gb * model.l1_ttl_hours * model.prices.usd["valkey_serverless_gb_hour"]
    for cost in costs:
        cost["valkey"] += storage / len(costs)
    with_cache = per_thousand(costs)
    n = scenario["requests"]
    redundant = n - scenario["inference_calls_oracle"]
    gpu_s = model.prices.gpu_seconds_per_inference
    return {
        "scenario": scenario["scenario"],
        "requests": n,
        "outcomes": scenario["outcomes"],
        "per_1000_with_cache_usd": with_cache,
        "per_1000_without_cache_usd": baseline,
        "saving_pct": round(100 * (1 - with_cache["total"] / baseline["total"]), 1),
        "per_request_by_tier_usd": {
            tier: round(per_thousand(tier_costs)["total"] / 1000, 7)
            for tier, tier_costs in sorted(by_tier.items())
        },
        "transitions_by_tier": {
            tier: statistics.fmean(v) for tier, v in sorted(transitions.items())
        },
        "gpu_seconds_per_1000": {
            "with_cache": round(1000 * scenario["inference_calls"] / n * gpu_s),
            "without_cache": round(1000 * gpu_s),
        },
        "mean_time_to_result_s": {
            "with_cache": round(statistics.fmean(time_to_result_s(r, model) for r in rows), 2),
            "without_cache": round(baseline_time_s, 2),
        },
        "redundant_inference_avoided_pct": (
            round(100 * scenario["inference_calls_saved"] / redundant, 1) if redundant else None
        ),
    }


def build_model(replay: dict[str, Any], prices: Prices) -> Model:
    from foleycache.local.template_resources import load_template

    template = load_template(TEMPLATE)
    asl = json.loads(ASL.read_text())
    sample = replay["delivery_sample"]["rows"]
    delivery = {step: mean_usage([r["usage"][step] for r in sample]) for step in DELIVERY_STEPS}
    ttl_s = float(template["Parameters"]["L1TtlSeconds"]["Default"])
    return Model(
        prices, asl, step_functions(template, asl), function_sizes(template), delivery, ttl_s / 3600
    )


def cost_report(replay: dict[str, Any], prices: Prices) -> dict[str, Any]:
    model = build_model(replay, prices)
    misses = [r for s in replay["scenarios"] for r in s["rows"] if r["outcome"] == "miss"]
    baseline = per_thousand([baseline_cost(r, model) for r in misses])
    baseline_time = statistics.fmean(time_to_result_s(r, model, with_cache=False) for r in misses)
    return {
        "what": "USD per 1,000 videos by scenario, with the cache and without, priced from the "
        "replay's measured counts (bench/cost_model.py)",
        "prices_believed_current_at": prices.believed_current_at,
        "prices_recheck": True,
        "region": "us-east-1",
        "gpu_instance": prices.gpu_instance,
        "gpu_seconds_per_inference_assumed": prices.gpu_seconds_per_inference,
        "replay_seed": replay.get("seed"),
        "requests_per_scenario": replay.get("requests_per_scenario"),
        "function_memory_mb": {
            step: model.size_of(step).memory_mb  # type: ignore[union-attr]
            for step in sorted(model.functions)
        },
        "delivery_sample_videos": replay["delivery_sample"]["videos"],
        "seed": {
            "mean_time_s": {"without_cache": 8.7, "with_cache": 1.2},
            "redundant_inference_avoided_pct": 80,
        },
        "scenarios": [
            scenario_report(s, model, baseline, baseline_time) for s in replay["scenarios"]
        ],
    }


def table(report: dict[str, Any]) -> str:
    head = (
        f"{'scenario':>9} {'with cache':>11} {'without':>9} {'saving':>7} "
        f"{'redund. avoided':>16} {'mean time s':>12}"
    )
    lines = [head, "-" * len(head)]
    for s in report["scenarios"]:
        avoided = s["redundant_inference_avoided_pct"]
        lines.append(
            f"{s['scenario']:>9} {s['per_1000_with_cache_usd']['total']:>11.2f} "
            f"{s['per_1000_without_cache_usd']['total']:>9.2f} {s['saving_pct']:>6.1f}% "
            + (f"{avoided:>15.1f}%" if avoided is not None else f"{'-':>16}")
            + f" {s['mean_time_to_result_s']['without_cache']:>5.1f} -> "
            + f"{s['mean_time_to_result_s']['with_cache']:.1f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--replay", type=Path, default=RESULTS / "replay_bench.json")
    parser.add_argument("--prices", type=Path, default=PRICES)
    parser.add_argument("--out", type=Path, default=RESULTS / "cost_model.json")
    args = parser.parse_args()
    report = cost_report(json.loads(args.replay.read_text()), Prices.load(args.prices))
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    when = report["prices_believed_current_at"]
    print(f"USD per 1,000 videos (prices believed current at {when}; re-check them)")
    print(table(report))


if __name__ == "__main__":
    main()
