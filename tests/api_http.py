"""Helpers for tests that call the API over HTTP: ``foleycache api serve`` on the local stack.

The server is the real command, started as a subprocess against the session's stack
(``FOLEYCACHE_STATE_DIR`` and the stack's environment come from the ``local_stack``
fixture); requests carry the local principal header, one principal per test where
ownership or throttling matters.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from foleycache.local.api_server import PRINCIPAL_HEADER
from foleycache.local.stack import free_port

READY_TIMEOUT_S = 90.0


def principal(name: str = "") -> str:
    """A fresh IAM user ARN, so each test has its own jobs and its own throttle bucket."""
    return f"arn:aws:iam::123456789012:user/{name or 'caller'}-{uuid.uuid4().hex[:8]}"


@contextmanager
def api_server(log_dir: Path, *args: str) -> Iterator[str]:
    """``foleycache api serve`` on a free port; yields its base URL; stops it after."""
    port = free_port()
    log = (log_dir / f"api-{port}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "foleycache.local.cli", "api", "serve", "--port", str(port), *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"api serve exited: {(log_dir / log.name).read_text()[-2000:]}")
            try:
                if requests.get(f"{base}/v1/openapi.json", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("api serve did not answer in time")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class Client:
    """requests against the local API as one principal."""

    def __init__(self, base: str, who: str | None = None) -> None:
        self.base = base
        self.who = who or principal()
        self.session = requests.Session()

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {PRINCIPAL_HEADER: self.who, **kwargs.pop("headers", {})}
        return self.session.request(method, self.base + path, headers=headers, timeout=60, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, **kwargs)

    def upload(self, data: bytes, content_type: str = "video/mp4") -> str:
        """POST /v1/uploads, then the PUT; returns the upload key."""
        resp = self.post(
            "/v1/uploads",
            json={
                "sha256": hashlib.sha256(data).hexdigest(),
                "size_bytes": len(data),
                "content_type": content_type,
            },
        )
        assert resp.status_code == 201, resp.text
        link = resp.json()
        put = requests.put(link["url"], data=data, headers=link["headers"], timeout=60)
        assert put.status_code == 200, put.text
        return str(link["upload"])

    def submit(self, upload: str, prompt: str, **kwargs: Any) -> requests.Response:
        body: dict[str, Any] = {"upload": upload, "prompt": prompt}
        if "options" in kwargs:
            body["options"] = kwargs.pop("options")
        return self.post("/v1/jobs", json=body, **kwargs)

    def wait(self, job_id: str, timeout_s: float = 300.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            resp = self.get(f"/v1/jobs/{job_id}")
            assert resp.status_code == 200, resp.text
            job: dict[str, Any] = resp.json()
            if job["status"] in {"succeeded", "failed"}:
                return job
            assert time.monotonic() < deadline, f"job {job_id} still {job['status']}"
            time.sleep(0.25)


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def assert_error(resp: requests.Response, status: int, code: str) -> dict[str, Any]:
    """The one error format: exactly {error, code}, JSON."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["Content-Type"].startswith("application/json"), resp.headers
    body: dict[str, Any] = resp.json()
    assert set(body) == {"error", "code"} and body["code"] == code, body
    assert isinstance(body["error"], str) and body["error"], body
    return body
