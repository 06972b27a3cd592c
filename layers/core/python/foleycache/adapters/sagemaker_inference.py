"""The SageMaker endpoint as the :class:`~foleycache.core.ports.Inference` port.

Short clips go through real-time ``InvokeEndpoint`` (60 s, ~6 MB payload, so
the request carries S3 references, never video bytes). Clips longer than the
threshold go through ``InvokeEndpointAsync`` (1 h, input read from S3): the
request JSON is written to S3 and the result JSON is read back from the
output location the endpoint returns.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any
from urllib.parse import urlparse

from botocore.exceptions import ClientError

from foleycache.core.clock import Clock
from foleycache.core.errors import (
    FoleyError,
    InferenceFailed,
    InvalidInput,
    InvalidVideo,
    ModelVersionMismatch,
)
from foleycache.core.ports import InferenceRequest, InferenceResult

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
    )


class SageMakerFoley:
    def __init__(
        self,
        runtime: Any,
        s3: Any,
        endpoint_name: str,
        *,
        async_threshold_s: float,
        async_input_bucket: str,
        timeout_s: float,
        clock: Clock,
        poll_s: float = 1.0,
    ) -> None:
        self.runtime = runtime
        self.s3 = s3
        self.endpoint_name = endpoint_name
        self.async_threshold_s = async_threshold_s
        self.async_input_bucket = async_input_bucket
        self.timeout_s = timeout_s
        self.clock = clock
        self.poll_s = poll_s

    @staticmethod
    def _body(request: InferenceRequest) -> bytes:
        return json.dumps(
            {
                "video_s3_uri": request.video_uri,
                "prompt": request.prompt,
                "output_s3_uri": request.output_uri,
                "model_version": request.model_version,
            }
        ).encode()

    def generate(self, request: InferenceRequest) -> InferenceResult:
        if request.duration_s > self.async_threshold_s:
            return self._generate_async(request)
        try:
            resp = self.runtime.invoke_endpoint(
                EndpointName=self.endpoint_name,
                ContentType="application/json",
                Accept="application/json",
                Body=self._body(request),
            )
        except ClientError as exc:
            raise _error_from(exc) from exc
        return _result(json.loads(resp["Body"].read()))

    def _generate_async(self, request: InferenceRequest) -> InferenceResult:
        input_key = f"inference/in/{uuid.uuid4().hex}.json"
        self.s3.put_object(
            Bucket=self.async_input_bucket,
            Key=input_key,
            Body=self._body(request),
            ContentType="application/json",
        )
        try:
            resp = self.runtime.invoke_endpoint_async(
                EndpointName=self.endpoint_name,
                ContentType="application/json",
                Accept="application/json",
                InputLocation=f"s3://{self.async_input_bucket}/{input_key}",
            )
        except ClientError as exc:
            raise _error_from(exc) from exc
        output = _split(resp["OutputLocation"])
        failure = _split(resp["FailureLocation"]) if resp.get("FailureLocation") else None
        deadline = self.clock.now() + self.timeout_s
        while self.clock.now() < deadline:
            body = self._read(*output)
            if body is not None:
                return _result(json.loads(body))
            if failure is not None and (err := self._read(*failure)) is not None:
                raise InferenceFailed(
                    f"the Foley model failed: {err.decode(errors='replace')[:500]}"
                )
            self.clock.sleep(self.poll_s)
        raise InferenceFailed(f"no async result after {self.timeout_s:.0f} s")

    def _read(self, bucket: str, key: str) -> bytes | None:
        try:
            body: bytes = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise
        return body
