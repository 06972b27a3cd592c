"""S3 URIs and transfers, the only way video and audio enter or leave the container.

boto3 reads ``AWS_ENDPOINT_URL_S3`` itself, so the same code talks to AWS or
to a local moto server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from foleycache.core.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str, what: str = "uri") -> S3Uri:
        """Reject anything that is not ``s3://bucket/key`` with a non-empty key."""
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            raise InvalidInput(f"{what} must be an s3:// URI")
        bucket, _, key = uri[len("s3://") :].partition("/")
        if not bucket or not key or key.endswith("/"):
            raise InvalidInput(f"{what} must name an object: s3://bucket/key")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class S3Objects:
    """Thin wrapper so a missing object is ``NotFound``, never a raw ``ClientError``."""

    def __init__(self, client: Any | None = None) -> None:
        self._s3 = client if client is not None else boto3.client("s3")

    def download(self, uri: S3Uri, path: Path) -> None:
        try:
            self._s3.download_file(uri.bucket, uri.key, str(path))
        except ClientError as err:
            if _is_missing(err):
                raise NotFound(f"{uri} does not exist") from err
            raise

    def read(self, uri: S3Uri) -> bytes:
        try:
            body: bytes = self._s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
        except ClientError as err:
            if _is_missing(err):
                raise NotFound(f"{uri} does not exist") from err
            raise
        return body

    def upload_file(self, path: Path, uri: S3Uri, content_type: str) -> None:
        self._s3.upload_file(
            str(path), uri.bucket, uri.key, ExtraArgs={"ContentType": content_type}
        )

    def put(self, uri: S3Uri, body: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=uri.bucket, Key=uri.key, Body=body, ContentType=content_type)


def _is_missing(err: ClientError) -> bool:
    code = str(err.response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}
