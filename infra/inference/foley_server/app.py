"""The HTTP face of the container.

Two sets of routes over one ``FoleyService``:

* the BYOC contract SageMaker calls inside AWS: ``GET /ping``, ``POST /invocations``;
* the SageMaker *runtime* API that boto3 calls (``/endpoints/<name>/invocations`` and
  ``/endpoints/<name>/async-invocations``), answered in the wire format of botocore's
  ``sagemaker-runtime`` model, so pointing ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` here
  is the only difference between a local run and AWS. Container errors on that route
  come back as SageMaker's ``ModelError`` (424 with ``OriginalStatusCode``), exactly
  what a client sees on AWS.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from typing import Any

from flask import Flask, Response, request

from foley_server.async_inference import AsyncInvoker
from foley_server.backend import FoleyBackend, load_backend
from foley_server.config import ServerConfig
from foley_server.invocation import FoleyService, InvocationResult
from foley_server.s3_objects import S3Objects
from foleycache.core.errors import FoleyError

log = logging.getLogger(__name__)

CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


class ServerState:
    """What ``/ping`` and ``/stats`` report; the model loads in the background."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.invocations = 0
        self.async_invocations = 0
        #: The latest async requests' inference ids (bounded): the request log that shows
        #: how often each cache key was generated (the id is derived from the key).
        self.async_ids: deque[str] = deque(maxlen=10_000)
        self.service: FoleyService | None = None
        self.async_invoker: AsyncInvoker | None = None
        self.load_error: str | None = None

    def count(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)


def create_app(
    config: ServerConfig | None = None,
    backend: FoleyBackend | None = None,
    s3: S3Objects | None = None,
    load_in_background: bool = True,
) -> Flask:
    """Build the app; the (possibly slow) model load never blocks ``/ping`` from answering.

    A configuration the server refuses (e.g. ``FOLEY_BACKEND=auto``) or a backend that cannot
    load (``hunyuan`` without its package, CUDA or weights) leaves ``/ping`` answering 500 with
    the reason: the endpoint never becomes healthy, and never serves another model instead.
    """
    state = ServerState()
    app = Flask(__name__)
    app.config["foley_state"] = state
    if config is None:
        try:
            config = ServerConfig.from_env()
        except ValueError as err:
            state.load_error = f"configuration refused: {err}"
            log.error("%s", state.load_error)
    loaded_config = config

    def load() -> None:
        if loaded_config is None:
            return
        try:
            objects = s3 or S3Objects()
            service = FoleyService(backend or load_backend(loaded_config), objects)
            state.async_invoker = AsyncInvoker(
                service,
                objects,
                loaded_config.async_output_s3_uri,
                loaded_config.failure_s3_uri,
                loaded_config.async_workers,
            )
            state.service = service
            identity = service.backend.identity
            log.info(
                "model loaded: backend=%s version=%s (%s) weights=%s",
                identity.backend,
                identity.served_version,
                identity.version_source,
                identity.weights_digest,
            )
        except Exception as err:
            state.load_error = f"{type(err).__name__}: {err}"
            log.exception("model failed to load")

    if load_in_background and loaded_config is not None:
        threading.Thread(target=load, name="foley-model-load", daemon=True).start()
    else:
        load()

    @app.get("/ping")
    def ping() -> Response:
        """200 with the backend, the served and derived model versions and the weights digest."""
        if state.service is None:
            status = 500 if state.load_error else 503
            return _json(
                {
                    "status": "error" if state.load_error else "loading",
                    "backend": loaded_config.backend if loaded_config else None,
                    "error": state.load_error,
                },
                status,
            )
        return _json({"status": "ok", **state.service.backend.identity.as_json()}, 200)

    @app.get("/stats")
    def stats() -> Response:
        with state.lock:
            body: dict[str, Any] = {
                "invocations": state.invocations,
                "async_invocations": state.async_invocations,
                "async_inference_ids": list(state.async_ids),
                "model_version": state.service.model_version if state.service else None,
                "backend": state.service.backend.name if state.service else None,
            }
        log_ = state.service.request_log() if state.service else []
        body["generated_s"] = round(sum(r["generated_s"] for r in log_), 6)
        return _json(body, 200)

    @app.get("/requests")
    def requests_log() -> Response:
        """What each model run was asked for: the witness of GPU seconds spent."""
        return _json({"requests": state.service.request_log() if state.service else []}, 200)

    @app.post("/invocations")
    def invocations() -> Response:
        """The container contract: plain status codes (400/404/409/422/5xx) with JSON errors."""
        state.count("invocations")
        result = _invoke(state, request.get_data())
        response = _json(result.body, result.status)
        _echo_custom_attributes(response)
        return response

    @app.post("/endpoints/<name>/invocations")
    def runtime_invoke(name: str) -> Response:
        """``InvokeEndpoint`` as SageMaker runtime answers it."""
        state.count("invocations")
        result = _invoke(state, request.get_data())
        if result.ok:
            response = _json(result.body, result.status)
            response.headers["x-Amzn-Invoked-Production-Variant"] = "AllTraffic"
        else:
            response = _model_error(result)
        _echo_custom_attributes(response)
        return response

    @app.post("/endpoints/<name>/async-invocations")
    def runtime_invoke_async(name: str) -> Response:
        """``InvokeEndpointAsync``: 202, result locations in headers, the id in the body."""
        state.count("async_invocations")
        with state.lock:
            state.async_ids.append(request.headers.get("X-Amzn-SageMaker-Inference-Id", ""))
        invoker = state.async_invoker
        if invoker is None:
            return _runtime_error("ServiceUnavailable", "the model is still loading", 503)
        headers = request.headers
        content_type = headers.get("X-Amzn-SageMaker-Content-Type", "application/json")
        if content_type.split(";")[0].strip() != "application/json":
            return _runtime_error("ValidationError", f"unsupported ContentType {content_type}", 400)
        try:
            ticket = invoker.submit(
                input_location=headers.get("X-Amzn-SageMaker-InputLocation"),
                inline_body=request.get_data() or None,
                inference_id=headers.get("X-Amzn-SageMaker-Inference-Id"),
                path_extension=headers.get("X-Amzn-SageMaker-S3OutputPathExtension", ""),
                filename=headers.get("X-Amzn-SageMaker-Filename", ""),
            )
        except FoleyError as err:
            return _runtime_error("ValidationError", str(err), 400)
        response = _json({"InferenceId": ticket.inference_id}, 202)
        response.headers["X-Amzn-SageMaker-OutputLocation"] = str(ticket.output)
        response.headers["X-Amzn-SageMaker-FailureLocation"] = str(ticket.failure)
        return response

    return app


def _invoke(state: ServerState, body: bytes) -> InvocationResult:
    if state.service is None:
        return InvocationResult(503, {"error": "the model is still loading", "code": "NotReady"})
    return state.service.invoke(body)


def _json(body: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _model_error(result: InvocationResult) -> Response:
    """What SageMaker runtime returns when the container answers non-2xx."""
    kind = "client" if result.status < 500 else "server"
    original = result.json_bytes().decode("utf-8")
    message = f'Received {kind} error ({result.status}) from primary with message "{original}"'
    body = {
        "Message": message,
        "OriginalStatusCode": result.status,
        "OriginalMessage": original,
    }
    response = _json(body, 424)
    response.headers["x-amzn-ErrorType"] = "ModelError"
    return response


def _runtime_error(code: str, message: str, status: int) -> Response:
    response = _json({"message": message}, status)
    response.headers["x-amzn-ErrorType"] = code
    return response


def _echo_custom_attributes(response: Response) -> None:
    value = request.headers.get(CUSTOM_ATTRIBUTES)
    if value:
        response.headers[CUSTOM_ATTRIBUTES] = value
