"""S3 as a :class:`~foleycache.core.ports.BlobStore`.

Links handed to users (presigned GET/PUT) are signed by a client of their
own: always SigV4 (botocore still picks SigV2 for presigned URLs in some
regions, which buckets created since June 2020 refuse), on the regional
virtual-hosted endpoint (``https://BUCKET.s3.REGION.amazonaws.com/...``),
never the global one. With an endpoint override (``AWS_ENDPOINT_URL_S3``, the
local stack's moto server) the links go to that endpoint, path-style.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from foleycache.core.errors import NotFound, StorageUnavailable
from foleycache.core.ports import ObjectInfo, PresignedUpload

_MISSING = {"404", "NoSuchKey", "NotFound"}
_AWS_HOSTS = (".amazonaws.com", ".amazonaws.com.cn")
# Request parameters that S3 receives as headers, as the presigned PUT signs them.
_CHECKSUM_HEADERS = {
    "ChecksumAlgorithm": "x-amz-sdk-checksum-algorithm",
    "ChecksumSHA256": "x-amz-checksum-sha256",
}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_aws_endpoint(url: str) -> bool:
    """True for AWS's own S3 endpoints; False for an override (moto, MinIO, a proxy)."""
    host = (urlsplit(url).hostname or "").lower()
    return host.endswith(_AWS_HOSTS)


def client_identity(client: Any) -> dict[str, str | None]:
    """The access key, secret and token ``client`` signs with now ({} if it has none)."""
    # boto3 itself reads a client's credentials this way (boto3.crt); should a botocore
    # release drop it, the presigning client falls back to the default credential chain.
    getter = getattr(client, "_get_credentials", None)
    credentials = getter() if callable(getter) else None
    if credentials is None:
        return {}
    frozen = credentials.get_frozen_credentials()  # refreshes expiring credentials first
    return {
        "aws_access_key_id": frozen.access_key,
        "aws_secret_access_key": frozen.secret_key,
        "aws_session_token": frozen.token,
    }


def presigning_client(client: Any, identity: dict[str, str | None] | None = None) -> Any:
    """An S3 client that signs links as users need them, with ``client``'s region and identity.

    Without an endpoint override: SigV4 on the regional virtual-hosted endpoint
    (us-east-1 included, whose botocore default is the global endpoint). With
    one: SigV4 on that endpoint, path-style (a local endpoint has no bucket
    subdomains).
    """
    identity = client_identity(client) if identity is None else identity
    session = boto3.session.Session(region_name=client.meta.region_name, **identity)
    endpoint = client.meta.endpoint_url
    if is_aws_endpoint(endpoint):
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"},
        )
        return session.client("s3", config=config)
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    return session.client("s3", endpoint_url=endpoint, config=config)


class S3BlobStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket
        self._presigner: Any = None
        self._presigner_identity: dict[str, str | None] = {}
        self._presigner_lock = threading.Lock()

    def _signer(self) -> Any:
        """The presigning client: built on first use, and again only when credentials rotate."""
        identity = client_identity(self.client)
        with self._presigner_lock:
            if self._presigner is None or identity != self._presigner_identity:
                self._presigner = presigning_client(self.client, identity)
                self._presigner_identity = identity
            return self._presigner

    def head(self, key: str) -> ObjectInfo | None:
        try:
            resp = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise StorageUnavailable(f"S3 HeadObject s3://{self.bucket}/{key}: {exc}") from exc
        return ObjectInfo(
            key=key,
            size=int(resp.get("ContentLength", 0)),
            sha256_b64=resp.get("ChecksumSHA256"),
            metadata=dict(resp.get("Metadata", {})),
            etag=str(resp.get("ETag", "")).strip('"'),
        )

    def get_bytes(self, key: str) -> bytes | None:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            if _code(exc) == "InvalidObjectState":
                return None  # archived: treated as absent, so the request recomputes
            raise StorageUnavailable(f"S3 GetObject s3://{self.bucket}/{key}: {exc}") from exc
        body: bytes = resp["Body"].read()
        return body

    def put_bytes(
        self, key: str, data: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def download(self, key: str, path: Path) -> None:
        try:
            self.client.download_file(self.bucket, key, str(path))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise NotFound(f"s3://{self.bucket}/{key} does not exist") from exc
            raise

    def upload(self, path: Path, key: str, content_type: str = "application/octet-stream") -> None:
        self.client.upload_file(
            str(path), self.bucket, key, ExtraArgs={"ContentType": content_type}
        )

    def set_tags(self, key: str, tags: dict[str, str]) -> None:
        self.client.put_object_tagging(
            Bucket=self.bucket,
            Key=key,
            Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]},
        )

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def presign(self, key: str, method: str, expires_s: int) -> str:
        operation = {"GET": "get_object", "PUT": "put_object"}[method]
        url: str = self._signer().generate_presigned_url(
            operation, Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
        )
        return url

    def presign_upload(self, key: str, expires_s: int, sha256_b64: str) -> PresignedUpload:
        checksum = {"ChecksumAlgorithm": "SHA256", "ChecksumSHA256": sha256_b64}
        url: str = self._signer().generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": key, **checksum},
            ExpiresIn=expires_s,
        )
        headers = {_CHECKSUM_HEADERS[name]: value for name, value in checksum.items()}
        signed = parse_qs(urlsplit(url).query).get("X-Amz-SignedHeaders", [""])[0].split(";")
        # The client must send exactly the signed headers, so they must be the ones we return.
        if set(signed) != {"host", *headers}:
            raise RuntimeError(
                f"presigned PUT signs {sorted(signed)}; expected host and {sorted(headers)}"
            )
        return PresignedUpload(url=url, headers=headers)

    def copy(self, src_key: str, dst_key: str) -> None:
        self.client.copy_object(
            Bucket=self.bucket, Key=dst_key, CopySource={"Bucket": self.bucket, "Key": src_key}
        )

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def list_page(self, prefix: str, after: str, limit: int) -> tuple[list[str], bool]:
        resp = self.client.list_objects_v2(
            Bucket=self.bucket, Prefix=prefix, StartAfter=after, MaxKeys=min(limit, 1000)
        )
        keys = [obj["Key"] for obj in resp.get("Contents", [])]
        return keys, bool(resp.get("IsTruncated"))
