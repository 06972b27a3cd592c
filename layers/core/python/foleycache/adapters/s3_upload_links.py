"""Presigned PUTs for the API's uploads: every property of the upload is in the signature.

``POST /v1/uploads`` hands out a SigV4 presigned PUT that signs, besides ``host``:

- ``content-length``: the declared size. S3 checks signed headers and HTTP makes the
  body exactly that long, so the signature carries the size limit: a presigned *PUT*
  cannot say "at most N bytes" (that is a presigned POST policy's
  ``content-length-range``), but it can pin the one size the client declared, which the
  API has already checked against ``MAX_VIDEO_BYTES``;
- ``content-type``: one of the video types the API accepts;
- ``x-amz-checksum-sha256`` and ``x-amz-sdk-checksum-algorithm``: S3 refuses other
  bytes (``BadDigest``) and keeps the checksum, which ``POST /v1/jobs`` reads back with
  HeadObject to answer a known upload at once;
- ``x-amz-meta-foleycache-owner``: the caller's principal, kept as object metadata, so
  ``POST /v1/jobs`` accepts the upload from its owner only, with no record to write.

The links are signed as :func:`foleycache.adapters.s3_blobs.presigning_client` signs
every user-facing link (SigV4, regional virtual-hosted, or the override endpoint
path-style), by a client rebuilt only when the credentials rotate.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from foleycache.adapters.s3_blobs import client_identity, presigning_client
from foleycache.core.job import UPLOAD_OWNER_METADATA as OWNER_METADATA
from foleycache.core.ports import PresignedUpload


class S3UploadLinks:
    """Signs upload links for one bucket with the identity of ``client``."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket
        self._signer: Any = None
        self._identity: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def _presigner(self) -> Any:
        identity = client_identity(self.client)
        with self._lock:
            if self._signer is None or identity != self._identity:
                self._signer = presigning_client(self.client, identity)
                self._identity = identity
            return self._signer

    def sign_video_put(
        self,
        key: str,
        expires_s: int,
        *,
        sha256_b64: str,
        size: int,
        content_type: str,
        owner: str,
    ) -> PresignedUpload:
        params = {
            "Bucket": self.bucket,
            "Key": key,
            "ContentLength": size,
            "ContentType": content_type,
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": sha256_b64,
            "Metadata": {OWNER_METADATA: owner},
        }
        url: str = self._presigner().generate_presigned_url(
            "put_object", Params=params, ExpiresIn=expires_s
        )
        headers = {
            "content-length": str(size),
            "content-type": content_type,
            "x-amz-checksum-sha256": sha256_b64,
            "x-amz-sdk-checksum-algorithm": "SHA256",
            f"x-amz-meta-{OWNER_METADATA}": owner,
        }
        signed = parse_qs(urlsplit(url).query).get("X-Amz-SignedHeaders", [""])[0].split(";")
        # The client must send exactly the signed headers, so they must be the ones we return.
        if set(signed) != {"host", *headers}:
            raise RuntimeError(
                f"presigned PUT signs {sorted(signed)}; expected host and {sorted(headers)}"
            )
        return PresignedUpload(url=url, headers=headers)
