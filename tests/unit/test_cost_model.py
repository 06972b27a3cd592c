"""The cost model's arithmetic (bench/cost_model.py, bench/usage_meter.py) against hand-computed
cases, with round test prices so each expected figure can be checked on paper."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import cost_model  # noqa: E402
import usage_meter  # noqa: E402
from cost_model import FunctionSize, Prices  # noqa: E402

PRICES = Prices(
    usd={
        "lambda_gb_second_x86": 0.00001,
        "lambda_request": 0.0000002,
        "lambda_ephemeral_gb_second": 0.00000003,
        "sfn_standard_transition": 0.000025,
        "dynamodb_write_request_unit": 0.000001,
        "dynamodb_read_request_unit": 0.0000001,
        "dynamodb_storage_gb_month": 0.25,
        "valkey_serverless_ecpu": 0.000000002,
        "valkey_serverless_gb_hour": 0.1,
        "s3_standard_gb_month": 0.02,
        "s3_put_request": 0.000005,
        "s3_get_request": 0.0000004,
        "sagemaker_ml.test_hour": 3.6,
    },
    gpu_seconds_per_inference=50.0,
    gpu_instance="ml.test",
    storage_months=1.0,
    believed_current_at="2000-01-01",
)
GIB = 1024**3
ASL = json.loads((REPO / "infra" / "statemachine" / "pipeline.asl.json").read_text())


def usage(**fields: Any) -> dict[str, Any]:
    base = usage_meter.StepUsage().to_dict()
    base.update(fields)
    return base


# --- Lambda --------------------------------------------------------------------------------
def test_lambda_duration_is_billed_per_ms_rounded_up_per_invocation() -> None:
    # 0.2501 s at 1024 MB bills 0.251 s = 0.251 GB-s; plus one request.
    cost = cost_model.lambda_cost(0.2501, 1, FunctionSize(1024), PRICES)
    assert cost == pytest.approx(0.251 * 0.00001 + 0.0000002)


def test_lambda_memory_and_ephemeral_storage_above_512_mb() -> None:
    # 2 invocations, 1.0 s in all -> 0.5 s each, billed 1.0 s; 3008 MB = 2.9375 GB;
    # 4096 MB of /tmp, 3584 MB above the free 512 MB = 3.5 GB.
    cost = cost_model.lambda_cost(1.0, 2, FunctionSize(3008, 4096), PRICES)
    expected = 1.0 * 2.9375 * 0.00001 + 2 * 0.0000002 + 1.0 * 3.5 * 0.00000003
    assert cost == pytest.approx(expected)


def test_no_invocation_costs_nothing() -> None:
    assert cost_model.lambda_cost(0.0, 0, FunctionSize(1024), PRICES) == 0.0


# --- one step --------------------------------------------------------------------------------
def test_s3_requests_by_class_and_storage() -> None:
    calls = {"s3.PutObject": 2, "s3.GetObject": 3, "s3.HeadObject": 1, "s3.DeleteObject": 4}
    cost = cost_model.step_cost(usage(aws_calls=calls, s3_bytes_in=GIB // 2), None, PRICES)
    assert cost["s3_requests"] == pytest.approx(2 * 0.000005 + 4 * 0.0000004)
    assert cost["s3_storage"] == pytest.approx(0.5 * 0.02)
    assert cost["lambda"] == 0.0


def test_dynamodb_units_and_storage() -> None:
    step = usage(dynamodb_rru=2.5, dynamodb_wru=3.0, dynamodb_bytes_written=GIB // 4)
    cost = cost_model.step_cost(step, None, PRICES)
    assert cost["dynamodb"] == pytest.approx(2.5 * 0.0000001 + 3 * 0.000001 + 0.25 * 0.25)


def test_valkey_ecpus_are_commands_or_kilobytes_moved_whichever_is_more() -> None:
    assert cost_model.ecpus(5, 100) == 5
    assert cost_model.ecpus(2, 5000) == 5  # ceil(5000 / 1024)
    step = usage(redis_commands=3, redis_bytes_sent=3000, redis_bytes_received=2000)
    assert cost_model.step_cost(step, None, PRICES)["valkey"] == pytest.approx(5 * 0.000000002)
    assert cost_model.step_cost(step, None, PRICES, with_redis=False)["valkey"] == 0.0


# --- the ASL path ------------------------------------------------------------------------------
MISS = {
    "Fingerprint": [{"next": "lookup"}],
    "Lookup": [{"next": "lease"}],
    "Lease": [{"next": "infer"}],
    "Inference": [{"next": "mux"}],
}


FIRST, LOOKUP, LEASE = ["Fingerprint", "ExactRepeat?"], ["Lookup", "Cached?"], ["Lease", "Won?"]
DELIVER = ["Mux", "Package", "RecordSuccess"]


@pytest.mark.parametrize(
    ("decisions", "expected"),
    [
        # after a run, Deliver? sends a prewarm (next: done) to RecordSuccess, a request on
        (MISS, [*FIRST, *LOOKUP, *LEASE, "Inference", "Deliver?", *DELIVER]),
        (
            {"Fingerprint": [{"next": "lookup"}], "Lookup": [{"next": "mux"}]},
            FIRST + LOOKUP + DELIVER,
        ),
        ({"Fingerprint": [{"next": "mux"}]}, FIRST + DELIVER),
        ({"Fingerprint": [{"next": "done"}]}, [*FIRST, "RecordSuccess"]),
        (
            # known bytes without this model version's sound go straight to the lease
            {
                "Fingerprint": [{"next": "lease"}],
                "Lease": [{"next": "infer"}],
                "Inference": [{"next": "mux"}],
            },
            [*FIRST, *LEASE, "Inference", "Deliver?", *DELIVER],
        ),
        (
            # the lease answered "mux": another job's run finished first
            {
                "Fingerprint": [{"next": "lookup"}],
                "Lookup": [{"next": "lease"}],
                "Lease": [{"next": "mux"}],
            },
            FIRST + LOOKUP + LEASE + DELIVER,
        ),
    ],
)
def test_path_through_the_real_state_machine(
    decisions: dict[str, list[dict[str, Any]]], expected: list[str]
) -> None:
    assert cost_model.asl_path(ASL, decisions) == expected


def test_a_task_entered_twice_answers_in_order_and_result_path_nests() -> None:
    asl = {
        "StartAt": "Ask",
        "States": {
            "Ask": {"Type": "Task", "Resource": "x", "ResultPath": "$.answer", "Next": "Again?"},
            "Again?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.answer.next", "StringEquals": "ask", "Next": "Ask"}],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    decisions = {"Ask": [{"next": "ask"}, {"next": "stop"}]}
    assert cost_model.asl_path(asl, decisions) == ["Ask", "Again?", "Ask", "Again?", "Done"]


def test_an_unsupported_choice_rule_is_refused_not_guessed() -> None:
    asl = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "E"}],
                "Default": "E",
            },
            "E": {"Type": "Succeed"},
        },
    }
    with pytest.raises(ValueError, match="unsupported Choice rule"):
        cost_model.asl_path(asl, {})


# --- whole requests ---------------------------------------------------------------------------
def model() -> cost_model.Model:
    delivery = {
        "Mux": usage(seconds=2.0, invocations=1, aws_calls={"s3.PutObject": 3.0}),
        "Package": usage(seconds=0.5, invocations=1, aws_calls={"s3.PutObject": 10.0}),
    }
    functions = {
        "Fingerprint": "FP",
        "Mux": "MUX",
        "Package": "PKG",
        "RecordSuccess": "JS",
        "Inference": "INF",
    }
    sizes = {
        "FP": FunctionSize(2048),
        "MUX": FunctionSize(1024),
        "PKG": FunctionSize(1024),
        "JS": FunctionSize(1024),
        "INF": FunctionSize(1024),
    }
    return cost_model.Model(PRICES, ASL, functions, sizes, delivery, l1_ttl_hours=10.0)


def test_an_exact_repeat_pays_its_steps_mux_package_and_five_transitions() -> None:
    row = {
        "decisions": {"Fingerprint": [{"next": "mux"}]},
        "usage": {
            "Fingerprint": usage(seconds=0.1, invocations=1, aws_calls={"s3.HeadObject": 1}),
            "RecordSuccess": usage(seconds=0.01, invocations=1),
            "upload": usage(aws_calls={"s3.PutObject": 1}),
        },
    }
    cost, path = cost_model.request_cost(row, model())
    assert len(path) == 5
    assert cost["step_functions"] == pytest.approx(5 * 0.000025)
    # Lambda: FP 0.1 s x 2 GB, JS 0.01 s x 1 GB, MUX 2 s x 1 GB, PKG 0.5 s x 1 GB; 4 requests
    gb_s = 0.1 * 2 + 0.01 + 2.0 + 0.5
    assert cost["lambda"] == pytest.approx(gb_s * 0.00001 + 4 * 0.0000002)
    # S3: the upload's PUT, Mux's 3 and Package's 10 PUTs; Fingerprint's HEAD
    assert cost["s3_requests"] == pytest.approx(14 * 0.000005 + 1 * 0.0000004)
    assert cost["gpu"] == 0.0


def test_a_miss_pays_the_gpu_and_the_baseline_drops_the_cache_states() -> None:
    row = {
        "decisions": MISS,
        "usage": {
            "Fingerprint": usage(seconds=1.0, invocations=1, redis_commands=4),
            "Inference": usage(seconds=0.02, invocations=1),
            "gpu": usage(invocations=1, aws_calls={"s3.PutObject": 1}),
            "RecordSuccess": usage(seconds=0.01, invocations=1),
        },
    }
    cost, path = cost_model.request_cost(row, model())
    assert len(path) == 11
    gpu = 50.0 * 3.6 / 3600  # 50 s at 3.6 USD/h
    assert cost["gpu"] == pytest.approx(gpu)
    assert cost["valkey"] == pytest.approx(4 * 0.000000002)
    base = cost_model.baseline_cost(row, model())
    # no Fingerprint Lambda, no Valkey, 4 transitions (Inference, Mux, Package, RecordSuccess)
    assert base["step_functions"] == pytest.approx(4 * 0.000025)
    assert base["valkey"] == 0.0
    assert base["gpu"] == pytest.approx(gpu)
    gb_s = 0.02 + 2.0 + 0.5 + 0.01
    assert base["lambda"] == pytest.approx(gb_s * 0.00001 + 4 * 0.0000002)


def test_per_thousand_is_the_mean_times_1000() -> None:
    a, b = cost_model.Cost(), cost_model.Cost()
    a["gpu"], b["gpu"], b["lambda"] = 0.02, 0.0, 0.001
    out = cost_model.per_thousand([a, b])
    assert out["gpu"] == pytest.approx(10.0)
    assert out["lambda"] == pytest.approx(0.5)
    assert out["total"] == pytest.approx(10.5)


def test_template_sizes_apply_globals_and_ephemeral_storage() -> None:
    template = {
        "Globals": {"Function": {"MemorySize": 1024}},
        "Resources": {
            "A": {"Type": "AWS::Serverless::Function", "Properties": {}},
            "B": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"MemorySize": 3008, "EphemeralStorage": {"Size": 4096}},
            },
            "T": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
        },
    }
    assert cost_model.function_sizes(template) == {
        "A": FunctionSize(1024, 512),
        "B": FunctionSize(3008, 4096),
    }


# --- usage_meter: sizes, units, counting through botocore's hooks ---------------------------
def test_dynamodb_item_size_follows_the_published_rules() -> None:
    # "pk" (2) + "abc" (3); "n" (1) + 123 -> ceil(3/2)+1 = 3; "b" (1) + true (1);
    # "m" (1) + map: 3 + (1 + "k" 1 + "v" 1) = 6
    item = {
        "pk": {"S": "abc"},
        "n": {"N": "123"},
        "b": {"BOOL": True},
        "m": {"M": {"k": {"S": "v"}}},
    }
    assert usage_meter.item_size(item) == 5 + 4 + 2 + 7


def test_read_and_write_units() -> None:
    assert usage_meter.read_units([100], consistent=True) == 1.0
    assert usage_meter.read_units([100], consistent=False) == 0.5
    assert usage_meter.read_units([4097], consistent=True) == 2.0
    assert usage_meter.read_units([0, 5000], consistent=False) == 1.5  # 1 + 2 units, halved
    assert usage_meter.write_units(0) == 1
    assert usage_meter.write_units(1024) == 1
    assert usage_meter.write_units(1025) == 2


def test_meter_counts_calls_and_units_per_step_through_botocore_hooks() -> None:
    creds = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    dynamodb, sizer = boto3.client("dynamodb", **creds), boto3.client("dynamodb", **creds)
    meter = usage_meter.Meter()
    meter.attach(dynamodb, sizing_client=sizer)
    big = {"pk": {"S": "j"}, "blob": {"S": "x" * 1500}}  # 2 + 1 + 4 + 1500 bytes
    with Stubber(dynamodb) as stub, Stubber(sizer) as sizing:
        stub.add_response("get_item", {"Item": big})
        stub.add_response("get_item", {"Item": big})
        stub.add_response("put_item", {})
        stub.add_response("update_item", {})
        sizing.add_response("get_item", {"Item": big})
        dynamodb.get_item(TableName="t", Key={"pk": {"S": "j"}})  # no step: not counted
        with meter.step("A"):
            dynamodb.get_item(TableName="t", Key={"pk": {"S": "j"}}, ConsistentRead=True)
            dynamodb.put_item(TableName="t", Item=big)
        with meter.step("B"):
            dynamodb.update_item(TableName="t", Key={"pk": {"S": "j"}}, UpdateExpression="SET a=:a")
    steps = meter.take()
    assert steps["A"]["aws_calls"] == {"dynamodb.GetItem": 1, "dynamodb.PutItem": 1}
    assert steps["A"]["dynamodb_rru"] == 1.0
    assert steps["A"]["dynamodb_wru"] == 2.0  # 1507 bytes -> 2 KB
    assert steps["B"]["aws_calls"] == {"dynamodb.UpdateItem": 1}  # the sizing read is not
    assert steps["B"]["dynamodb_wru"] == 2.0
    assert steps["A"]["invocations"] == 1
    assert meter.take() == {}


def test_nested_steps_keep_exclusive_time(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 1.0, 3.0, 3.5])  # outer in, inner in, inner out, outer out
    monkeypatch.setattr(usage_meter, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    meter = usage_meter.Meter()
    with meter.step("outer"), meter.step("inner"):
        pass
    steps = meter.take()
    assert steps["inner"]["seconds"] == pytest.approx(2.0)
    assert steps["outer"]["seconds"] == pytest.approx(1.5)
