"""One Foley request, from JSON to a WAV in S3, shared by the sync and async paths.

Every outcome is an ``InvocationResult`` with the HTTP status the SageMaker
container contract expects, so the sync route, the runtime-API route and the
async worker cannot disagree about what a request means.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foley_server.backend import FoleyBackend
from foley_server.reference_model import write_wav
from foley_server.s3_objects import S3Objects, S3Uri
from foleycache.core.errors import (
    FoleyError,
    InvalidInput,
    InvalidVideo,
    ModelVersionMismatch,
    NotFound,
    ToolMissing,
)

MAX_PROMPT_CHARS = 2000
#: Most spans one request may ask for (a re-cut rarely has more than a few uncovered gaps).
MAX_SPANS = 64
#: Requests the log keeps (newest last): enough for any test or benchmark run.
REQUEST_LOG_SIZE = 10_000


@dataclass(frozen=True)
class FoleyRequest:
    video: S3Uri
    prompt: str
    output: S3Uri
    model_version: str
    #: Seconds ``[start, end)`` to generate; empty: the whole clip.
    spans: tuple[tuple[float, float], ...] = ()
    inference_id: str = ""

    @classmethod
    def from_json(cls, body: bytes) -> FoleyRequest:
        """Parse and validate; every defect is ``InvalidInput`` (HTTP 400)."""
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as err:
            raise InvalidInput(f"body is not valid JSON: {err}") from err
        if not isinstance(data, dict):
            raise InvalidInput("body must be a JSON object")
        for name in ("video_s3_uri", "prompt", "output_s3_uri", "model_version"):
            if not isinstance(data.get(name), str):
                raise InvalidInput(f"{name} is required and must be a string")
        prompt = data["prompt"].strip()
        if not prompt or len(prompt) > MAX_PROMPT_CHARS:
            raise InvalidInput(f"prompt must be 1..{MAX_PROMPT_CHARS} characters")
        if not data["model_version"].strip():
            raise InvalidInput("model_version must not be empty")
        return cls(
            video=S3Uri.parse(data["video_s3_uri"], "video_s3_uri"),
            prompt=prompt,
            output=S3Uri.parse(data["output_s3_uri"], "output_s3_uri"),
            model_version=data["model_version"],
            spans=_spans(data.get("spans")),
            inference_id=str(data.get("inference_id") or ""),
        )


def _spans(value: Any) -> tuple[tuple[float, float], ...]:
    """``[[start_s, end_s], ...]`` in order and apart, or nothing (the whole clip)."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_SPANS:
        raise InvalidInput(f"spans must be a list of at most {MAX_SPANS} [start_s, end_s] pairs")
    out: list[tuple[float, float]] = []
    for item in value:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in item)
        ):
            raise InvalidInput("each span must be [start_s, end_s] in seconds")
        start, end = float(item[0]), float(item[1])
        if not 0.0 <= start < end or (out and start < out[-1][1]):
            raise InvalidInput("spans must be in order, not overlapping, and start >= 0")
        out.append((start, end))
    return tuple(out)


@dataclass(frozen=True)
class InvocationResult:
    status: int
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json_bytes(self) -> bytes:
        return json.dumps(self.body).encode("utf-8")


class FoleyService:
    """The model plus its I/O; thread-safe, with one model run at a time."""

    def __init__(self, backend: FoleyBackend, s3: S3Objects) -> None:
        self.backend = backend
        #: ``MODEL_VERSION`` when set, else derived from the backend and its weights digest.
        self.model_version = backend.identity.served_version
        self._s3 = s3
        # One GPU (or two shared CPU cores): concurrent runs would only thrash.
        self._model_lock = threading.Lock()
        #: What each request asked the model for (the witness of seconds generated).
        self._log: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self._log_lock = threading.Lock()

    def request_log(self) -> list[dict[str, Any]]:
        """One record per run the model made: id, clip length, spans and seconds generated."""
        with self._log_lock:
            return list(self._log)

    def _record(self, request: FoleyRequest, duration_s: float, generated_s: float) -> None:
        with self._log_lock:
            self._log.append(
                {
                    "inference_id": request.inference_id,
                    "video": str(request.video),
                    "duration_s": round(duration_s, 6),
                    "spans": [list(span) for span in request.spans],
                    "generated_s": round(generated_s, 6),
                }
            )

    def invoke(self, body: bytes) -> InvocationResult:
        try:
            return InvocationResult(200, self._run(FoleyRequest.from_json(body)))
        except FoleyError as err:
            return InvocationResult(_status_of(err), {"error": str(err), "code": err.code})
        except Exception as err:  # the server must answer, whatever the model does
            return InvocationResult(
                500, {"error": f"{type(err).__name__}: {err}", "code": "Internal"}
            )

    def _run(self, request: FoleyRequest) -> dict[str, Any]:
        if request.model_version != self.model_version:
            raise ModelVersionMismatch(
                f"this endpoint serves model_version {self.model_version!r}, "
                f"the request expects {request.model_version!r}"
            )
        with tempfile.TemporaryDirectory(prefix="foley-") as tmp:
            video = Path(tmp) / ("input" + Path(request.video.key).suffix[:10])
            self._s3.download(request.video, video)
            started = time.perf_counter()
            with self._model_lock:
                audio = self.backend.generate(
                    video, request.prompt, self.model_version, request.spans
                )
            generated = audio.spans or ((0, int(audio.samples.size)),)
            generated_s = sum(hi - lo for lo, hi in generated) / audio.sample_rate
            self._record(request, audio.duration_s, generated_s)
            inference_ms = round((time.perf_counter() - started) * 1000.0, 1)
            wav = Path(tmp) / "foley.wav"
            write_wav(wav, audio.samples, audio.sample_rate)
            self._s3.upload_file(wav, request.output, "audio/wav")
        return {
            "audio_s3_uri": str(request.output),
            "model_version": self.model_version,
            "sample_rate": audio.sample_rate,
            "duration_s": audio.duration_s,
            "samples": int(audio.samples.size),
            "backend": self.backend.name,
            "weights_digest": self.backend.identity.weights_digest,
            "derived_model_version": self.backend.identity.derived_version,
            "inference_ms": inference_ms,
            "notes": list(audio.notes),
            # The window plan: where each window's sound lies in the clip (seconds and
            # samples, end exclusive) and how much it overlaps the previous one.
            "windows": [window.as_json() for window in audio.windows],
            # What was generated (sample ranges, end exclusive); the rest is silence.
            "spans": [[lo, hi] for lo, hi in generated],
            "generated_s": round(generated_s, 6),
        }


def _status_of(err: FoleyError) -> int:
    if isinstance(err, ModelVersionMismatch):
        return 409
    if isinstance(err, InvalidVideo):
        return 422
    if isinstance(err, NotFound):
        return 404
    if isinstance(err, InvalidInput):
        return 400
    if isinstance(err, ToolMissing):
        return 500
    return 503 if err.retryable else 500
