"""Replay benchmark: the cache's hit ratio against the oracle's, on real parts.

Run: ``.venv/bin/python bench/replay_bench.py [--requests N] [--seed S] [--out PATH]``
Writes ``bench/results/replay_bench.json`` (or ``--out``) and prints a table.

What it answers (the issue's "Replay" target): on workloads made from the
seed's scenario mixes (repeat shares 75 %, 60 %, 45 % and 10 %), does the
cache serve >= 99 % of what an oracle could serve, with zero wrong reuse, and
how many inference calls does it save?

How it is built, and why it is trustworthy:

- The cache under test is the product's own: the use cases run in the order
  the state machine runs them (``fingerprint_upload`` -> ``lookup`` ->
  ``lease_or_wait`` -> ``generate`` -> ``succeed``), on the real adapters
  (S3, DynamoDB, Redis) against moto's server and a real ``redis-server``.
  Only the GPU is replaced, by a counting model that writes a short WAV to
  the requested key and tags it with the upload it was made for.
- Distinct videos are the shared clips plus non-overlapping 4.5 s segments
  of the longer ones (cut and re-encoded, so segments of one shot are the
  hard negatives). Near-duplicates are ffmpeg re-encodes of a distinct video
  (CRF 33, 2/3 scale, brightness), made up front.
- Ground truth is the (distinct video, prompt) each request was drawn from.
  The oracle serves a request iff that pair was requested before (the best
  any cache can do). Wrong reuse is judged from the served WAV's own S3
  metadata (the upload the model made it for), not from the cache's records.
- Each scenario starts from an empty cache (fresh buckets, table and Redis db).

Measured numbers are in ``bench/results/replay_bench.json``; wall times are
on the 2 shared cores and are dominated by fingerprinting (~27x real time).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import statistics
import subprocess
import tempfile
import time
import wave
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
from bench_logs import quiet_moto_logs  # bench/ is sys.path[0] when a bench runs
from usage_meter import Meter

from foleycache.adapters.dynamodb_catalog import DynamoCatalog
from foleycache.adapters.dynamodb_jobs import DynamoJobStore
from foleycache.adapters.dynamodb_leases import DynamoLeaseStore
from foleycache.adapters.dynamodb_near_index import DynamoNearIndex
from foleycache.adapters.dynamodb_pending_runs import DynamoPendingRuns
from foleycache.adapters.redis_hot_cache import RedisHotCache, connect
from foleycache.adapters.redis_near_index import RedisNearIndex
from foleycache.adapters.s3_blobs import S3BlobStore
from foleycache.core.errors import FoleyError
from foleycache.core.job import JobRecord, JobStatus, new_job_id
from foleycache.core.ports import InferenceNotice, InferenceRequest, InferenceResult
from foleycache.fingerprint import Fingerprint, decide
from foleycache.local.stack import free_port
from foleycache.local.template_resources import load_template, table_spec
from foleycache.pipeline.deliver import mux, package
from foleycache.pipeline.fingerprint_upload import fingerprint_upload
from foleycache.pipeline.finish import succeed
from foleycache.pipeline.generate import finish_inference, inference_id, start_inference
from foleycache.pipeline.resolve import lease_or_wait, lookup
from foleycache.pipeline.state import PipelineState
from foleycache.services import Services
from foleycache.settings import Settings

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "replay_bench.json"
DEFAULT_CLIPS = REPO.parent / "shared" / "media" / "clips"
REGION = "us-east-1"
MODEL_VERSION = "bench-replay-1"
#: The seed's scenario mixes: the share of requests that repeat an earlier (video, prompt).
REPEAT_SHARES = (0.75, 0.60, 0.45, 0.10)
PROMPTS = (
    "footsteps on gravel",
    "rain on a tin roof",
    "crackling fire and wind",
    "city traffic, distant horns",
)
SEGMENT_S = 4.5
SEGMENT_STEP_S = 5.0
#: Near-duplicate edits: re-encodes a user could plausibly upload again.
VARIANTS: dict[str, list[str]] = {
    "crf33": ["-crf", "33"],
    "scale2of3": ["-vf", "scale=trunc(iw*2/3/2)*2:-2", "-crf", "28"],
    "brighter": ["-vf", "eq=brightness=0.06", "-crf", "30"],
}
SERVED = {"exact", "l1", "l2", "near"}


# --- media -------------------------------------------------------------------------
@dataclass(frozen=True)
class Video:
    """One distinct video: a whole clip or a non-overlapping segment of one."""

    name: str
    path: Path


def encode(source: Path, out: Path, before: list[str], after: list[str]) -> None:
    """Re-encode video only (the product never reads the source audio)."""
    head = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *before, "-i", str(source)]
    video = ["-an", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    subprocess.run([*head, *video, *after, str(out)], check=True)


def duration_of(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip())


def distinct_videos(clips_dir: Path, work: Path) -> list[Video]:
    videos: list[Video] = []
    for clip in sorted(p for p in clips_dir.iterdir() if p.is_file()):
        videos.append(Video(clip.stem, clip))
        total = duration_of(clip)
        if total < 2 * SEGMENT_S:
            continue
        start = 0.0
        while start + SEGMENT_S <= total:
            out = work / f"{clip.stem}@{start:g}s.mp4"
            encode(clip, out, ["-ss", f"{start}", "-t", f"{SEGMENT_S}"], ["-crf", "20"])
            videos.append(Video(out.stem, out))
            start += SEGMENT_STEP_S
    return videos


class NearDuplicates:
    """Re-encodes of distinct videos, made once per (video, edit) and reused across scenarios."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.made: dict[tuple[str, str], Path] = {}

    def path(self, video: Video, variant: str) -> Path:
        if (video.name, variant) not in self.made:
            out = self.work / f"{video.name}~{variant}.mp4"
            encode(video.path, out, [], VARIANTS[variant])
            self.made[(video.name, variant)] = out
        return self.made[(video.name, variant)]


# --- workload ----------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    index: int
    video: str  # ground truth: the distinct video
    prompt: str
    kind: str  # "new" (pair unseen), "exact_bytes" (same bytes as before), "near_dup" (re-encode)
    variant: str  # "" for the original bytes, else a VARIANTS name
    file: Path


def workload(
    share: float, n: int, videos: list[Video], dupes: NearDuplicates, seed: int
) -> list[Request]:
    """Each request repeats an earlier pair with probability ``share`` (half exact bytes,
    half a re-encode not uploaded for that pair before), otherwise asks for a new pair."""
    rng = random.Random(seed)
    by_name = {v.name: v for v in videos}
    fresh = [(v.name, p) for v in videos for p in PROMPTS]
    rng.shuffle(fresh)
    seen: list[tuple[str, str]] = []
    uploaded: dict[tuple[str, str], list[tuple[str, Path]]] = defaultdict(list)
    requests: list[Request] = []
    for i in range(n):
        repeat = bool(seen) and (rng.random() < share or not fresh)
        if not repeat:
            pair = fresh.pop()
            kind, variant, path = "new", "", by_name[pair[0]].path
        else:
            pair = rng.choice(seen)
            unused = [v for v in VARIANTS if v not in {u for u, _ in uploaded[pair]}]
            if rng.random() < 0.5 or not unused:
                kind = "exact_bytes"
                variant, path = rng.choice(uploaded[pair])
            else:
                kind = "near_dup"
                variant = rng.choice(unused)
                path = dupes.path(by_name[pair[0]], variant)
        if pair not in seen:
            seen.append(pair)
        if (variant, path) not in uploaded[pair]:
            uploaded[pair].append((variant, path))
        requests.append(Request(i, pair[0], pair[1], kind, variant, path))
    return requests


# --- the stand-in model --------------------------------------------------------------
def silent_wav(seconds: float, rate: int = 48_000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0" * int(seconds * rate))
    return buf.getvalue()


class CountingInference:
    """The Inference port without a GPU: writes a valid WAV where asked, tagged with the
    upload it was made for (so provenance is checked on the served object itself).

    The WAV is silence as long as the video, in the model's output format (48 kHz mono,
    16 bit), so what is stored, read and muxed has the real model's size."""

    def __init__(self, s3: Any, meter: Meter) -> None:
        self.s3 = s3
        self.meter = meter
        self.calls = 0
        self.results: dict[str, InferenceResult] = {}

    def start(self, request: InferenceRequest) -> None:
        """The run ends at once; the replay delivers its notification itself."""
        self.results[request.inference_id] = self._run(request)

    def notice_from(self, message: dict[str, Any]) -> InferenceNotice:
        return InferenceNotice(str(message["inferenceId"]), True)

    def read_result(self, notice: InferenceNotice) -> InferenceResult:
        return self.results.pop(notice.inference_id)

    def _run(self, request: InferenceRequest) -> InferenceResult:
        started = time.perf_counter()
        self.calls += 1
        bucket, key = request.output_uri.removeprefix("s3://").split("/", 1)
        with self.meter.step("gpu"):  # the endpoint's work: its S3 write is still billed
            self.s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=silent_wav(request.duration_s),
                ContentType="audio/wav",
                Metadata={"made-for": request.video_uri},
            )
        return InferenceResult(
            audio_uri=request.output_uri,
            model_version=request.model_version,
            sample_rate=48_000,
            duration_s=request.duration_s,
            backend="bench-counting",
            inference_ms=(time.perf_counter() - started) * 1e3,
        )


class InlineWorkflow:
    """The replay drives the steps itself: nothing may start a second pipeline, and what a
    step would hand a waiting task is kept for the replay to read."""

    def __init__(self) -> None:
        self.answers: dict[str, dict[str, Any]] = {}

    def start(self, name: str, payload: dict[str, Any]) -> bool:
        raise AssertionError(f"the replay must not start workflows ({name})")

    def resume(self, task_token: str, output: dict[str, Any]) -> bool:
        self.answers[task_token] = output
        return True

    def fail_task(self, task_token: str, error: str, cause: str) -> bool:
        raise AssertionError(f"inference failed in the replay: {error}: {cause}")


# --- the stack -----------------------------------------------------------------------
@dataclass
class Stack:
    moto_url: str
    redis_url: str
    s3: Any
    dynamodb: Any
    template: dict[str, Any]
    meter: Meter
    stops: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        for stop in self.stops:
            stop()

    def services(
        self, scenario: str, db: int, work_dir: Path
    ) -> tuple[Services, CountingInference]:
        """A fresh, empty cache: its own buckets, table and Redis database."""
        settings = Settings.from_env(
            {
                "UPLOADS_BUCKET": f"replay-{scenario}-uploads",
                "CACHE_BUCKET": f"replay-{scenario}-cache",
                "TABLE_NAME": f"replay-{scenario}",
                "SAGEMAKER_ENDPOINT_NAME": "replay-foley",
                "REDIS_URL": f"{self.redis_url}/{db}",
                "MODEL_VERSION": MODEL_VERSION,
                "WORK_DIR": str(work_dir),
            }
        )
        for bucket in (settings.uploads_bucket, settings.cache_bucket):
            self.s3.create_bucket(Bucket=bucket)
        self.dynamodb.create_table(TableName=settings.table_name, **table_spec(self.template))
        redis_client = connect(settings.redis_url)
        redis_client.flushdb()
        self.meter.instrument(redis_client)
        inference = CountingInference(self.s3, self.meter)
        services = Services(
            settings=settings,
            uploads=S3BlobStore(self.s3, settings.uploads_bucket),
            cache_blobs=S3BlobStore(self.s3, settings.cache_bucket),
            hot=RedisHotCache(redis_client),
            jobs=DynamoJobStore(self.dynamodb, settings.table_name),
            leases=DynamoLeaseStore(self.dynamodb, settings.table_name),
            inference=inference,
            workflow=InlineWorkflow(),
            pending=DynamoPendingRuns(self.dynamodb, settings.table_name, time.time),
            catalog=DynamoCatalog(self.dynamodb, settings.table_name),
            hot_index=RedisNearIndex(redis_client, settings.l1_ttl_s),
            durable_index=DynamoNearIndex(self.dynamodb, settings.table_name),
        )
        return services, inference


def start_stack() -> Stack:
    from moto.server import ThreadedMotoServer

    quiet_moto_logs()
    redis_port, moto_port = free_port(), free_port()
    redis_proc = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    stack_stops: list[Any] = [redis_proc.terminate, moto.stop]
    try:
        moto.start()
        moto_url = f"http://127.0.0.1:{moto_port}"
        creds = {
            "region_name": REGION,
            "endpoint_url": moto_url,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        meter = Meter()
        s3, dynamodb = boto3.client("s3", **creds), boto3.client("dynamodb", **creds)
        meter.attach(s3)
        meter.attach(dynamodb, sizing_client=boto3.client("dynamodb", **creds))
        stack = Stack(
            moto_url=moto_url,
            redis_url=f"redis://127.0.0.1:{redis_port}",
            s3=s3,
            dynamodb=dynamodb,
            template=load_template(REPO / "template.yaml"),
            meter=meter,
            stops=stack_stops,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                connect(f"{stack.redis_url}/0").ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return stack
    except BaseException:
        for stop in stack_stops:
            stop()
        raise


def shut_down(stack: Stack | None, work: Path) -> None:
    """A replay's cleanup: the stack's servers (where it started) and its work folder."""
    if stack is not None:
        stack.stop()
    shutil.rmtree(work, ignore_errors=True)


def save_summary(out: Path, summary: dict[str, Any], table_text: str) -> None:
    """Write the JSON results, then print the table and the targets' verdicts."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2, default=str))
    print(table_text)
    print(json.dumps(summary["targets"]))


# --- the replay ----------------------------------------------------------------------
def _waited(services: Services, state: PipelineState, token: str, step: Any) -> PipelineState:
    """Run a ``.waitForTaskToken`` step and merge what it resumed the task with, as the
    state machine does (``ResultPath: $.resumed``)."""
    step()
    answers = services.workflow.answers  # type: ignore[attr-defined]
    return PipelineState.model_validate({**state.model_dump(), "resumed": answers.pop(token)})


def run_pipeline(
    services: Services, state: PipelineState, meter: Meter, decisions: dict[str, list[Any]]
) -> PipelineState:
    """The state machine's cache path (Mux/Package are left out: they cost the same for
    every outcome, and ``delivery_sample`` measures them).

    Each step runs under ``meter.step(<its ASL state>)``; what each Task answered (the
    fields the Choice states read) goes to ``decisions``, from which the cost model walks
    the real ASL path."""
    with meter.step("Fingerprint"):
        state = fingerprint_upload(services, state)
    decisions["Fingerprint"] = [{"next": state.next}]
    if state.next not in ("mux", "lease"):  # known bytes go to the lease (ExactRepeat?)
        with meter.step("Lookup"):
            state = lookup(services, state)
        decisions["Lookup"] = [{"next": state.next}]
    if state.next != "mux":
        here = state

        def lease() -> None:
            with meter.step("Lease"):
                lease_or_wait(services, here, "lease")

        state = _waited(services, state, "lease", lease)
        decisions["Lease"] = [{"next": state.next}]
        if state.next == "infer":
            won = state

            def run_once() -> None:
                with meter.step("Inference"):
                    start_inference(services, won, "infer")
                with meter.step("InferenceDone"):
                    finish_inference(services, {"inferenceId": inference_id(won.entry_key())})

            state = _waited(services, won, "infer", run_once)
            decisions["Inference"] = [{"next": state.next}]
    if state.next != "mux":
        raise AssertionError(f"a sequential replay cannot wait on a lease (next={state.next})")
    with meter.step("RecordSuccess"):
        return succeed(services, state)


def submit(stack: Stack, services: Services, file: Path, key: str, prompt: str) -> str:
    """Upload ``file`` as the client does, and record its job as IngestFunction does."""
    bucket = services.settings.uploads_bucket
    with stack.meter.step("upload"):  # the client's PUT (presigned on AWS)
        stack.s3.put_object(
            Bucket=bucket, Key=key, Body=file.read_bytes(), ChecksumAlgorithm="SHA256"
        )
    job_id = new_job_id()
    now = time.time()
    with stack.meter.step("Ingest"):
        services.jobs.create(JobRecord(job_id, JobStatus.PENDING, prompt, now, now, bucket, key))
    return job_id


def delivery_sample(stack: Stack, videos: list[Video], work: Path, n: int) -> dict[str, Any]:
    """Mux and Package, run for real on ``n`` of the distinct videos after a miss.

    They follow every outcome that is not an exact repeat with live deliverables, and what
    they cost depends on the video, not on the cache tier; so the replay leaves them out
    (each is an encode) and the cost model adds this sample's mean to each such request."""
    services, _ = stack.services("delivery", 5, work)
    meter = stack.meter
    picks = videos[:: max(1, len(videos) // n)][:n]
    rows = []
    for i, video in enumerate(picks):
        key = f"uploads/d{i:03d}{video.path.suffix}"
        job_id = submit(stack, services, video.path, key, PROMPTS[0])
        start = PipelineState(job_id=job_id, bucket=services.settings.uploads_bucket, key=key)
        state = run_pipeline(services, start, meter, {})
        meter.take()
        meter.pop_overhead()
        with meter.step("Mux"):
            state = mux(services, state)
        with meter.step("Package"):
            package(services, state)
        usage = meter.take()
        meter.pop_overhead()
        rows.append({"video": video.name, "usage": usage})
        print(
            f"  delivery {video.name:<28} mux {usage['Mux']['seconds']:.2f} s, "
            f"package {usage['Package']['seconds']:.2f} s"
        )
    return {"videos": [v.name for v in picks], "rows": rows}


def replay(
    stack: Stack, scenario: str, db: int, requests: list[Request], work: Path
) -> dict[str, Any]:
    services, inference = stack.services(scenario, db, work)
    settings = services.settings
    meter = stack.meter
    meter.take()
    meter.pop_overhead()
    pair_of_upload: dict[str, tuple[str, str]] = {}
    upload_of_audio: dict[str, str] = {}  # cache audio key -> the upload it is synchronous with
    first_job: dict[tuple[str, str], str] = {}
    first_fingerprint: dict[tuple[str, str], dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for req in requests:
        key = f"uploads/{req.index:04d}{req.file.suffix}"
        pair_of_upload[f"s3://{settings.uploads_bucket}/{key}"] = (req.video, req.prompt)
        job_id = submit(stack, services, req.file, key, req.prompt)
        oracle_hit = (req.video, req.prompt) in first_job
        row: dict[str, Any] = {**asdict(req), "file": req.file.name, "oracle_hit": oracle_hit}
        decisions: dict[str, list[Any]] = {}
        row["decisions"] = decisions
        started = time.perf_counter()
        try:
            state = run_pipeline(
                services,
                PipelineState(job_id=job_id, bucket=settings.uploads_bucket, key=key),
                meter,
                decisions,
            )
        except FoleyError as exc:
            row.update(outcome="failed", error=f"{type(exc).__name__}: {exc}")
            row["ms"] = (time.perf_counter() - started - meter.pop_overhead()) * 1e3
            row["usage"] = meter.take()
            rows.append(row)
            continue
        row["ms"] = (time.perf_counter() - started - meter.pop_overhead()) * 1e3
        row["usage"] = meter.take()
        upload = f"s3://{settings.uploads_bucket}/{key}"
        if state.cache in ("miss", "partial"):  # this upload's own (made or composed) sound
            upload_of_audio[state.audio_key] = upload
        if state.cache == "partial":
            wrong = wrong_spans(services, state, req, pair_of_upload, upload_of_audio)
            row.update(served_video="(composed)", served_prompt=req.prompt, wrong_spans=wrong)
            wrong_reuse = bool(wrong)
        else:
            made_for = upload_of_audio.get(state.audio_key) or made_for_of(
                stack, settings.cache_bucket, state.audio_key
            )
            served_pair = pair_of_upload[made_for]
            row.update(served_video=served_pair[0], served_prompt=served_pair[1])
            wrong_reuse = served_pair != (req.video, req.prompt)
        row.update(
            outcome=state.cache,
            job_id=job_id,
            fingerprint=state.fingerprint,
            wrong_reuse=wrong_reuse,
        )
        pair = (req.video, req.prompt)
        if state.cache == "miss" and oracle_hit and pair in first_fingerprint:
            row["why_missed"] = explain_miss(first_fingerprint[pair], state.fingerprint_data)
            row["why_missed"]["first_job"] = first_job[pair]
        first_job.setdefault(pair, job_id)
        if state.fingerprint_data:
            first_fingerprint.setdefault(pair, state.fingerprint_data)
        rows.append(row)
        print(
            f"  {scenario} #{req.index:03d} {req.kind:<11} {req.video:<28} "
            f"{row['outcome']:<5} {row['ms']:7.0f} ms" + ("  WRONG" if row["wrong_reuse"] else "")
        )
    result = summarise(scenario, rows, inference.calls)
    result["redis_bytes_stored"] = redis_bytes_stored(settings.redis_url)
    return result


def redis_bytes_stored(url: str) -> int:
    """What the scenario left in L1 (keys and their overhead, MEMORY USAGE), for pricing
    Valkey's data storage."""
    client = connect(url)
    return sum(int(client.memory_usage(key) or 0) for key in client.scan_iter(count=1000))


def made_for_of(stack: Stack, bucket: str, audio_key: str) -> str:
    """The upload a model run made ``audio_key`` for (the stand-in model's own tag)."""
    return str(stack.s3.head_object(Bucket=bucket, Key=audio_key)["Metadata"]["made-for"])


def clip_time(video: str) -> tuple[str, float]:
    """A distinct video's source clip and where it starts in it (``clip@5s`` -> 5.0)."""
    clip, _, start = video.partition("@")
    return clip, float(start.removesuffix("s") or 0)


#: How far a reused span's offset may be from the truth (a frame at 25 fps is 0.04 s).
SPAN_TOLERANCE_S = 0.1


def wrong_spans(
    services: Services,
    state: PipelineState,
    req: Request,
    pair_of_upload: dict[str, tuple[str, str]],
    upload_of_audio: dict[str, str],
) -> list[dict[str, Any]]:
    """A composed (partial) answer, judged span by span on the ground truth: a span is
    right iff its source upload shows the same clip under the same prompt, shifted by
    exactly the offset the plan used. (Segments of one clip are distinct videos to the
    whole-video cache, but their shared seconds are truly the same frames.)"""
    entry = services.cache.get_l2(state.entry_key())
    if entry is None or "composed" not in entry.extra:
        raise AssertionError(f"partial answer {state.audio_key} has no composed entry")
    clip, start = clip_time(req.video)
    wrong = []
    for span in entry.extra["composed"]["spans"]:
        source = upload_of_audio.get(span["source_audio"])
        source_video, source_prompt = pair_of_upload[source] if source else ("?", "?")
        source_clip, source_start = clip_time(source_video)
        truth_offset = start - source_start
        if (
            source_clip != clip
            or source_prompt != req.prompt
            or abs(span["source_offset_s"] - truth_offset) > SPAN_TOLERANCE_S
        ):
            wrong.append({**span, "source_video": source_video, "truth_offset_s": truth_offset})
    return wrong


def explain_miss(stored: dict[str, Any], mine: dict[str, Any]) -> dict[str, Any]:
    """Why an oracle hit missed: the product's own decision on the two fingerprints."""
    decision = decide(Fingerprint.from_dict(stored), Fingerprint.from_dict(mine))
    return {
        "hamming": decision.hamming,
        "similarity": round(decision.similarity, 3),
        "frame_hamming": decision.frame_hamming,
        "decide_same": decision.same,
        "reason": decision.reason,
    }


def summarise(scenario: str, rows: list[dict[str, Any]], calls: int) -> dict[str, Any]:
    n = len(rows)
    served = sum(r["outcome"] in SERVED for r in rows)
    oracle = sum(r["oracle_hit"] for r in rows)
    distinct_pairs = len({(r["video"], r["prompt"]) for r in rows})
    by_outcome: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        by_outcome[r["outcome"]].append(r["ms"])
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        by_kind[r["kind"]][r["outcome"]] += 1
    hit_ratio = served / n
    oracle_ratio = oracle / n
    return {
        "scenario": scenario,
        "requests": n,
        "hits": served,
        "hit_ratio": hit_ratio,
        "oracle_hits": oracle,
        "oracle_hit_ratio": oracle_ratio,
        "hit_ratio_vs_oracle": hit_ratio / oracle_ratio if oracle_ratio else 1.0,
        "wrong_reuse": sum(bool(r.get("wrong_reuse")) for r in rows),
        "failed": sum(r["outcome"] == "failed" for r in rows),
        "inference_calls": calls,
        "inference_calls_oracle": distinct_pairs,
        "inference_calls_saved": n - calls,
        "outcomes": {k: len(v) for k, v in sorted(by_outcome.items())},
        "mean_ms_by_outcome": {
            k: round(statistics.fmean(v), 1) for k, v in sorted(by_outcome.items())
        },
        "outcomes_by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
        "missed_oracle_hits": [
            {k: r[k] for k in ("index", "kind", "video", "prompt", "variant", "why_missed")}
            for r in rows
            if r["oracle_hit"] and r["outcome"] not in SERVED and "why_missed" in r
        ],
        "rows": rows,
    }


def table(results: list[dict[str, Any]]) -> str:
    head = (
        f"{'scenario':>8} {'n':>4} {'hit':>6} {'oracle':>6} {'hit/or':>7} {'wrong':>5} "
        f"{'calls':>5} {'saved':>5}  outcomes (mean ms)"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        outcomes = ", ".join(
            f"{k} {n} ({r['mean_ms_by_outcome'][k]:.0f})" for k, n in r["outcomes"].items()
        )
        lines.append(
            f"{r['scenario']:>8} {r['requests']:>4} {r['hit_ratio']:>6.1%} "
            f"{r['oracle_hit_ratio']:>6.1%} {r['hit_ratio_vs_oracle']:>7.1%} "
            f"{r['wrong_reuse']:>5} {r['inference_calls']:>5} {r['inference_calls_saved']:>5}  "
            + outcomes
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=70, help="requests per scenario")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS)
    parser.add_argument("--out", type=Path, default=RESULTS, help="JSON results path")
    parser.add_argument(
        "--delivery-sample", type=int, default=4, help="videos whose Mux/Package are measured"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="fc-replay-"))
    stack: Stack | None = None
    try:
        started = time.perf_counter()
        videos = distinct_videos(args.clips, work)
        dupes = NearDuplicates(work)
        plans = {
            f"repeat{round(share * 100)}": workload(
                share, args.requests, videos, dupes, args.seed + k
            )
            for k, share in enumerate(REPEAT_SHARES)
        }
        prep_s = time.perf_counter() - started
        print(f"{len(videos)} distinct videos, {len(dupes.made)} re-encodes, prep {prep_s:.0f} s")
        stack = start_stack()
        results = [
            replay(stack, name, db, plan, work)
            for db, (name, plan) in enumerate(plans.items(), start=1)
        ]
        delivery = delivery_sample(stack, videos, work, args.delivery_sample)
        summary = {
            "requests_per_scenario": args.requests,
            "seed": args.seed,
            "distinct_videos": [v.name for v in videos],
            "prompts": list(PROMPTS),
            "variants": VARIANTS,
            "prep_s": round(prep_s, 1),
            "wall_s": round(time.perf_counter() - started, 1),
            "targets": {
                "hit_ratio_ge_99pct_of_oracle": all(
                    r["hit_ratio_vs_oracle"] >= 0.99 for r in results
                ),
                "zero_wrong_reuse": all(r["wrong_reuse"] == 0 for r in results),
            },
            "scenarios": results,
            "delivery_sample": delivery,
        }
        save_summary(args.out, summary, table(results))
    finally:
        shut_down(stack, work)


if __name__ == "__main__":
    main()
