"""S3 as a :class:`~foleycache.core.ports.BlobStore`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from foleycache.core.errors import NotFound, StorageUnavailable
from foleycache.core.ports import ObjectInfo

_MISSING = {"404", "NoSuchKey", "NotFound"}


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3BlobStore:
    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

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
        url: str = self.client.generate_presigned_url(
            operation, Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s
        )
        return url

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
