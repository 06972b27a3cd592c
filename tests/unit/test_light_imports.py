"""The zip functions import nothing heavy: the core layer has numpy, not OpenCV or onnxruntime.

Each handler is imported the way Lambda does it, by file path from its own directory
(``LAMBDA_TASK_ROOT``), in a fresh interpreter: this test process has long since loaded
cv2 and friends for other tests, so ``sys.modules`` here would prove nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes import SETTINGS_ENV

REPO = Path(__file__).resolve().parents[2]
CORE_LAYER = REPO / "layers" / "core" / "python"
#: Functions packaged as a container image, where the heavy libraries are allowed.
IMAGE_FUNCTIONS = {"fingerprint"}
HOT_PATH = sorted(
    p.parent.name
    for p in (REPO / "functions").glob("*/app.py")
    if p.parent.name not in IMAGE_FUNCTIONS
)
#: Not in the core layer (opencv, onnxruntime; torch and PIL come with the export
#: extra), or local/test-only (flask is the inference server's, moto and
#: foleycache.local the local stack's).
FORBIDDEN = ("cv2", "onnxruntime", "torch", "PIL", "flask", "moto", "foleycache.local")

# Runs in the subprocess: import app.py as foleycache.local.lambda_seam.load_handler does
# (without importing foleycache.local itself), then report what got loaded.
LOAD_HANDLER = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("foleycache_fn_under_test", "app.py")
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module
spec.loader.exec_module(module)
forbidden = json.loads(sys.argv[1])
print(json.dumps({
    "handler": callable(getattr(module, "handler", None)),
    "loaded": [m for m in forbidden if m in sys.modules],
}))
"""


def _run(code: str, cwd: Path, *args: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))} | {
        "PYTHONPATH": str(CORE_LAYER),  # /opt/python on Lambda
        # Only what the handlers may read at import time; nothing here reaches AWS.
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "POWERTOOLS_SERVICE_NAME": "foleycache",
        "POWERTOOLS_METRICS_NAMESPACE": "FoleyCache",
        "POWERTOOLS_TRACE_DISABLED": "true",
        **SETTINGS_ENV,
        "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:x",
    }
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_hot_path_is_every_zip_function() -> None:
    assert {"api", "cache_lookup", "lease", "inference", "mux", "package"} <= set(HOT_PATH)


@pytest.mark.parametrize("name", HOT_PATH)
def test_handler_imports_nothing_heavy(name: str) -> None:
    result = _run(LOAD_HANDLER, REPO / "functions" / name, json.dumps(FORBIDDEN))
    assert result["handler"], f"functions/{name}/app.py has no callable handler"
    assert result["loaded"] == [], f"functions/{name} imports {result['loaded']} at load time"


def test_fingerprint_package_loads_its_heavy_exports_on_first_use() -> None:
    code = """
import json, sys
import foleycache.fingerprint as fp
light = "cv2" not in sys.modules and "onnxruntime" not in sys.modules
from foleycache.fingerprint import fingerprint_video
from foleycache.fingerprint.extract import fingerprint_video as real
try:
    fp.no_such_name
    missing = False
except AttributeError:
    missing = True
print(json.dumps({
    "light": light, "same": fingerprint_video is real, "cv2": "cv2" in sys.modules,
    "missing": missing, "all": all(hasattr(fp, n) for n in fp.__all__),
}))
"""
    result = _run(code, REPO)
    assert result == {"light": True, "same": True, "cv2": True, "missing": True, "all": True}
