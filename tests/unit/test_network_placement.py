"""Which functions reach Valkey is derived from the code; exactly those run in the VPC.

Valkey (ElastiCache Serverless) is reachable only inside the VPC, and the code treats
Redis as optional, so a function placed outside would not fail: it would silently lose
L1, the negative cache and the exact-repeat memory. Hence this check, both ways.

The derivation: a call graph over the handlers (``functions/*/app.py``) and the
module-level functions of the pipeline steps and the cache's use cases
(``foleycache.pipeline``, ``foleycache.cache``), by name. A function reaches Redis when
it, or anything it calls, reads one of the ports backed by Redis from the services bundle
(``services.hot``, ``.hot_index``, ``.cache`` (L1 in front of L2), ``.near``).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from foleycache.local.lambda_seam import function_dir_for
from foleycache.local.template_resources import load_template, resources_of_type

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "layers" / "core" / "python" / "foleycache"
USE_CASES = (PACKAGE / "pipeline", PACKAGE / "cache")
REDIS_PORTS = {"hot", "hot_index", "cache", "near"}


def _functions(path: Path) -> dict[str, ast.FunctionDef]:
    """Module-level functions (methods are reached through ``services.<port>``)."""
    tree = ast.parse(path.read_text())
    return {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}


def _touches_redis(fn: ast.FunctionDef) -> bool:
    return any(
        isinstance(n, ast.Attribute)
        and n.attr in REDIS_PORTS
        and isinstance(n.value, ast.Name)
        and n.value.id == "services"
        for n in ast.walk(fn)
    )


def _callees(fn: ast.FunctionDef) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(fn):
        if isinstance(node, ast.Call):
            target = node.func
            if isinstance(target, ast.Name):
                names.add(target.id)
            elif isinstance(target, ast.Attribute):
                names.add(target.attr)
    return names


def _use_case_graph() -> dict[str, list[ast.FunctionDef]]:
    graph: dict[str, list[ast.FunctionDef]] = {}
    for module in sorted(m for folder in USE_CASES for m in folder.glob("*.py")):
        for name, fn in _functions(module).items():
            graph.setdefault(name, []).append(fn)
    return graph


def reaches_redis(handler: Path) -> bool:
    graph = _use_case_graph()
    todo = list(_callees(_functions(handler)["handler"]))
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in graph:
            continue
        seen.add(name)
        for fn in graph[name]:
            if _touches_redis(fn):
                return True
            todo.extend(_callees(fn))
    return False


def _template_functions() -> dict[str, dict[str, Any]]:
    template = load_template(REPO / "template.yaml")
    return resources_of_type(template, "AWS::Serverless::Function")


def test_exactly_the_functions_that_reach_redis_run_in_the_vpc_with_its_url() -> None:
    functions = _template_functions()
    redis_users = {
        logical_id
        for logical_id in functions
        if reaches_redis(REPO / "functions" / function_dir_for(logical_id) / "app.py")
    }
    in_vpc = {lid for lid, f in functions.items() if "VpcConfig" in f["Properties"]}
    with_url = {
        lid
        for lid, f in functions.items()
        if "REDIS_URL" in f["Properties"].get("Environment", {}).get("Variables", {})
    }
    assert redis_users == in_vpc == with_url, (
        f"reach Redis: {sorted(redis_users)}; in the VPC: {sorted(in_vpc)}; "
        f"given REDIS_URL: {sorted(with_url)}"
    )


def test_the_derivation_sees_redis_through_calls_and_not_where_there_is_none() -> None:
    # The pipeline's two ends: delivery never touches the cache tiers; the lookup does.
    assert not reaches_redis(REPO / "functions" / "mux" / "app.py")
    assert not reaches_redis(REPO / "functions" / "ingest" / "app.py")
    assert reaches_redis(REPO / "functions" / "cache_lookup" / "app.py")
    # JobStatus reaches Redis only through finish() -> hit tracking / repeat memory.
    assert reaches_redis(REPO / "functions" / "job_status" / "app.py")
