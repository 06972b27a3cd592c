"""The seam that lets moto's Lambda run this project's handlers in-process.

moto runs Lambda functions only in Docker, which is not available here. Its
``LambdaFunction._invoke_lambda`` is the single point through which both
Step Functions tasks and S3 notifications reach a function, so replacing it
runs the real handler from ``functions/<name>/app.py`` with the real event,
and returns the handler's result, or a Lambda-shaped error payload
(``errorType``/``errorMessage``) that Step Functions' ``Catch`` matches on,
exactly as AWS does.

This depends on a private moto API; moto is pinned, and
``tests/integration/test_lambda_seam.py`` fails if the seam stops working.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Any]


def function_dir_for(logical_id: str) -> str:
    """``CacheLookupFunction`` -> ``cache_lookup``: the template's naming convention."""
    stem = logical_id.removesuffix("Function")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", stem).lower()


def load_handler(app_py: Path, attr: str = "handler") -> Handler:
    """Import ``app.py`` as Lambda's runtime does: by file, under a unique module name."""
    name = f"foleycache_fn_{app_py.parent.name}"
    spec = importlib.util.spec_from_file_location(name, app_py)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {app_py}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # as a normal import would, so annotations resolve
    spec.loader.exec_module(module)
    handler: Handler = getattr(module, attr)
    return handler


@dataclass
class LocalLambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str
    timeout_s: float = 900.0
    memory_limit_in_mb: int = 3008
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    @property
    def function_version(self) -> str:
        return "$LATEST"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_s - (time.monotonic() - self.started)) * 1000))


Invoker = Callable[[Any], tuple[str, bool, str]]


class HandlerRegistry:
    """Function name -> how to run it: a handler loaded in-process from ``functions/``, or
    an invoker that runs the built artefact elsewhere (:mod:`.artefact_runtime`)."""

    def __init__(self) -> None:
        self._invokers: dict[str, Invoker] = {}
        self.invocations: dict[str, int] = {}

    def register(self, function_name: str, handler: Handler) -> None:
        self._invokers[function_name] = lambda event: _run_in_process(function_name, handler, event)

    def register_invoker(self, function_name: str, invoker: Invoker) -> None:
        self._invokers[function_name] = invoker

    def invoke(self, function_name: str, event: Any) -> tuple[str, bool, str]:
        """Run a function; returns moto's ``(payload, errored, logs)`` triple."""
        invoker = self._invokers.get(function_name)
        if invoker is None:
            err = {
                "errorType": "ResourceNotFoundException",
                "errorMessage": f"no handler for {function_name}",
            }
            return json.dumps(err), True, ""
        self.invocations[function_name] = self.invocations.get(function_name, 0) + 1
        return invoker(event)


def _run_in_process(function_name: str, handler: Handler, event: Any) -> tuple[str, bool, str]:
    try:
        result = handler(event, LocalLambdaContext(function_name))
    except Exception as exc:  # the Lambda runtime's contract: any exception is a function error
        log.info("%s failed: %s: %s", function_name, type(exc).__name__, exc)
        payload = {
            "errorType": type(exc).__name__,
            "errorMessage": str(exc),
            "stackTrace": traceback.format_exception(exc)[-5:],
        }
        return json.dumps(payload), True, ""
    return json.dumps(result), False, ""


def install(registry: HandlerRegistry) -> None:
    """Route every moto Lambda invocation to ``registry``."""
    from moto.awslambda.models import LambdaFunction

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        if isinstance(event, str):
            event = json.loads(event or "{}")
        return registry.invoke(self.function_name, event if event is not None else {})

    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]
