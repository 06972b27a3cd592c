"""Step Functions as the :class:`~foleycache.core.ports.WorkflowStarter`.

The execution name is the job id, so a duplicate S3 event's start is refused
by Step Functions itself (``ExecutionAlreadyExists``) and becomes a no-op.
Resuming a task that no longer waits (timed out, or its execution ended) is not an
error: the job has moved on, and there is nobody to tell.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError


class StepFunctionsWorkflow:
    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self.client = client
        self.state_machine_arn = state_machine_arn

    def start(self, name: str, payload: dict[str, Any]) -> bool:
        try:
            self.client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
                return False
            raise
        return True

    def resume(self, task_token: str, output: dict[str, Any]) -> bool:
        return self._answer(
            lambda: self.client.send_task_success(taskToken=task_token, output=json.dumps(output))
        )

    def fail_task(self, task_token: str, error: str, cause: str) -> bool:
        return self._answer(
            lambda: self.client.send_task_failure(
                taskToken=task_token, error=error[:256], cause=cause[:32768]
            )
        )

    @staticmethod
    def _answer(call: Any) -> bool:
        try:
            call()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _GONE:
                return False
            raise
        return True


_GONE = {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}
