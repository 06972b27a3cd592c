"""A plain HTTP client plays a job's DASH and HLS from the private bucket, given only URLs.

A job runs through the CLI on the real local stack; :func:`signed_manifests`
writes presigned manifests for its ``abr/`` folder; then ffmpeg, knowing
nothing but the two URLs, reads the HLS master and the MPD over HTTP from
moto's S3 and decodes every stream of every rendition, fetching every init
and media segment. The same segment without its signature is refused.

What moto checks here (5.2.5, authorization off, as the source-mode stack runs):
an unsigned read of a private object is refused (403, the object's ACL), but a
presigned URL's signature and expiry are not verified: a wrong signature or an
expired link is served. That part is AWS's, and is not proven locally.
"""

from __future__ import annotations

import os
import re
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit

import boto3
import pytest

from foleycache.adapters.s3_blobs import S3BlobStore
from foleycache.local.stack import StackInfo
from foleycache.media.signed_links import signed_manifests
from tests.e2e.test_run import run_cli

pytestmark = pytest.mark.e2e

TTL_S = 600


def play(url: str) -> dict[str, str]:
    """Decode every stream behind ``url`` with ffmpeg; object key -> URL of each it read."""
    done = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "repeat+level+debug",
         "-i", url, "-map", "0", "-f", "null", "-"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    errors = [line for line in done.stderr.splitlines() if "[error]" in line or "[fatal]" in line]
    assert done.returncode == 0 and not errors, "\n".join(errors or done.stderr.splitlines()[-30:])
    # The HLS demuxer's reads show as "Opening '<url>' for reading", the DASH one's as
    # "DASH request for url '<url>'" (ffmpeg's debug and verbose messages).
    opened = re.findall(r"(?:Opening|DASH request for url) '([^']+)'", done.stderr)
    return {unquote(urlsplit(u).path).split("/", 2)[2]: u for u in opened if "://" in u}


def test_ffmpeg_plays_dash_and_hls_from_presigned_manifests(
    local_stack: StackInfo, clips_dir: Path, tmp_path: Path
) -> None:
    if local_stack.artefacts:
        # moto 5.2.5 with IAM enforcement reads the Authorization header of every S3
        # request, which a presigned request has not: every link gets a 500.
        pytest.skip("moto with IAM enforcement answers 500 to every presigned URL")
    clip = tmp_path / "chaplin-4s.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(clips_dir / "moviepy_chaplin.mp4"), "-t", "4",
         "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(clip)],
        check=True,
    )  # fmt: skip
    code, result = run_cli(
        str(clip), "--prompt", "a cane tapping on cobbles", "--audio-mode", "add",
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 0 and result["status"] == "succeeded", result

    from foleycache.adapters.wiring import services

    job = services().jobs.get(result["job_id"])
    assert job is not None
    abr_prefix = job.outputs["hls"].rsplit("/", 1)[0] + "/"
    assert job.outputs["dash"] == abr_prefix + "manifest.mpd"
    blobs = S3BlobStore(boto3.client("s3"), os.environ["UPLOADS_BUCKET"])
    stored = set(blobs.list_keys(abr_prefix))
    segments = {k for k in stored if k.endswith(".m4s")}
    assert any("-a1-" in k for k in segments) and any("-v1-" in k for k in segments)

    links = signed_manifests(blobs, abr_prefix, TTL_S, "e2e")
    for url in links.values():
        assert "X-Amz-Signature=" in url and url.startswith(os.environ["AWS_ENDPOINT_URL_S3"])

    for name in ("hls", "dash"):
        opened = play(links[name])
        missing = segments - set(opened)
        assert not missing, f"{name}: ffmpeg did not fetch {sorted(missing)}"
        assert all("X-Amz-Signature=" in u for u in opened.values()), opened
    assert set(blobs.list_keys(abr_prefix)) - stored == {
        abr_prefix + "signed/e2e/" + k.rsplit("/", 1)[1]
        for k in stored
        if k.endswith((".m3u8", ".mpd"))
    }

    segment = sorted(segments)[0]
    signed = blobs.presign(segment, "GET", TTL_S)
    with urllib.request.urlopen(signed, timeout=10) as resp:
        assert resp.status == 200 and resp.read() == blobs.get_bytes(segment)
    unsigned = signed.split("?", 1)[0]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unsigned, timeout=10).close()
    assert refused.value.code == 403
