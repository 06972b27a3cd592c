"""The prewarm machinery's parts: manifests, deterministic jobs, the map's definition."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from foleycache.cache import names
from foleycache.cache.entry import CacheEntry
from foleycache.core.errors import InvalidInput
from foleycache.core.job import JobRecord, JobStatus
from foleycache.core.keys import CacheKey
from foleycache.fingerprint import FINGERPRINT_VERSION
from foleycache.pipeline.prewarm import (
    Action,
    ManifestError,
    ManifestRow,
    prepare_item,
    prewarm_job_id,
    read_manifest,
    start_prewarm_map,
    top_manifest,
)
from foleycache.settings import Settings
from tests.fakes import SETTINGS_ENV, MemoryCatalog, RecordingWorkflow, fake_services

REPO = Path(__file__).resolve().parents[2]
ASL = json.loads((REPO / "infra" / "statemachine" / "prewarm.asl.json").read_text())
FP = "0123456789abcdef"


def canary_services(**overrides: Any) -> Any:
    settings = Settings.from_env({**SETTINGS_ENV, "CANDIDATE_MODEL_VERSION": "v2"})
    return fake_services(settings=settings, **overrides)


def test_csv_and_jsonl_manifests_read_the_same_rows() -> None:
    csv_rows = read_manifest('video,prompt\na.mp4,"rain, heavy"\nb.mp4,  wind  \n', "csv", 100)
    jsonl_rows = read_manifest(
        '{"video": "a.mp4", "prompt": "rain, heavy"}\n\n{"video": "b.mp4", "prompt": "wind"}\n',
        "jsonl",
        100,
    )
    assert [(r.video, r.prompt) for r in csv_rows] == [(r.video, r.prompt) for r in jsonl_rows]
    assert [r.line for r in csv_rows] == [2, 3]


def test_a_manifest_with_bad_rows_is_refused_whole() -> None:
    with pytest.raises(ManifestError, match="lacks \\['prompt'\\]"):
        read_manifest("video\na.mp4\n", "csv", 100)
    with pytest.raises(ManifestError) as err:
        read_manifest(
            'video,prompt,fingerprint\na.mp4,ok,\n,no video,\nb.mp4,ok,xyz\nc.mp4,"",\n',
            "csv",
            100,
        )
    text = str(err.value)
    assert text.startswith("3 bad row(s), nothing was run")
    assert "line 3: no video" in text and "line 4: fingerprint" in text
    assert "line 5: the prompt is empty" in text
    with pytest.raises(ManifestError, match="no rows"):
        read_manifest("video,prompt\n", "csv", 100)


def test_job_ids_are_per_row_and_version() -> None:
    row = ManifestRow("s3://b/uploads/x.mp4", "rain")
    assert prewarm_job_id(row, "v2") == prewarm_job_id(ManifestRow(row.video, " rain "), "v2")
    assert prewarm_job_id(row, "v2") != prewarm_job_id(row, "v3")
    assert prewarm_job_id(row, "v2") != prewarm_job_id(ManifestRow(row.video, "wind"), "v2")


def test_an_item_is_decided_once_and_resumed_not_restarted() -> None:
    services = canary_services()
    key = "uploads/job-1/video.mp4"
    services.uploads.put_bytes(key, b"video")
    row = ManifestRow(f"s3://foleycache-uploads/{key}", "rain", line=2)

    first = prepare_item(services, row, "v2")
    assert first.action is Action.RUN and first.execution_input == {
        "job_id": first.job_id,
        "bucket": "foleycache-uploads",
        "key": key,
        "model_version": "v2",
        "deliver": False,
    }
    job = services.jobs.get(first.job_id)
    # Created running: the upload's S3 event (a local row's upload) does not start it again.
    assert job is not None and job.status is JobStatus.RUNNING and job.model_version == "v2"
    assert prepare_item(services, row, "v2").action is Action.RUN  # re-attach, same input
    services.jobs.update(first.job_id, status=JobStatus.SUCCEEDED.value)
    assert prepare_item(services, row, "v2").action is Action.DONE


def test_cached_rows_missing_sources_and_unserved_versions_are_not_run() -> None:
    services = canary_services()
    key = CacheKey.for_request(FP, "rain", "v2", FINGERPRINT_VERSION)
    services.cache.store(CacheEntry(key, names.l2_audio(key), 3.0, 48000, {}, 0.0))
    cached = ManifestRow("s3://foleycache-uploads/uploads/a.mp4", "rain", FP)
    assert prepare_item(services, cached, "v2").action is Action.CACHED
    gone = ManifestRow("s3://foleycache-uploads/uploads/gone.mp4", "rain")
    assert prepare_item(services, gone, "v2").action is Action.NO_SOURCE
    elsewhere = ManifestRow("s3://another-bucket/uploads/a.mp4", "rain")
    plan = prepare_item(services, elsewhere, "v2")
    assert plan.action is Action.NO_SOURCE and "not in the uploads bucket" in plan.reason
    with pytest.raises(InvalidInput, match="no endpoint serves model version 'v9'"):
        prepare_item(services, gone, "v9")
    assert services.jobs.get(prewarm_job_id(gone, "v2")) is None


def test_top_manifest_finds_each_pairs_source_upload_or_says_why_not() -> None:
    services = canary_services(catalog=MemoryCatalog())
    from foleycache.cache.hit_tracking import track_hit

    fps = ["00000000000000a1", "00000000000000a2", "00000000000000a3"]
    for i, fp in enumerate(fps):
        key = CacheKey.for_request(fp, "rain", "foley-ref-1", FINGERPRINT_VERSION)
        job_id = f"job-0000000{i}"
        services.cache.store(
            CacheEntry(key, names.l2_audio(key), 3.0, 48000, {}, 0.0, source_job=job_id)
        )
        for _ in range(3 - i):
            track_hit(services, key)
        if i < 2:
            upload = f"uploads/{job_id}/v.mp4"
            services.jobs.create(
                JobRecord(
                    job_id, JobStatus.SUCCEEDED, "rain", 0.0, 0.0, "foleycache-uploads", upload
                )
            )
            if i == 0:
                services.uploads.put_bytes(upload, b"video")
    manifest = top_manifest(services, 3)
    assert [(r.video, r.fingerprint) for r in manifest.rows] == [
        ("s3://foleycache-uploads/uploads/job-00000000/v.mp4", fps[0])
    ]
    reasons = [m["reason"] for m in manifest.missing]
    assert "is gone (uploads expire)" in reasons[0] and "is not recorded" in reasons[1]


def test_the_cloud_runner_writes_a_csv_manifest_and_starts_the_map_once() -> None:
    services = canary_services()
    starter = RecordingWorkflow()
    rows = [ManifestRow("s3://foleycache-uploads/uploads/a.mp4", 'rain, "heavy"', FP)]
    run = start_prewarm_map(services, starter, rows, "v2", 3)
    body = services.cache_blobs.get_bytes(run["manifest"]["key"])
    assert body is not None
    assert read_manifest(body.decode(), "csv", 100) == [
        ManifestRow(rows[0].video, rows[0].prompt, FP, 2)
    ]
    inputs = {k: run[k] for k in ("manifest", "model_version", "concurrency")}
    assert starter.started == {run["run_id"]: inputs}
    assert start_prewarm_map(services, starter, rows, "v2", 3)["run_id"] == run["run_id"]
    with pytest.raises(InvalidInput, match="names a local file"):
        start_prewarm_map(services, starter, [ManifestRow("a.mp4", "rain", line=2)], "v2", 3)


# --- the Distributed Map, structurally (moto 5.2.5 runs its ItemReader and item function,
# but not the states:startExecution.sync:2 child start; see docs/decisions) ---------------
def test_the_prewarm_map_reads_the_s3_manifest_and_runs_each_row_through_the_pipeline() -> None:
    (state,) = ASL["States"].values()
    assert state["Type"] == "Map"
    assert state["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert state["ItemReader"]["ReaderConfig"] == {
        "InputType": "CSV",
        "CSVHeaderLocation": "FIRST_ROW",
    }
    assert state["ItemReader"]["Parameters"] == {
        "Bucket.$": "$.manifest.bucket",
        "Key.$": "$.manifest.key",
    }
    assert state["MaxConcurrencyPath"] == "$.concurrency"  # bounded
    processor = state["ItemProcessor"]
    assert processor["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    states = processor["States"]
    assert states["Prepare"]["Resource"] == "${PrewarmItemFunctionArn}"
    assert states["Run?"]["Choices"] == [
        {"Variable": "$.action", "StringEquals": "run", "Next": "Generate"}
    ]
    generate = states["Generate"]
    assert generate["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
    # The execution name is the job id: a resumed map re-attaches instead of running twice.
    assert generate["Parameters"] == {
        "StateMachineArn": "${PipelineStateMachineArn}",
        "Name.$": "$.job_id",
        "Input.$": "$.execution_input",
    }
    assert generate["Catch"][0]["ErrorEquals"] == ["StepFunctions.ExecutionAlreadyExistsException"]
    # What the item function returns is what the map reads.
    plan = prepare_item(
        _with_upload(canary_services()),
        ManifestRow("s3://foleycache-uploads/uploads/a.mp4", "r"),
        "v2",
    ).to_dict()
    assert plan["action"] == "run" and {"job_id", "execution_input"} <= set(plan)


def test_the_pipeline_ends_a_prewarm_job_at_its_entry() -> None:
    pipeline = json.loads((REPO / "infra" / "statemachine" / "pipeline.asl.json").read_text())
    states = pipeline["States"]
    done = {"StringEquals": "done", "Next": "RecordSuccess"}
    assert any(done.items() <= c.items() for c in states["Cached?"]["Choices"])
    assert any(done.items() <= c.items() for c in states["Won?"]["Choices"])
    assert states["Inference"]["Next"] == "Deliver?"
    assert states["Deliver?"]["Choices"] == [
        {"Variable": "$.resumed.next", "StringEquals": "done", "Next": "RecordSuccess"}
    ]
    assert states["Deliver?"]["Default"] == "Mux"


def _with_upload(services: Any) -> Any:
    services.uploads.put_bytes("uploads/a.mp4", b"video")
    return services
