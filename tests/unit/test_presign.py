"""Links users get are SigV4, on the regional endpoint (presigning is local: no network)."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config

from foleycache.adapters.s3_blobs import S3BlobStore, is_aws_endpoint

BUCKET = "foleycache-dev-uploads-123456789012-region"
# As adapters/wiring.py builds it: no signature version, no addressing style.
WIRING_CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=70
)
SHA = base64.b64encode(hashlib.sha256(b"some video bytes").digest()).decode()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No endpoint override and throwaway credentials, whatever the shell (or stack) set."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENT0000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")


def store(region: str, **client_args: str) -> S3BlobStore:
    client = boto3.session.Session(region_name=region).client(
        "s3", config=WIRING_CONFIG, **client_args
    )
    return S3BlobStore(client, BUCKET)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-southeast-2"])
@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_links_are_sigv4_on_the_regional_virtual_hosted_endpoint(region: str, method: str) -> None:
    url = store(region).presign("uploads/job-1/clip.mp4", method, 3600)
    parts = urlsplit(url)
    assert parts.scheme == "https"
    assert parts.hostname == f"{BUCKET}.s3.{region}.amazonaws.com"
    assert parts.path == "/uploads/job-1/clip.mp4"
    q = query(url)
    assert q["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert q["X-Amz-Credential"].startswith("AKIAENVIRONMENT0000/")
    assert q["X-Amz-Credential"].endswith(f"/{region}/s3/aws4_request")
    assert q["X-Amz-Expires"] == "3600"
    assert "Signature" not in q and "AWSAccessKeyId" not in q  # no SigV2


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_upload_link_signs_the_checksum_and_names_the_headers_to_send(region: str) -> None:
    link = store(region).presign_upload("uploads/job-1/clip.mp4", 900, SHA)
    assert urlsplit(link.url).hostname == f"{BUCKET}.s3.{region}.amazonaws.com"
    q = query(link.url)
    assert q["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert q["X-Amz-SignedHeaders"].split(";") == [
        "host",
        "x-amz-checksum-sha256",
        "x-amz-sdk-checksum-algorithm",
    ]
    assert link.headers == {"x-amz-checksum-sha256": SHA, "x-amz-sdk-checksum-algorithm": "SHA256"}
    assert SHA not in link.url  # a header, not a query parameter: S3 checks it against the bytes


def test_links_sign_with_the_given_clients_own_credentials() -> None:
    s = store("eu-west-1", aws_access_key_id="AKIACLIENTKEY000", aws_secret_access_key="x")
    url = s.presign("outputs/job-1/video.mp4", "GET", 60)
    assert query(url)["X-Amz-Credential"].startswith("AKIACLIENTKEY000/")


def test_the_presigning_client_is_built_once() -> None:
    s = store("eu-west-1")
    s.presign("a", "GET", 60)
    first = s._presigner
    s.presign("b", "PUT", 60)
    s.presign_upload("c", 60, SHA)
    assert s._presigner is first


def test_a_bucket_name_with_dots_falls_back_to_a_regional_path_style_link() -> None:
    client = boto3.session.Session(region_name="eu-west-1").client("s3", config=WIRING_CONFIG)
    url = S3BlobStore(client, "my.dotted.bucket").presign("k", "GET", 60)
    assert url.startswith("https://s3.eu-west-1.amazonaws.com/my.dotted.bucket/k?")
    assert query(url)["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_an_endpoint_override_gets_sigv4_path_style_links_on_that_endpoint(
    how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = "http://127.0.0.1:50123"
    if how == "environment":
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
        s = store("us-east-1")
    else:
        s = store("us-east-1", endpoint_url=endpoint)
    url = s.presign("uploads/job-1/clip.mp4", "PUT", 60)
    assert url.startswith(f"{endpoint}/{BUCKET}/uploads/job-1/clip.mp4?")
    assert query(url)["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    link = s.presign_upload("uploads/job-1/clip.mp4", 60, SHA)
    assert link.url.startswith(f"{endpoint}/{BUCKET}/")
    assert link.headers["x-amz-checksum-sha256"] == SHA


@pytest.mark.parametrize(
    ("url", "aws"),
    [
        ("https://s3.amazonaws.com", True),
        ("https://s3.eu-west-1.amazonaws.com", True),
        ("https://s3.cn-north-1.amazonaws.com.cn", True),
        ("http://127.0.0.1:5000", False),
        ("http://localhost:4566", False),
        ("https://minio.example.com", False),
        ("https://amazonaws.com.evil.example", False),
    ],
)
def test_aws_endpoints_are_told_from_overrides(url: str, aws: bool) -> None:
    assert is_aws_endpoint(url) is aws
