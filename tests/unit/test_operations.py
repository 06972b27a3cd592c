"""The dashboard and alarms name only metrics the code emits, with the dimensions it emits.

What the code emits is derived from the code: every emit names a catalogue
:class:`~foleycache.core.metrics.Metric` (an AST scan refuses a literal name, or a
metrics call that bypasses the catalogue), and the emitted set is the catalogue members
that code outside the catalogue refers to.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from foleycache.adapters.powertools_metrics import PowertoolsMetrics
from foleycache.core import metrics as M
from foleycache.local.template_resources import load_template

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "layers" / "core" / "python" / "foleycache"
CATALOGUE = PACKAGE / "core" / "metrics.py"
ADAPTER = PACKAGE / "adapters" / "powertools_metrics.py"
SOURCES = [PACKAGE, REPO / "functions"]
#: Calls that would publish a metric without the catalogue.
BYPASSES = {"count", "timing_ms", "size_bytes", "add_metric", "single_metric"}


def _python_files() -> Iterator[Path]:
    for root in SOURCES:
        yield from (p for p in root.rglob("*.py") if p != CATALOGUE and "local" not in p.parts)


def _catalogue_aliases(tree: ast.Module) -> tuple[set[str], dict[str, str]]:
    """Names the module binds to the catalogue module, and to its members."""
    modules: set[str] = set()
    members: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "foleycache.core":
            modules |= {a.asname or a.name for a in node.names if a.name == "metrics"}
        elif isinstance(node, ast.ImportFrom) and node.module == "foleycache.core.metrics":
            members |= {a.asname or a.name: a.name for a in node.names}
        elif isinstance(node, ast.Import):
            modules |= {
                a.asname or a.name for a in node.names if a.name == "foleycache.core.metrics"
            }
    return modules, members


def _receiver(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def scan(paths: list[Path]) -> tuple[set[str], list[str]]:
    """(catalogue constants the code uses, emits that break the rules)."""
    used: set[str] = set()
    broken: list[str] = []
    for path in paths:
        tree = ast.parse(path.read_text(), str(path))
        modules, members = _catalogue_aliases(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id in modules:
                    used.add(node.attr)
            elif isinstance(node, ast.Name) and node.id in members:
                used.add(members[node.id])
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            where = f"{path.name}:{node.lineno}"
            if name == "emit" and isinstance(func, ast.Attribute):
                first = node.args[0] if node.args else None
                if first is None or isinstance(first, ast.Constant | ast.JoinedStr):
                    broken.append(f"{where}: emit without a catalogue Metric")
            elif name in BYPASSES and path != ADAPTER:
                target = func.value if isinstance(func, ast.Attribute) else None
                if name in {"add_metric", "single_metric"} or (
                    target is not None and "metrics" in _receiver(target).lower()
                ):
                    broken.append(f"{where}: {name}() bypasses the catalogue")
    return used, broken


def emitted_names() -> set[str]:
    used, _ = scan(list(_python_files()))
    catalogue = {k: v for k, v in vars(M).items() if isinstance(v, M.Metric)}
    return {catalogue[name].name for name in used if name in catalogue}


# --- what the template names ------------------------------------------------------------


def _template() -> dict[str, Any]:
    return load_template(REPO / "template.yaml")


def _globals_env(template: dict[str, Any]) -> dict[str, Any]:
    env: dict[str, Any] = template["Globals"]["Function"]["Environment"]["Variables"]
    return env


def _dashboard_body(template: dict[str, Any]) -> dict[str, Any]:
    (dash,) = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    body = dash["Properties"]["DashboardBody"]
    text = body["Fn::Sub"][0] if isinstance(body["Fn::Sub"], list) else body["Fn::Sub"]
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def referenced(template: dict[str, Any], namespace: str) -> dict[str, set[frozenset[str]]]:
    """Metric name -> the dimension-name sets the dashboard and alarms query it with."""
    found: dict[str, set[frozenset[str]]] = {}

    def add(name: str, dims: list[str]) -> None:
        found.setdefault(name, set()).add(frozenset(dims))

    for widget in _dashboard_body(template)["widgets"]:
        for row in widget["properties"].get("metrics", []):
            if isinstance(row[0], dict):
                for match in re.finditer(
                    r"\{([^}]*)\}\s*MetricName=\"(\w+)\"", row[0]["expression"]
                ):
                    ns, *dims = [p.strip() for p in match.group(1).split(",")]
                    if ns == namespace:
                        add(match.group(2), dims)
                continue
            plain = [x for x in row if not isinstance(x, dict)]
            if plain[0] == namespace:
                add(plain[1], plain[2::2])
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        if props.get("Namespace") == namespace:
            add(props["MetricName"], [d["Name"] for d in props.get("Dimensions", [])])
        for query in props.get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("Namespace") == namespace:
                add(metric["MetricName"], [d["Name"] for d in metric.get("Dimensions", [])])
    return found


def unknown_references(template: dict[str, Any], emitted: set[str]) -> list[str]:
    namespace = _globals_env(template)["POWERTOOLS_METRICS_NAMESPACE"]
    catalogue = M.catalogue()
    problems = []
    for name, dim_sets in sorted(referenced(template, namespace).items()):
        if name not in emitted:
            problems.append(f"{name}: named in the template, emitted nowhere in the code")
            continue
        want = frozenset([*(d.value for d in catalogue[name].dimensions), "service"])
        problems += [
            f"{name}: queried by {sorted(d)}, emitted with {sorted(want)}"
            for d in dim_sets
            if d != want
        ]
    return problems


# --- tests -------------------------------------------------------------------------------


def test_every_emit_names_a_catalogue_metric() -> None:
    _, broken = scan(list(_python_files()))
    assert broken == []


def test_the_scan_catches_a_literal_name_and_a_bypass(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f(services):\n"
        "    services.metrics.emit('Made Up')\n"
        "    services.metrics.count('Old')\n"
    )
    _, broken = scan([bad])
    assert len(broken) == 2


def test_every_catalogue_metric_is_emitted_somewhere() -> None:
    """A catalogue entry nobody emits would let the template name a flat line."""
    assert set(M.catalogue()) - emitted_names() == set()


def test_dashboard_and_alarms_name_only_metrics_the_code_emits() -> None:
    assert unknown_references(_template(), emitted_names()) == []


def test_the_check_fails_for_a_metric_the_code_never_emits() -> None:
    template = _template()
    alarm = next(
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"].get("MetricName") == "ArchivalRun"
    )
    alarm["Properties"]["MetricName"] = "ArchivalRan"
    assert unknown_references(template, emitted_names()) == [
        "ArchivalRan: named in the template, emitted nowhere in the code"
    ]


def test_the_service_dimension_queried_is_the_one_powertools_adds() -> None:
    template = _template()
    service = _globals_env(template)["POWERTOOLS_SERVICE_NAME"]
    text = json.dumps(template["Resources"])
    assert f'"service", "{service}"' in text or f'"Value": "{service}"' in text
    body = json.dumps(_dashboard_body(template))
    assert body.count('"service"') == body.count(f'"service", "{service}"')


def test_every_hit_tier_is_in_the_hit_ratio_graph_and_alarm() -> None:
    template = _template()
    hit_dims = {
        (row[2], row[3])
        for w in _dashboard_body(template)["widgets"]
        for row in w["properties"].get("metrics", [])
        if not isinstance(row[0], dict) and row[1] == M.HIT.name
    }
    assert hit_dims == {("Tier", t) for t in M.HIT_TIERS}
    alarm = template["Resources"]["HitRatioCollapseAlarm"]["Properties"]
    tiers = {
        d["Value"]
        for q in alarm["Metrics"]
        for d in q.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
        if d["Name"] == "Tier"
    }
    assert tiers == set(M.HIT_TIERS)


def test_every_failure_stage_has_a_failure_rate_alarm() -> None:
    alarmed = {
        d["Value"]
        for r in _template()["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        for q in r["Properties"].get("Metrics", [])
        for d in q.get("MetricStat", {}).get("Metric", {}).get("Dimensions", [])
        if d["Name"] == "Stage"
    }
    assert alarmed == set(M.FAILURE_STAGES)


def test_dead_letter_queues_and_the_endpoint_backlog_are_alarmed() -> None:
    resources = _template()["Resources"]
    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    queues = {
        a["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in alarms
        if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"
    }
    assert queues == {k for k, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
    assert any(a.get("MetricName") == "ApproximateBacklogSize" for a in alarms)
    archival = next(a for a in alarms if a.get("MetricName") == M.ARCHIVAL_RUN.name)
    assert archival["TreatMissingData"] == "breaching"  # no run at all is what it is for


def test_powertools_writes_exactly_the_catalogue_dimensions(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "foleycache")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "FoleyCache")
    sink = PowertoolsMetrics()
    sink.emit(M.HIT, Tier="l1")
    sink.emit(M.TIME_TO_RESULT, 2.5, Tier="miss")
    sink.emit(M.MISS)
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    directives = [r["_aws"]["CloudWatchMetrics"][0] for r in records]
    assert [d["Dimensions"] for d in directives] == [
        [["Tier", "service"]],
        [["Tier", "service"]],
        [["service"]],
    ]
    assert records[1]["TimeToResult"] == [2.5] and records[1]["Tier"] == "miss"
    assert directives[1]["Metrics"] == [{"Name": "TimeToResult", "Unit": "Seconds"}]
    with pytest.raises(ValueError, match="takes dimensions"):
        sink.emit(M.HIT)  # a hit without its tier would be a metric no graph shows
