"""The seam between moto's Lambda and the handlers in ``functions/``.

If a moto upgrade moves ``LambdaFunction._invoke_lambda``, these fail: the
pipeline would otherwise silently get moto's echo responses.
"""

from __future__ import annotations

import json

import boto3
import pytest

from foleycache.local.stack import StackInfo

pytestmark = pytest.mark.integration


def rest_event(method: str, path: str, body: str | None = None) -> dict[str, object]:
    return {
        "httpMethod": method,
        "path": path,
        "resource": path,
        "headers": {"Content-Type": "application/json"},
        "requestContext": {"requestId": "r1", "stage": "local", "httpMethod": method, "path": path},
        "queryStringParameters": None,
        "pathParameters": None,
        "body": body,
        "isBase64Encoded": False,
    }


def test_lambda_invoke_runs_the_real_api_handler(local_stack: StackInfo) -> None:
    lam = boto3.client("lambda")
    resp = lam.invoke(
        FunctionName="foleycache-api",
        Payload=json.dumps(rest_event("GET", "/jobs/job-doesnotexist00")).encode(),
    )
    body = json.loads(resp["Payload"].read())
    assert body["statusCode"] == 404
    assert "does not exist" in json.loads(body["body"])["error"]


def test_a_handler_exception_is_a_lambda_function_error(local_stack: StackInfo) -> None:
    lam = boto3.client("lambda")
    resp = lam.invoke(FunctionName="foleycache-job_status", Payload=b'{"outcome": "bogus"}')
    assert resp.get("FunctionError") == "Handled"
    assert json.loads(resp["Payload"].read())["errorType"] == "ValidationError"


def test_api_submit_returns_an_upload_link_and_a_pollable_job(local_stack: StackInfo) -> None:
    lam = boto3.client("lambda")
    created = json.loads(
        lam.invoke(
            FunctionName="foleycache-api",
            Payload=json.dumps(
                rest_event("POST", "/jobs", json.dumps({"prompt": "rain", "filename": "a.mp4"}))
            ).encode(),
        )["Payload"].read()
    )
    assert created["statusCode"] == 201
    job = json.loads(created["body"])
    assert job["upload"]["method"] == "PUT" and job["upload"]["key"].endswith("/a.mp4")
    polled = json.loads(
        lam.invoke(
            FunctionName="foleycache-api",
            Payload=json.dumps(rest_event("GET", f"/jobs/{job['job_id']}")).encode(),
        )["Payload"].read()
    )
    assert polled["statusCode"] == 200
    assert json.loads(polled["body"])["status"] == "pending"


def test_api_rejects_an_oversized_prompt_with_400(local_stack: StackInfo) -> None:
    lam = boto3.client("lambda")
    resp = json.loads(
        lam.invoke(
            FunctionName="foleycache-api",
            Payload=json.dumps(
                rest_event("POST", "/jobs", json.dumps({"prompt": "x" * 5000}))
            ).encode(),
        )["Payload"].read()
    )
    assert resp["statusCode"] == 400
    assert "limit" in json.loads(resp["body"])["error"]


def test_duplicate_s3_events_start_one_execution(local_stack: StackInfo) -> None:
    s3 = boto3.client("s3")
    lam = boto3.client("lambda")
    sfn = boto3.client("stepfunctions")
    key = "uploads/dup test/clip%2B1.mp4"
    s3.put_object(
        Bucket=local_stack.env["UPLOADS_BUCKET"],
        Key="uploads/dup test/clip+1.mp4",
        Body=b"not a video",
    )
    event = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": local_stack.env["UPLOADS_BUCKET"]},
                    "object": {"key": key.replace(" ", "+"), "size": 11, "sequencer": "00FEED"},
                },
            }
        ]
    }
    first = json.loads(
        lam.invoke(FunctionName="foleycache-ingest", Payload=json.dumps(event).encode())[
            "Payload"
        ].read()
    )
    again = json.loads(
        lam.invoke(FunctionName="foleycache-ingest", Payload=json.dumps(event).encode())[
            "Payload"
        ].read()
    )
    assert first["started"] == 1 and again["started"] == 0
    assert first["jobs"] == again["jobs"]
    executions = sfn.list_executions(stateMachineArn=local_stack.env["STATE_MACHINE_ARN"])[
        "executions"
    ]
    assert sum(e["name"] == first["jobs"][0] for e in executions) == 1
