"""``foleycache api serve``: the API's own resolver over HTTP, on the local stack.

Each HTTP request becomes the API Gateway REST proxy event that API Gateway would send
the ``ApiFunction`` (method, path, headers, query string, body, request context), and the
real handler from ``functions/api/app.py`` answers it, in this process, against the
running stack's S3, DynamoDB and Step Functions. With a stack running the built
artefacts (``stack up --artefacts``) the event goes through moto's Lambda instead, so the
artefact runs with its own role.

What stands in for API Gateway here, and only here:

- **Identity.** On AWS the ``AWS_IAM`` authorizer verifies the SigV4 signature and puts
  the caller in ``requestContext.identity``; the handler reads nothing else. This server
  takes the caller from the ``X-Foleycache-Local-Principal`` header (an IAM ARN;
  :data:`DEFAULT_PRINCIPAL` without it), puts it in ``identity.userArn`` and ``caller``,
  and strips the header. The deployed API never reads that header.
- **Throttling.** On AWS, API Gateway throttles (the template's ``MethodSettings``:
  ``ApiThrottleRateLimit`` per second, bursts of ``ApiThrottleBurstLimit``); the handler
  does not. Here a token bucket *per principal*, with the template's defaults, answers
  ``429 {"error", "code": "TooManyRequests"}`` (and ``Retry-After``) before the handler
  runs. (``FoleyApi``'s gateway responses give API Gateway's own 429 the same format.)
- **Limits.** A body over 10 MB is refused (413) as API Gateway refuses it.
- **One request at a time** reaches the handler, as one Lambda container serves one at
  a time (the resolver keeps the current event on itself); the HTTP side is threaded.
- **Environment.** The stack's, less the settings the template does not give
  ``ApiFunction``: it is outside the VPC, so no ``REDIS_URL``, and the API reads the
  durable exact-repeat record from DynamoDB as it does on AWS.

``python -m foleycache.local.api_server openapi --write`` regenerates ``docs/openapi.json``
from the code (``tests/unit/test_openapi_document.py`` fails when they differ).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from foleycache.core.job import normalise_principal
from foleycache.local.paths import functions_dir, repo_root, state_dir

PRINCIPAL_HEADER = "X-Foleycache-Local-Principal"
DEFAULT_PRINCIPAL = "arn:aws:iam::123456789012:user/local-developer"
STAGE = "local"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
DEFAULT_PORT = 3000  # as `sam local start-api`
OPENAPI_PATH = Path("docs") / "openapi.json"

Invoke = Callable[[dict[str, Any]], dict[str, Any]]


class TokenBucket:
    """Per-key token buckets: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """0 if a request may pass now (a token is spent), else seconds until one may."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._state[key] = (tokens - 1.0, now)
                return 0.0
            self._state[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


def template_throttle() -> tuple[float, float]:
    """(rate, burst): the defaults of the template's ApiThrottle* parameters."""
    from foleycache.local.template_resources import load_template

    params = load_template(repo_root() / "template.yaml")["Parameters"]
    return (
        float(params["ApiThrottleRateLimit"]["Default"]),
        float(params["ApiThrottleBurstLimit"]["Default"]),
    )


def _error(status: int, error: str, code: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"error": error, "code": code}),
        "isBase64Encoded": False,
    }


def build_event(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    principal: str,
    source_ip: str,
) -> dict[str, Any]:
    """The REST proxy event API Gateway sends for this request (path decoded, headers and
    query string both single- and multi-valued, the caller in the request context)."""
    parts = urlsplit(target)
    path = unquote(parts.path) or "/"
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        if name.lower() == PRINCIPAL_HEADER.lower():
            continue
        multi.setdefault(name, []).append(value)
        single[name] = value
    query_multi: dict[str, list[str]] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query_multi.setdefault(name, []).append(value)
    text: str | None = None
    encoded = False
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode("ascii"), True
    account = principal.split(":")[4]
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": {k: v[-1] for k, v in query_multi.items()} or None,
        "multiValueQueryStringParameters": query_multi or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": account,
            "apiId": "local",
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/{STAGE}{path}",
            "stage": STAGE,
            "protocol": "HTTP/1.1",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {
                "userArn": principal,
                "caller": principal.rsplit(":", 1)[-1],
                "user": principal.rsplit(":", 1)[-1],
                "accountId": account,
                "accessKey": "LOCAL",
                "sourceIp": source_ip,
                "userAgent": single.get("User-Agent", single.get("user-agent", "")),
            },
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], invoke: Invoke, bucket: TokenBucket) -> None:
        super().__init__(address, ApiRequestHandler)
        self.invoke = invoke
        self.bucket = bucket
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class ApiRequestHandler(BaseHTTPRequestHandler):
    server: ApiServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (bad request line, unknown method) in the API's format."""
        status = HTTPStatus(code)
        self._send(_error(code, message or status.phrase, status.phrase.replace(" ", "")))

    def _send(self, answer: dict[str, Any]) -> None:
        status = int(answer.get("statusCode", 500))
        body_text = answer.get("body") or ""
        body = (
            base64.b64decode(body_text)
            if answer.get("isBase64Encoded")
            else str(body_text).encode("utf-8")
        )
        headers: dict[str, list[str]] = {
            k: [str(v)] for k, v in (answer.get("headers") or {}).items()
        }
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            headers[name] = [str(v) for v in values]
        self.send_response(status)
        for name, values in headers.items():
            if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
                for value in values:
                    self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        # Headers and body in one write: two small writes on a kept-alive connection meet
        # the client's delayed ACK (~40 ms a request), which the benchmark would measure.
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()

    def _handle(self) -> None:
        length_text = self.headers.get("Content-Length", "0") or "0"
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send(_error(400, "a bad Content-Length", "BadRequest"))
            return
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the body is not read
            self._send(_error(413, f"the body is over {MAX_BODY_BYTES} bytes", "PayloadTooLarge"))
            return
        body = self.rfile.read(length) if length else b""
        arn = self.headers.get(PRINCIPAL_HEADER) or DEFAULT_PRINCIPAL
        principal = normalise_principal(arn)
        if principal is None:
            self._send(_error(400, f"{PRINCIPAL_HEADER} must be an IAM ARN", "InvalidPrincipal"))
            return
        wait_s = self.server.bucket.take(principal)
        if wait_s > 0:
            answer = _error(429, "too many requests: slow down and retry", "TooManyRequests")
            answer["headers"]["Retry-After"] = str(max(1, round(wait_s + 0.5)))
            self._send(answer)
            return
        event = build_event(
            self.command, self.path, list(self.headers.items()), body, arn, self.client_address[0]
        )
        with self.server.lock:
            try:
                answer = self.server.invoke(event)
            except Exception as exc:  # what API Gateway answers when the function fails
                self.log_message("handler failed: %s: %s", type(exc).__name__, exc)
                answer = _error(502, "the API function failed", "BadGateway")
        self._send(answer)

    def __getattr__(self, name: str) -> Any:
        """Every method reaches the resolver (``do_TRACE`` too), as every method reaches
        API Gateway: one that no route has is a 404 in the API's format, never a 501."""
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)


# --- wiring ---------------------------------------------------------------------------------


def api_function_environment() -> set[str]:
    """Names of the variables the template gives ApiFunction (its own and Globals')."""
    from foleycache.local.template_resources import load_template

    template = load_template(repo_root() / "template.yaml")
    own = template["Resources"]["ApiFunction"]["Properties"].get("Environment", {})
    glob = template.get("Globals", {}).get("Function", {}).get("Environment", {})
    return set(own.get("Variables", {})) | set(glob.get("Variables", {}))


def in_process_invoker() -> Invoke:
    """The real handler, loaded as Lambda loads it, with the stack's environment as the
    template shapes it (already applied to ``os.environ``)."""
    from foleycache.local.lambda_seam import LocalLambdaContext, load_handler

    warnings.filterwarnings("ignore", message="No application metrics to publish")
    handler = load_handler(functions_dir() / "api" / "app.py")

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = handler(event, LocalLambdaContext("ApiFunction", timeout_s=29))
        return answer

    return invoke


def lambda_invoker(function_name: str) -> Invoke:
    """Through moto's Lambda (the built artefact, with its role)."""
    import boto3

    client = boto3.client("lambda")

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        resp = client.invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
        payload: dict[str, Any] = json.loads(resp["Payload"].read())
        if resp.get("FunctionError"):
            raise RuntimeError(payload.get("errorMessage", "function error"))
        return payload

    return invoke


def make_server(
    port: int, host: str = "127.0.0.1", rate: float | None = None, burst: float | None = None
) -> ApiServer:
    """Start (or reuse) the local stack and build the server on it."""
    from foleycache.local.stack import start_daemon, use_stack

    info = start_daemon()
    use_stack(info)
    wanted = api_function_environment()
    for name in ("REDIS_URL",):  # outside the VPC on AWS; see the module docstring
        if name not in wanted:
            os.environ.pop(name, None)
    if info.artefacts:
        invoke = lambda_invoker(info.functions["ApiFunction"])
    else:
        invoke = in_process_invoker()
    default_rate, default_burst = template_throttle()
    bucket = TokenBucket(rate or default_rate, burst or default_burst)
    return ApiServer((host, port), invoke, bucket)


#: Where ``api serve`` also writes its output in the stack's state directory: its metrics
#: (EMF lines on stdout, as in Lambda) then reach ``foleycache cache stats`` beside the
#: stack's own, as both reach CloudWatch in the cloud.
API_LOG = "api.log"


class _Tee:
    """stdout that also appends to a file (writes from the server's threads, serialised)."""

    def __init__(self, stream: Any, path: Path) -> None:
        self.stream = stream
        self.file = path.open("a", encoding="utf-8")
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            self.stream.write(text)
            self.file.write(text)
            self.file.flush()
        return len(text)

    def flush(self) -> None:
        with self.lock:
            self.stream.flush()
            self.file.flush()


def serve(
    port: int, host: str = "127.0.0.1", rate: float | None = None, burst: float | None = None
) -> int:
    server = make_server(port, host, rate, burst)
    state_dir().mkdir(parents=True, exist_ok=True)
    sys.stdout = _Tee(sys.stdout, state_dir() / API_LOG)
    print(
        f"foleycache API on {server.url} (stage {STAGE}; caller from {PRINCIPAL_HEADER}, "
        f"default {DEFAULT_PRINCIPAL}; {server.bucket.rate:g}/s, burst "
        f"{server.bucket.burst:g} per caller)",
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


# --- the OpenAPI document -------------------------------------------------------------------

#: Placeholders so the handler module imports without a stack: the document depends on
#: the code alone, never on these values.
_DOCUMENT_ENV = {
    "UPLOADS_BUCKET": "foleycache-docs-uploads",
    "CACHE_BUCKET": "foleycache-docs-cache",
    "TABLE_NAME": "foleycache-docs",
    "SAGEMAKER_ENDPOINT_NAME": "foleycache-docs",
    "MODEL_VERSION": "docs",
    "STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:docs",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
}


def openapi_document() -> str:
    """The document generated from ``functions/api/app.py`` (Powertools'
    ``get_openapi_json_schema``), pretty-printed with sorted keys."""
    from foleycache.local.lambda_seam import load_handler

    for name, value in _DOCUMENT_ENV.items():
        os.environ.setdefault(name, value)
    document: Callable[..., Any] = load_handler(
        functions_dir() / "api" / "app.py", "openapi_document"
    )
    return str(document())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m foleycache.local.api_server")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="serve the API over HTTP on the local stack")
    run.add_argument("--port", type=int, default=DEFAULT_PORT)
    run.add_argument("--rate", type=float, default=None)
    run.add_argument("--burst", type=float, default=None)
    doc = sub.add_parser("openapi", help="print the OpenAPI document, or --write it")
    doc.add_argument("--write", action="store_true", help=f"write {OPENAPI_PATH}")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args.port, rate=args.rate, burst=args.burst)
    text = openapi_document()
    if args.write:
        (repo_root() / OPENAPI_PATH).write_text(text)
        print(f"wrote {OPENAPI_PATH}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
