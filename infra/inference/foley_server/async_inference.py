"""Local stand-in for SageMaker's async queue: accept now, answer into S3 later.

On AWS, SageMaker itself reads ``InputLocation``, calls the container's
``/invocations``, writes the reply to ``S3OutputPath/<id>.out`` (or the
error to ``S3FailurePath/<id>-error.out``) and publishes a notification to the
endpoint's success or error topic. Doing the same here (topics from
``ASYNC_SUCCESS_TOPIC_ARN`` / ``ASYNC_ERROR_TOPIC_ARN``, as the endpoint config's
``NotificationConfig`` names them) is what lets the pipeline run unchanged against
this server, resumed by the notification instead of polling.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from foley_server.invocation import FoleyService, InvocationResult
from foley_server.s3_objects import S3Objects, S3Uri
from foleycache.core.errors import FoleyError, InvalidInput

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AsyncTicket:
    inference_id: str
    output: S3Uri
    failure: S3Uri


class Notifier:
    """Publishes SageMaker's async notification (its shape: ``inferenceId``,
    ``invocationStatus``, ``responseParameters.outputLocation``, ``failureReason``)."""

    def __init__(self, success_topic: str, error_topic: str, client: Any | None = None) -> None:
        self.success_topic = success_topic
        self.error_topic = error_topic
        self._client = client

    @classmethod
    def from_env(cls) -> Notifier:
        return cls(
            os.environ.get("ASYNC_SUCCESS_TOPIC_ARN", ""),
            os.environ.get("ASYNC_ERROR_TOPIC_ARN", ""),
        )

    def _sns(self) -> Any:
        if self._client is None:
            import boto3

            self._client = boto3.client("sns")
        return self._client

    def notify(self, ticket: AsyncTicket, ok: bool, reason: str = "") -> None:
        topic = self.success_topic if ok else self.error_topic
        if not topic:
            return
        message: dict[str, Any] = {
            "eventVersion": "1.0",
            "eventSource": "aws:sagemaker",
            "eventName": "InferenceResult",
            "eventTime": datetime.now(UTC).isoformat(),
            "inferenceId": ticket.inference_id,
            "invocationStatus": "Completed" if ok else "Failed",
            "responseParameters": {"outputLocation": str(ticket.output)}
            if ok
            else {"failureLocation": str(ticket.failure)},
        }
        if not ok:
            message["failureReason"] = reason
        self._sns().publish(TopicArn=topic, Message=json.dumps(message))


class AsyncInvoker:
    """Queues requests on ``workers`` threads; the model itself still runs one at a time."""

    def __init__(
        self,
        service: FoleyService,
        s3: S3Objects,
        output_prefix: str,
        failure_prefix: str,
        workers: int,
        notifier: Notifier | None = None,
    ) -> None:
        self._notifier = notifier or Notifier.from_env()
        self._service = service
        self._s3 = s3
        self._output_prefix = output_prefix.rstrip("/")
        self._failure_prefix = (failure_prefix or output_prefix).rstrip("/")
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="foley-async")

    def submit(
        self,
        input_location: str | None,
        inline_body: bytes | None,
        inference_id: str | None = None,
        path_extension: str = "",
        filename: str = "",
    ) -> AsyncTicket:
        """Validate what SageMaker validates up front; raise ``InvalidInput`` (a 400) otherwise."""
        if not self._output_prefix:
            raise InvalidInput("this endpoint has no async output location (ASYNC_OUTPUT_S3_URI)")
        if bool(input_location) == bool(inline_body):
            raise InvalidInput("give exactly one of InputLocation and an inline Body")
        source = S3Uri.parse(input_location, "InputLocation") if input_location else None
        inference_id = inference_id or str(uuid.uuid4())
        extension = f"/{path_extension.strip('/')}" if path_extension.strip("/") else ""
        ticket = AsyncTicket(
            inference_id=inference_id,
            output=S3Uri.parse(
                f"{self._output_prefix}{extension}/{filename or inference_id + '.out'}"
            ),
            failure=S3Uri.parse(f"{self._failure_prefix}/{inference_id}-error.out"),
        )
        self._pool.submit(self._process, ticket, source, inline_body)
        return ticket

    def _process(self, ticket: AsyncTicket, source: S3Uri | None, inline: bytes | None) -> None:
        try:
            body = self._s3.read(source) if source is not None else (inline or b"")
            result = self._service.invoke(body)
        except FoleyError as err:
            result = InvocationResult(400, {"error": str(err), "code": err.code})
        except Exception as err:
            result = InvocationResult(500, {"error": f"{type(err).__name__}: {err}"})
        target = ticket.output if result.ok else ticket.failure
        try:
            self._s3.put(target, result.json_bytes(), "application/json")
        except Exception:
            log.exception(
                "could not write the async result of %s to %s", ticket.inference_id, target
            )
            return
        try:
            reason = "" if result.ok else json.loads(result.json_bytes()).get("error", "")
            self._notifier.notify(ticket, result.ok, str(reason))
        except Exception:
            log.exception("could not publish the notification of %s", ticket.inference_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
