"""Schemathesis against ``foleycache api serve`` on the real local stack.

It generates valid and invalid requests for every operation of the served OpenAPI
document (examples, coverage, fuzzing, and stateful sequences that follow a created job),
and fails on any 5xx, any status, content type, header or body that the document does
not allow, or any answer slower than ``--max-response-time``. The run is bounded: a few
dozen examples per operation, a time budget, a per-request timeout, and a hard timeout on
the whole process, so a hang fails the test instead of stalling the suite.

The server's throttle is raised for this run: throttling is tested on its own
(``test_api_http.py``), and here it would only turn most requests into 429s.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from foleycache.local.api_server import PRINCIPAL_HEADER
from foleycache.local.stack import StackInfo
from tests.api_http import api_server, principal

pytestmark = pytest.mark.integration

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)
MAX_EXAMPLES = int(os.environ.get("FOLEYCACHE_FUZZ_EXAMPLES", "40"))
TIME_BUDGET_S = int(os.environ.get("FOLEYCACHE_FUZZ_SECONDS", "60"))
HARD_TIMEOUT_S = TIME_BUDGET_S + 240


@pytest.fixture(scope="module")
def base(local_stack: StackInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with api_server(
        tmp_path_factory.mktemp("fuzz"), "--rate", "100000", "--burst", "100000"
    ) as url:
        yield url


def test_schemathesis_finds_no_5xx_no_schema_break_and_no_hang(base: str, tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{base}/v1/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--max-time",
        str(TIME_BUDGET_S),
        "--request-timeout",
        "10",
        "--max-response-time",
        "5",
        "--workers",
        "1",
        "--header",
        f"{PRINCIPAL_HEADER}: {principal('fuzz')}",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    if "FOLEYCACHE_FUZZ_SEED" in os.environ:
        command += ["--seed", os.environ["FOLEYCACHE_FUZZ_SEED"]]
    done = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=HARD_TIMEOUT_S,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    # Every operation of the document was run (schemathesis leaves out the document's own).
    assert "Tested: 5" in output and "Selected: 5/5" in output, output[-3000:]
