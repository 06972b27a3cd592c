"""One warm Lambda execution environment: runs a built function as Lambda's runtime does.

Started by :mod:`foleycache.local.artefact_runtime` with the runtime's interpreter and
the function's exact environment. It imports nothing from the source tree: ``sys.path``
is what Lambda's is (``/var/task``, then the layers under ``/opt``, then the runtime's
own packages), with the local folders that stand in for them given as arguments. The
handler is imported once (the cold start) and then serves invocations one at a time.

Protocol: one JSON request per line on stdin (``{"event", "request_id", "timeout_s"}``),
one JSON reply per line on file descriptor ``--reply-fd`` (``{"payload", "errored"}``);
stdout and stderr are the function's log, as in CloudWatch.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
import traceback
from typing import Any


class Context:
    """The attributes of Lambda's context object that Powertools reads."""

    def __init__(self, request_id: str, timeout_s: float) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.invoked_function_arn = (
            f"arn:aws:lambda:{os.environ['AWS_REGION']}:000000000000:function:{self.function_name}"
        )
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc)[-5:],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--task-root", required=True)
    parser.add_argument("--path", action="append", default=[])
    parser.add_argument("--handler", default="app.handler")
    parser.add_argument("--reply-fd", type=int, required=True)
    args = parser.parse_args()

    os.chdir(args.task_root)
    sys.path[:0] = [args.task_root, *args.path]
    replies = os.fdopen(args.reply_fd, "w", buffering=1)
    module_name, attr = args.handler.rsplit(".", 1)
    try:
        spec = importlib.util.spec_from_file_location(
            module_name, os.path.join(args.task_root, module_name + ".py")
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        handler = getattr(module, attr)
        init_error: dict[str, Any] | None = None
    except Exception as exc:  # Lambda reports an init failure on every invocation
        traceback.print_exc()
        init_error = {
            **_error(exc),
            "errorType": "Runtime.ImportModuleError",
            "errorMessage": f"Unable to import module '{module_name}': {exc}",
        }

    for line in sys.stdin:
        request = json.loads(line)
        if init_error is not None:
            reply: dict[str, Any] = {"payload": init_error, "errored": True}
        else:
            try:
                context = Context(request["request_id"], request["timeout_s"])
                reply = {"payload": handler(request["event"], context), "errored": False}
            except Exception as exc:  # any exception is a function error, as on Lambda
                traceback.print_exc()
                reply = {"payload": _error(exc), "errored": True}
        sys.stdout.flush()
        sys.stderr.flush()
        replies.write(json.dumps(reply, default=str) + "\n")


if __name__ == "__main__":
    main()
