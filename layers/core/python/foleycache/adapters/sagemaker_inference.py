"""The SageMaker async endpoint as the :class:`~foleycache.core.ports.Inference` port.

Every run goes through ``InvokeEndpointAsync`` (the deployed endpoint has an
``AsyncInferenceConfig``, which refuses real-time calls): the request JSON, S3
references only, is written to S3; the result JSON lands at the output location
the notification names.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from foleycache.core.errors import (
    EndpointUnavailable,
    FoleyError,
    InferenceFailed,
    InvalidInput,
    InvalidVideo,
    ModelVersionMismatch,
)
from foleycache.core.ports import InferenceNotice, InferenceRequest, InferenceResult

log = logging.getLogger(__name__)

_BY_STATUS: dict[int, type[FoleyError]] = {
    400: InvalidInput,
    409: ModelVersionMismatch,
    422: InvalidVideo,
}


def _split(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


def _error_from(exc: ClientError) -> FoleyError:
    resp: dict[str, Any] = exc.response
    status = int(
        resp.get("OriginalStatusCode") or resp.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    )
    message = str(resp.get("Error", {}).get("Message") or exc)
    with contextlib.suppress(ValueError, AttributeError):
        message = str(json.loads(message).get("error", message))
    return _BY_STATUS.get(status, InferenceFailed)(f"the Foley model failed: {message}")


def _result(body: dict[str, Any]) -> InferenceResult:
    return InferenceResult(
        audio_uri=str(body["audio_s3_uri"]),
        model_version=str(body["model_version"]),
        sample_rate=int(body["sample_rate"]),
        duration_s=float(body["duration_s"]),
        backend=str(body.get("backend", "")),
        inference_ms=float(body.get("inference_ms", 0.0)),
        windows=tuple(body.get("windows") or ()),
        weights_digest=str(body.get("weights_digest", "")),
        spans=tuple((int(lo), int(hi)) for lo, hi in body.get("spans") or ()),
    )


class SageMakerFoley:
    """Starts runs with ``InvokeEndpointAsync`` and reads them when the endpoint says so.

    No polling and no waiting: the endpoint's success and error topics (SNS) carry the
    notification that :func:`notice_from` parses. The request names its run
    (``InferenceId``, derived from the cache key) and carries it in the custom
    attributes too, so the notification leads back to the waiting task. The client
    does not retry ``InvokeEndpointAsync`` itself (a retry after a read timeout queued a
    second GPU run): the state machine retries transient errors, as
    :class:`EndpointUnavailable` says, and the start is idempotent.
    """

    def __init__(
        self,
        runtime: Any,
        s3: Any,
        endpoint_name: str,
        *,
        input_bucket: str,
        endpoints: dict[str, str] | None = None,
    ) -> None:
        self.runtime = runtime
        self.s3 = s3
        self.endpoint_name = endpoint_name
        self.input_bucket = input_bucket
        #: model version -> endpoint (a canary's candidate has its own endpoint); any other
        #: version goes to ``endpoint_name``, which refuses it (409, ModelVersionMismatch).
        self.endpoints = dict(endpoints or {})

    def endpoint_for(self, model_version: str) -> str:
        return self.endpoints.get(model_version, self.endpoint_name)

    @staticmethod
    def _body(request: InferenceRequest) -> bytes:
        body: dict[str, Any] = {
            "video_s3_uri": request.video_uri,
            "prompt": request.prompt,
            "output_s3_uri": request.output_uri,
            "model_version": request.model_version,
            "inference_id": request.inference_id,
        }
        if request.spans:
            body["spans"] = [[round(a, 6), round(b, 6)] for a, b in request.spans]
        return json.dumps(body).encode()

    def start(self, request: InferenceRequest) -> None:
        input_key = f"inference/in/{request.inference_id}.json"
        self.s3.put_object(
            Bucket=self.input_bucket,
            Key=input_key,
            Body=self._body(request),
            ContentType="application/json",
        )
        endpoint = self.endpoint_for(request.model_version)
        try:
            self.runtime.invoke_endpoint_async(
                EndpointName=endpoint,
                ContentType="application/json",
                Accept="application/json",
                InputLocation=f"s3://{self.input_bucket}/{input_key}",
                InferenceId=request.inference_id,
                CustomAttributes=f"inference_id={request.inference_id}",
            )
        except ClientError as exc:
            raise _start_error(endpoint, exc) from exc
        except (EndpointConnectionError, ConnectTimeoutError) as exc:  # never sent
            raise EndpointUnavailable(f"endpoint {endpoint}: {exc}") from exc
        except (ReadTimeoutError, ConnectionClosedError) as exc:
            # Sent, answer lost: the run may be queued. Invoking again could pay the GPU
            # twice; the notification, or the task's timeout, settles it.
            log.warning("run %s may be queued (%s); waiting for it", request.inference_id, exc)

    def notice_from(self, message: dict[str, Any]) -> InferenceNotice:
        inference_id = str(message.get("inferenceId") or "")
        if not inference_id:
            raise InvalidInput(f"not an async inference notification: {sorted(message)}")
        response = message.get("responseParameters") or {}
        succeeded = str(message.get("invocationStatus", "")).lower() == "completed"
        return InferenceNotice(
            inference_id=inference_id,
            succeeded=succeeded,
            output_location=str(response.get("outputLocation") or ""),
            failure=str(message.get("failureReason") or response.get("failureLocation") or ""),
        )

    def read_result(self, notice: InferenceNotice) -> InferenceResult:
        if not notice.succeeded:
            raise _failure_from(notice.failure, self._read_failure(notice.failure))
        bucket, key = _split(notice.output_location)
        body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return _result(json.loads(body))

    def _read_failure(self, location: str) -> bytes:
        if not location.startswith("s3://"):
            return location.encode()
        bucket, key = _split(location)
        try:
            body: bytes = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError:
            return location.encode()
        return body


def _failure_from(reason: str, body: bytes) -> FoleyError:
    """The container's error reply (``{"error", "code"}``) as the error it names."""
    with contextlib.suppress(ValueError, AttributeError):
        reply = json.loads(body)
        by_code = {cls.code: cls for cls in (InvalidInput, InvalidVideo, ModelVersionMismatch)}
        return by_code.get(str(reply.get("code")), InferenceFailed)(
            f"the Foley model failed: {reply.get('error', reason)}"
        )
    return InferenceFailed(f"the Foley model failed: {body.decode(errors='replace')[:500]}")


def _start_error(endpoint: str, exc: ClientError) -> FoleyError:
    """Throttling and 5xx are transient (the state machine retries them); 4xx are not."""
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    code = str(exc.response.get("Error", {}).get("Code", ""))
    message = exc.response.get("Error", {}).get("Message", exc)
    cause = f"endpoint {endpoint}: {code or status}: {message}"
    if status >= 500 or status == 429 or code in {"ThrottlingException", "ServiceUnavailable"}:
        return EndpointUnavailable(cause)
    return _error_from(exc)
