"""The seam between moto's Lambda and the handlers in ``functions/``.

If a moto upgrade moves ``LambdaFunction._invoke_lambda``, these fail: the
pipeline would otherwise silently get moto's echo responses.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from foleycache.local.stack import StackInfo

pytestmark = pytest.mark.integration

SHA256_HEX = "a" * 64  # any well-formed digest will do: nothing is uploaded here
#: The caller, as API Gateway's IAM authorizer puts it in the request context.
CALLER = "arn:aws:iam::123456789012:user/seam-test"


def rest_event(
    method: str, path: str, body: str | None = None, caller: str | None = CALLER
) -> dict[str, object]:
    identity = {"userArn": caller} if caller else {}
    return {
        "httpMethod": method,
        "path": path,
        "resource": path,
        "headers": {"Content-Type": "application/json"},
        "requestContext": {
            "requestId": "r1",
            "stage": "local",
            "httpMethod": method,
            "path": path,
            "identity": identity,
        },
        "queryStringParameters": None,
        "pathParameters": None,
        "body": body,
        "isBase64Encoded": False,
    }


def test_lambda_invoke_runs_the_real_api_handler(local_stack: StackInfo) -> None:
    lam = boto3.client("lambda")
    resp = lam.invoke(
        FunctionName=local_stack.functions["ApiFunction"],
        Payload=json.dumps(rest_event("GET", "/jobs/job-doesnotexist00")).encode(),
    )
    body = json.loads(resp["Payload"].read())
    assert body["statusCode"] == 404
    assert "does not exist" in json.loads(body["body"])["error"]


def test_the_v1_api_through_lambda_requires_an_identity(local_stack: StackInfo) -> None:
    lam = boto3.client("lambda")
    name = local_stack.functions["ApiFunction"]
    for caller, status, code in ((None, 403, "MissingIdentity"), (CALLER, 404, "JobNotFound")):
        event = rest_event("GET", "/v1/jobs/job-doesnotexist00", caller=caller)
        answer = json.loads(
            lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())["Payload"].read()
        )
        assert answer["statusCode"] == status
        assert json.loads(answer["body"]) == {
            "error": json.loads(answer["body"])["error"],
            "code": code,
        }


def test_a_handler_exception_is_a_lambda_function_error(local_stack: StackInfo) -> None:
    lam = boto3.client("lambda")
    resp = lam.invoke(
        FunctionName=local_stack.functions["JobStatusFunction"], Payload=b'{"outcome": "bogus"}'
    )
    assert resp.get("FunctionError") == "Handled"
    assert json.loads(resp["Payload"].read())["errorType"] == "ValidationError"


def test_api_submit_returns_an_upload_link_and_a_pollable_job(local_stack: StackInfo) -> None:
    lam = boto3.client("lambda")
    created = json.loads(
        lam.invoke(
            FunctionName=local_stack.functions["ApiFunction"],
            Payload=json.dumps(
                rest_event(
                    "POST",
                    "/jobs",
                    json.dumps({"prompt": "rain", "filename": "a.mp4", "sha256": SHA256_HEX}),
                )
            ).encode(),
        )["Payload"].read()
    )
    assert created["statusCode"] == 201
    job = json.loads(created["body"])
    assert job["upload"]["method"] == "PUT" and job["upload"]["key"].endswith("/a.mp4")
    assert job["upload"]["headers"] == {
        "x-amz-checksum-sha256": "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo=",
        "x-amz-sdk-checksum-algorithm": "SHA256",
    }
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in job["upload"]["url"]
    polled = json.loads(
        lam.invoke(
            FunctionName=local_stack.functions["ApiFunction"],
            Payload=json.dumps(rest_event("GET", f"/jobs/{job['job_id']}")).encode(),
        )["Payload"].read()
    )
    assert polled["statusCode"] == 200
    assert json.loads(polled["body"])["status"] == "pending"
    other = json.loads(  # the job is its submitter's: another caller is told it does not exist
        lam.invoke(
            FunctionName=local_stack.functions["ApiFunction"],
            Payload=json.dumps(
                rest_event(
                    "GET", f"/jobs/{job['job_id']}", caller="arn:aws:iam::123456789012:user/other"
                )
            ).encode(),
        )["Payload"].read()
    )
    assert other["statusCode"] == 404


def post_job(stack: StackInfo, body: dict[str, Any]) -> dict[str, Any]:
    resp: dict[str, Any] = json.loads(
        boto3.client("lambda")
        .invoke(
            FunctionName=stack.functions["ApiFunction"],
            Payload=json.dumps(rest_event("POST", "/jobs", json.dumps(body))).encode(),
        )["Payload"]
        .read()
    )
    return resp


def test_api_rejects_an_oversized_prompt_with_400(local_stack: StackInfo) -> None:
    resp = post_job(local_stack, {"prompt": "x" * 5000, "sha256": SHA256_HEX})
    assert resp["statusCode"] == 400
    assert "limit" in json.loads(resp["body"])["error"]


def test_api_requires_a_well_formed_sha256(local_stack: StackInfo) -> None:
    resp = post_job(local_stack, {"prompt": "rain", "sha256": "abc"})
    assert resp["statusCode"] == 400
    assert "SHA-256" in json.loads(resp["body"])["error"]
    missing = post_job(local_stack, {"prompt": "rain"})  # the body model says so
    assert missing["statusCode"] == 422
    assert json.loads(missing["body"])["code"] == "ValidationError"  # in the API's own format


def test_duplicate_s3_events_start_one_execution(local_stack: StackInfo) -> None:
    s3 = boto3.client("s3")
    lam = boto3.client("lambda")
    sfn = boto3.client("stepfunctions")
    key = "uploads/dup test/clip%2B1.mp4"
    for name, body in (("clip+1.mp4.prompt.txt", b"rain on a tin roof"), ("clip+1.mp4", b"x")):
        s3.put_object(  # the prompt's sidecar first, then the video (a plain drop)
            Bucket=local_stack.env["UPLOADS_BUCKET"], Key=f"uploads/dup test/{name}", Body=body
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
        lam.invoke(
            FunctionName=local_stack.functions["IngestFunction"], Payload=json.dumps(event).encode()
        )["Payload"].read()
    )
    again = json.loads(
        lam.invoke(
            FunctionName=local_stack.functions["IngestFunction"], Payload=json.dumps(event).encode()
        )["Payload"].read()
    )
    assert first["started"] == 1 and again["started"] == 0
    assert first["jobs"] == again["jobs"]
    executions = sfn.list_executions(stateMachineArn=local_stack.env["STATE_MACHINE_ARN"])[
        "executions"
    ]
    assert sum(e["name"] == first["jobs"][0] for e in executions) == 1
