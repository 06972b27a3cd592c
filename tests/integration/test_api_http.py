"""The API over HTTP (``foleycache api serve`` on the real local stack): every bad request
is a clear 4xx in the one error format, and the next good request still succeeds.

The good request is the whole of ``POST /v1/jobs`` for an upload and prompt that the
pipeline has answered once (module fixture): an instant answer, 200 with the outputs.
Each test is its own caller, so ownership and throttling are per test.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from foleycache.local.api_server import PRINCIPAL_HEADER
from foleycache.local.stack import StackInfo
from tests.api_http import Client, api_server, assert_error, principal

pytestmark = pytest.mark.integration

KNOWN_PROMPT = "a library book closed softly, http suite"  # this module's own: a miss at first
CLIP = "intel_asl_book.mkv"


@pytest.fixture(scope="module")
def base(local_stack: StackInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The server with the template's throttle (20/s, bursts of 40, per caller)."""
    with api_server(tmp_path_factory.mktemp("api")) as url:
        yield url


@pytest.fixture(scope="module")
def known(base: str, clips_dir: Path) -> bytes:
    """A clip the pipeline has answered once under KNOWN_PROMPT."""
    data = (clips_dir / CLIP).read_bytes()
    seeder = Client(base, principal("seed"))
    resp = seeder.submit(seeder.upload(data, "video/x-matroska"), KNOWN_PROMPT)
    assert resp.status_code == 202, resp.text
    job = seeder.wait(resp.json()["job_id"])
    assert job["status"] == "succeeded", job
    return data


class Caller(Client):
    """A test's caller, with an upload of the known clip ready for the good request."""

    known_upload: str = ""

    def good(self) -> dict[str, Any]:
        resp = self.submit(self.known_upload, KNOWN_PROMPT)
        assert resp.status_code == 200, resp.text
        answer: dict[str, Any] = resp.json()
        assert answer["instant"] and answer["cache"] == "exact" and answer["outputs"]["links"]
        return answer


@pytest.fixture
def me(base: str, known: bytes, request: pytest.FixtureRequest) -> Caller:
    name = "".join(c if c.isalnum() or c in "-_" else "-" for c in request.node.name[:40])
    caller = Caller(base, principal(name))
    caller.known_upload = caller.upload(known, "video/x-matroska")
    caller.good()
    return caller


def raw_post(me: Client, path: str, body: bytes, content_type: str | None) -> requests.Response:
    headers = {PRINCIPAL_HEADER: me.who}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return requests.post(me.base + path, data=body, headers=headers, timeout=30)


# --- the body -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b'{"upload": "uploads/x", "prompt": ', b"prompt=rain", b"{'single': 'quotes'}", b"\xff\xfe{}"],
)
def test_malformed_json_is_400(me: Caller, body: bytes) -> None:
    resp = raw_post(me, "/v1/jobs", body, "application/json")
    assert_error(resp, 400, "MalformedJson")
    me.good()


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_a_body_that_is_not_json_by_type_is_415(me: Caller, content_type: str | None) -> None:
    body = json.dumps({"upload": me.known_upload, "prompt": KNOWN_PROMPT}).encode()
    assert_error(raw_post(me, "/v1/jobs", body, content_type), 415, "UnsupportedMediaType")
    me.good()


def test_a_body_over_64_kib_is_413(me: Caller) -> None:
    body = json.dumps({"upload": me.known_upload, "prompt": "x" * 70_000}).encode()
    assert_error(raw_post(me, "/v1/jobs", body, "application/json"), 413, "PayloadTooLarge")
    me.good()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"prompt": "rain"}, "ValidationError"),  # no upload
        ({"upload": "uploads/x", "prompt": 42}, "ValidationError"),
        ({"upload": "uploads/x", "prompt": "rain", "colour": "red"}, "ValidationError"),
        (
            {"upload": "uploads/x", "prompt": "rain", "options": {"instant": "maybe"}},
            "ValidationError",
        ),
        ([], "ValidationError"),
    ],
)
def test_a_body_that_breaks_the_model_is_422(me: Caller, body: Any, code: str) -> None:
    assert_error(me.post("/v1/jobs", json=body), 422, code)
    me.good()


# --- prompts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "status", "code", "says"),
    [
        ("", 422, "ValidationError", "at least 1 character"),
        ("   \t\n ", 400, "InvalidPrompt", "empty"),
        ("x" * 1001, 422, "ValidationError", "at most 1000 characters"),
        ("x" * 20_000, 422, "ValidationError", "at most 1000 characters"),
        ("rain\x00on a roof", 400, "InvalidPrompt", "control characters"),
        ("bell \x07 ringing", 400, "InvalidPrompt", "control characters"),
        ("escape \x1b[31m red", 400, "InvalidPrompt", "control characters"),
        ("half a pair \ud800", 422, "ValidationError", "unicode string"),
    ],
)
def test_bad_prompts_are_refused_before_anything_is_read(
    me: Caller, prompt: str, status: int, code: str, says: str
) -> None:
    body = assert_error(me.submit(me.known_upload, prompt), status, code)
    assert says in body["error"]
    me.good()


# --- uploads --------------------------------------------------------------------------------


def test_an_unknown_upload_is_404(me: Caller) -> None:
    for key in (
        "uploads/up-000000000000000000000000/video.mp4",  # never uploaded
        "uploads/someone/dropped.mp4",  # a plain drop: not an upload of this caller's
        me.known_upload + ".other",
    ):
        assert_error(me.submit(key, "rain"), 404, "UploadNotFound")
    me.good()


def test_an_upload_key_that_is_no_s3_key_is_400(me: Caller) -> None:
    for key in ("uploads/tab\there.mp4", "uploads/" + "k" * 1100):
        assert_error(me.submit(key, "rain"), 400, "InvalidUpload")
    assert_error(me.submit("uploads/\ud800.mp4", "rain"), 422, "ValidationError")  # no Unicode
    me.good()


def test_another_callers_upload_is_404(me: Caller, base: str) -> None:
    other = Client(base, principal("other"))
    assert_error(other.submit(me.known_upload, KNOWN_PROMPT), 404, "UploadNotFound")
    me.good()


@pytest.mark.parametrize(
    "upload",
    [
        "outputs/job-0123456789abcdef0123/video.mp4",
        "cache/foley-ref-1/fp3/x/entry.json",
        "uploads/../outputs/job-0123456789abcdef0123/video.mp4",
        "uploads//video.mp4",
        "/uploads/up-000000000000000000000000/video.mp4",
        "s3://some-other-bucket/uploads/up-000000000000000000000000/video.mp4",
    ],
)
def test_an_upload_outside_the_uploads_prefix_is_400(me: Caller, upload: str) -> None:
    assert_error(me.submit(upload, "rain"), 400, "UploadOutsidePrefix")
    me.good()


def test_the_s3_uri_of_an_own_upload_is_accepted(me: Caller, local_stack: StackInfo) -> None:
    uri = f"s3://{local_stack.env['UPLOADS_BUCKET']}/{me.known_upload}"
    resp = me.submit(uri, KNOWN_PROMPT)
    assert resp.status_code == 200 and resp.json()["upload"] == me.known_upload


def test_an_upload_link_signs_size_type_checksum_and_owner(me: Caller) -> None:
    resp = me.post(
        "/v1/uploads", json={"sha256": "a" * 64, "size_bytes": 1234, "content_type": "video/mp4"}
    )
    assert resp.status_code == 201, resp.text
    link = resp.json()
    signed = urlsplit(link["url"]).query
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in signed and "X-Amz-Expires=900" in signed
    assert link["headers"] == {
        "content-length": "1234",
        "content-type": "video/mp4",
        "x-amz-checksum-sha256": "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqo=",
        "x-amz-sdk-checksum-algorithm": "SHA256",
        "x-amz-meta-foleycache-owner": me.who,
    }
    assert link["upload"].startswith("uploads/up-") and link["upload"].endswith("/video.mp4")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"sha256": "a" * 64, "size_bytes": 3 * 1024**3, "content_type": "video/mp4"},
            413,
            "VideoTooLarge",
        ),
        (
            {"sha256": "a" * 64, "size_bytes": 6 * 1024**3, "content_type": "video/mp4"},
            422,
            "ValidationError",
        ),
        (
            {"sha256": "a" * 64, "size_bytes": 0, "content_type": "video/mp4"},
            422,
            "ValidationError",
        ),
        ({"sha256": "abc", "size_bytes": 10, "content_type": "video/mp4"}, 422, "ValidationError"),
        (
            {"sha256": "A" * 42 + "B=", "size_bytes": 10, "content_type": "video/mp4"},
            400,
            "InvalidChecksum",
        ),
        (
            {"sha256": "a" * 64, "size_bytes": 10, "content_type": "image/png"},
            422,
            "ValidationError",
        ),
    ],
)
def test_an_upload_that_cannot_be_accepted_gets_no_link(
    me: Caller, body: dict[str, Any], status: int, code: str
) -> None:
    assert_error(me.post("/v1/uploads", json=body), status, code)
    me.good()


# --- job ids and owners ------------------------------------------------------------------------


def test_a_job_that_does_not_exist_is_404(me: Caller) -> None:
    for path in ("/v1/jobs/job-00000000000000000000", "/v1/jobs/job-00000000000000000000/outputs"):
        assert_error(me.get(path), 404, "JobNotFound")
    me.good()


@pytest.mark.parametrize("job_id", ["j" * 65, "j" * 3000, "JOB-UPPER-CASE", "job_under_score"])
def test_a_malformed_job_id_is_refused_before_any_read(me: Caller, job_id: str) -> None:
    assert_error(me.get(f"/v1/jobs/{job_id}"), 422, "ValidationError")
    assert_error(me.get(f"/v1/jobs/{job_id}/outputs"), 422, "ValidationError")
    me.good()


def test_another_callers_job_is_404_and_not_listed(me: Caller, base: str) -> None:
    mine = me.good()["job_id"]
    other = Client(base, principal("other"))
    assert_error(other.get(f"/v1/jobs/{mine}"), 404, "JobNotFound")
    assert_error(other.get(f"/v1/jobs/{mine}/outputs"), 404, "JobNotFound")
    listed = other.get("/v1/jobs").json()
    assert mine not in {job["job_id"] for job in listed["jobs"]}
    assert me.get(f"/v1/jobs/{mine}").status_code == 200
    me.good()


def test_a_role_is_one_owner_across_its_sessions(base: str, known: bytes) -> None:
    role = f"arn:aws:sts::123456789012:assumed-role/Pipeline{os.getpid()}"
    first, second = Client(base, role + "/run-1"), Client(base, role + "/run-2")
    answer = first.submit(first.upload(known, "video/x-matroska"), KNOWN_PROMPT)
    assert answer.status_code == 200
    assert second.get(f"/v1/jobs/{answer.json()['job_id']}").status_code == 200


def test_outputs_of_a_job_that_has_not_succeeded_are_409(me: Caller) -> None:
    upload = me.upload(os.urandom(2048))  # not a video: the job fails, and says why
    resp = me.submit(upload, "static on a radio")
    assert resp.status_code == 202, resp.text
    job = me.wait(resp.json()["job_id"], timeout_s=120)
    assert job["status"] == "failed" and job["error"]["code"] == "InvalidVideo", job
    assert job["stage"] and job["cache"] is None
    assert_error(me.get(f"/v1/jobs/{job['job_id']}/outputs"), 409, "JobNotSucceeded")
    me.good()


# --- idempotency --------------------------------------------------------------------------------


def test_a_repeated_idempotency_key_returns_the_same_job(me: Caller) -> None:
    key = {"Idempotency-Key": f"retry-{os.urandom(4).hex()}"}
    first = me.submit(me.known_upload, KNOWN_PROMPT, headers=key)
    again = me.submit(me.known_upload, KNOWN_PROMPT, headers=key)
    assert first.status_code == again.status_code == 200
    assert first.json()["job_id"] == again.json()["job_id"]
    listed = [j["job_id"] for j in me.get("/v1/jobs", params={"limit": 100}).json()["jobs"]]
    assert listed.count(first.json()["job_id"]) == 1
    other = me.submit(me.known_upload, "another prompt entirely", headers=key)
    assert_error(other, 409, "IdempotencyKeyReused")
    me.good()


def test_a_repeated_idempotency_key_of_a_queued_job_returns_it_queued(me: Caller) -> None:
    key = {"Idempotency-Key": f"queued-{os.urandom(4).hex()}"}
    body = {"options": {"instant": False}}
    first = me.submit(me.known_upload, KNOWN_PROMPT, headers=key, **body)
    again = me.submit(me.known_upload, KNOWN_PROMPT, headers=key, **body)
    assert first.status_code == again.status_code == 202, (first.text, again.text)
    assert first.json()["job_id"] == again.json()["job_id"]
    assert first.headers["Location"] == f"/v1/jobs/{first.json()['job_id']}"
    done = me.wait(first.json()["job_id"])
    assert done["status"] == "succeeded" and done["cache"] == "exact"  # the pipeline's own path
    me.good()


@pytest.mark.parametrize("value", ["has space", "x" * 129, "ünïcode"])
def test_a_malformed_idempotency_key_is_422(me: Caller, value: str) -> None:
    resp = me.submit(me.known_upload, KNOWN_PROMPT, headers={"Idempotency-Key": value})
    assert_error(resp, 422, "ValidationError")
    me.good()


# --- listing ------------------------------------------------------------------------------------


def test_listing_pages_through_own_jobs_newest_first(me: Caller) -> None:
    made = [me.good()["job_id"] for _ in range(4)]  # plus the fixture's one
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"next": cursor} if cursor else {})}
        page = me.get("/v1/jobs", params=params)
        assert page.status_code == 200, page.text
        seen += page.json()["jobs"]
        cursor = page.json()["next"]
        if cursor is None:
            break
    ids = [job["job_id"] for job in seen]
    assert len(ids) == len(set(ids)) == 5 and set(made) <= set(ids)
    assert [j["created_at"] for j in seen] == sorted((j["created_at"] for j in seen), reverse=True)
    assert all(j["status"] == "succeeded" for j in seen)
    running = me.get("/v1/jobs", params={"status": "running"}).json()
    assert running == {"jobs": [], "next": None}
    me.good()


def test_a_cursor_is_good_only_for_its_caller(me: Caller, base: str) -> None:
    me.good()
    cursor = me.get("/v1/jobs", params={"limit": 1}).json()["next"]
    assert cursor
    other = Client(base, principal("other"))
    assert_error(other.get("/v1/jobs", params={"next": cursor}), 400, "InvalidCursor")
    assert_error(me.get("/v1/jobs", params={"next": "not-a-cursor"}), 400, "InvalidCursor")
    assert_error(me.get("/v1/jobs", params={"limit": 101}), 422, "ValidationError")
    assert_error(me.get("/v1/jobs", params={"status": "lost"}), 422, "ValidationError")
    me.good()


# --- the rest -----------------------------------------------------------------------------------


def test_unknown_routes_and_methods_are_404_in_the_same_format(me: Caller) -> None:
    assert_error(me.get("/v2/jobs"), 404, "RouteNotFound")
    assert_error(me.call("DELETE", "/v1/jobs/job-00000000000000000000"), 404, "RouteNotFound")
    assert_error(me.call("TRACE", "/v1/uploads"), 404, "RouteNotFound")
    me.good()


def test_the_local_principal_header_must_be_an_iam_arn(me: Caller, base: str) -> None:
    resp = requests.get(f"{base}/v1/jobs", headers={PRINCIPAL_HEADER: "root"}, timeout=30)
    assert_error(resp, 400, "InvalidPrincipal")
    me.good()


def test_a_burst_over_the_throttle_is_429_and_then_passes(me: Caller) -> None:
    answers = [me.get("/v1/jobs", params={"limit": 0}) for _ in range(80)]
    statuses = {r.status_code for r in answers}
    assert statuses == {422, 429}, statuses  # the bucket (40) runs dry well before 80
    throttled = next(r for r in answers if r.status_code == 429)
    assert_error(throttled, 429, "TooManyRequests")
    assert int(throttled.headers["Retry-After"]) >= 1
    unthrottled = Client(me.base, principal("bystander"))
    assert unthrottled.get("/v1/jobs").status_code == 200  # per caller: others are not slowed
    time.sleep(1.0)  # 20 tokens a second
    me.good()


def test_the_served_document_is_the_committed_one(base: str) -> None:
    served = requests.get(f"{base}/v1/openapi.json", timeout=30)
    assert served.status_code == 200
    committed = json.loads((Path(__file__).resolve().parents[2] / "docs/openapi.json").read_text())
    assert served.json() == committed
