"""The deployment template: lint-clean, and the properties the design relies on.

No network and no AWS account: cfn-lint runs in-process, the template is read
with the same loader the local stack uses, and the DynamoDB table is built in
moto's in-process mock from the template's own definition.
"""

from __future__ import annotations

import ast
import graphlib
import json
import os
import re
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cfnlint.api import lint_file
from moto import mock_aws

from foleycache.local.template_resources import (
    load_template,
    resources_of_type,
    table_spec,
    table_ttl_attribute,
)
from foleycache.settings import Settings
from tests.fakes import SETTINGS_ENV

REPO = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO / "template.yaml"
ASL_PATH = REPO / "infra" / "statemachine" / "pipeline.asl.json"
FUNCTIONS_DIR = REPO / "functions"
FFMPEG_LAYER_DIR = REPO / "layers" / "ffmpeg"

FUNCTION = "AWS::Serverless::Function"
ARCHIVE_TAG = ("foleycache:archive", "true")
#: Variables read by libraries (Powertools, the log setup), not by foleycache.settings.
LIBRARY_VARIABLES = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "LOG_LEVEL"}
#: The functions that open a Valkey connection, hence need the VPC (the cache lives there).
#: Parameters of the SAM policy templates this template uses (SAM's policy_templates.json);
#: cfn-lint does not check them, and a misspelt one only fails at deploy time.
POLICY_TEMPLATE_PARAMETERS = {
    "S3ReadPolicy": {"BucketName"},
    "S3CrudPolicy": {"BucketName"},
    "DynamoDBReadPolicy": {"TableName"},
    "DynamoDBCrudPolicy": {"TableName"},
    "StepFunctionsExecutionPolicy": {"StateMachineName"},
    "LambdaInvokePolicy": {"FunctionName"},
}
PSEUDO_PARAMETER = re.compile(r"^AWS::")
SUB_REFERENCE = re.compile(r"\$\{([^}!]+)\}")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE_PATH)


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(template["Resources"])


@pytest.fixture(scope="module")
def functions(resources: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {rid: r for rid, r in resources.items() if r["Type"] == FUNCTION}


def _props(resource: dict[str, Any]) -> dict[str, Any]:
    return dict(resource.get("Properties", {}))


def _environment(template: dict[str, Any], function: dict[str, Any]) -> dict[str, Any]:
    """A function's variables as deployed: Globals merged under its own (SAM's rule)."""
    merged = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    merged.update(_props(function).get("Environment", {}).get("Variables", {}))
    return merged


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _references(value: Any, names: set[str]) -> set[str]:
    """Logical ids in ``names`` that ``value`` refers to through Ref, GetAtt or Sub."""
    found: set[str] = set()
    for node in _walk(value):
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("Ref"), str):
            found.add(node["Ref"])
        if isinstance(node.get("Fn::GetAtt"), list):
            found.add(node["Fn::GetAtt"][0])
        if "Fn::Sub" in node:
            sub = node["Fn::Sub"]
            text, local = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
            for name in SUB_REFERENCE.findall(text):
                base = name.split(".", 1)[0]
                if base not in local and not PSEUDO_PARAMETER.match(base):
                    found.add(base)
    return found & names


# ------------------------------------------------------------------ lint and structure


def test_cfn_lint_reports_no_error_and_no_warning() -> None:
    matches = lint_file(TEMPLATE_PATH)
    assert [str(m) for m in matches] == []


def test_no_dependency_cycle_once_sam_event_sources_are_wired(
    template: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    # cfn-lint skips cycles through SAM resources, yet SAM makes an S3 event's bucket
    # depend on its function (the notification) and an Api depend on its functions; a
    # function that then refers to that bucket deadlocks the stack. Rebuild that graph.
    names = set(resources)
    depends_on: dict[str, set[str]] = {rid: set() for rid in names}
    for rid, resource in resources.items():
        depends_on[rid] |= _references(resource.get("Properties", {}), names)
        explicit = resource.get("DependsOn", [])
        depends_on[rid] |= {explicit} if isinstance(explicit, str) else set(explicit)
        if resource["Type"] == FUNCTION:
            depends_on[rid] |= _references(template["Globals"]["Function"], names)
            for event in _props(resource).get("Events", {}).values():
                source = event["Properties"].get("Bucket") or event["Properties"].get("RestApiId")
                for target in _references(source, names):
                    depends_on[target].add(rid)
                    depends_on[rid].discard(target)
    graphlib.TopologicalSorter(depends_on).prepare()  # raises CycleError on a cycle


def test_policy_templates_use_their_real_parameter_names(
    functions: dict[str, dict[str, Any]], resources: dict[str, dict[str, Any]]
) -> None:
    owners = {**functions, "PipelineStateMachine": resources["PipelineStateMachine"]}
    for rid, resource in owners.items():
        for policy in _props(resource).get("Policies", []):
            for name, arguments in policy.items():
                if name == "Statement":
                    continue
                assert name in POLICY_TEMPLATE_PARAMETERS, f"{rid}: unknown policy template {name}"
                assert set(arguments) == POLICY_TEMPLATE_PARAMETERS[name], (rid, name)


def test_named_resources_and_the_names_handed_to_functions_agree(
    template: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    # Names are spelled as strings (not !Ref) to avoid the S3-event cycle, so nothing but
    # this test keeps the environment, the policies and the resources on the same names.
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    uploads_name = _props(resources["UploadsBucket"])["BucketName"]
    assert env["UPLOADS_BUCKET"] == uploads_name
    assert env["CACHE_BUCKET"] == _props(resources["CacheBucket"])["BucketName"]
    assert env["TABLE_NAME"] == _props(resources["FoleyTable"])["TableName"]
    assert env["SAGEMAKER_ENDPOINT_NAME"] == _props(resources["FoleyEndpoint"])["EndpointName"]
    spelled = uploads_name["Fn::Sub"]
    mentions = [
        node["Fn::Sub"]
        for node in _walk(template["Resources"])
        if isinstance(node, dict)
        and isinstance(node.get("Fn::Sub"), str)
        and "-uploads-" in node["Fn::Sub"]
    ]
    assert len(mentions) > 3
    for text in mentions:
        assert spelled in text, text


def test_every_environment_variable_is_a_setting_or_a_library_variable(
    template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    aliases = {field.alias for field in Settings.model_fields.values() if field.alias}
    for rid, function in functions.items():
        unknown = set(_environment(template, function)) - aliases - LIBRARY_VARIABLES
        assert not unknown, f"{rid} sets variables no code reads: {sorted(unknown)}"


# ------------------------------------------------------------------ storage


def test_every_bucket_blocks_public_access_and_is_encrypted(
    resources: dict[str, dict[str, Any]],
) -> None:
    buckets = {rid: r for rid, r in resources.items() if r["Type"] == "AWS::S3::Bucket"}
    assert set(buckets) == {"UploadsBucket", "CacheBucket"}
    for rid, bucket in buckets.items():
        props = _props(bucket)
        block = props["PublicAccessBlockConfiguration"]
        assert block == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, rid
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}


def test_every_bucket_refuses_plain_http(resources: dict[str, dict[str, Any]]) -> None:
    buckets = {rid for rid, r in resources.items() if r["Type"] == "AWS::S3::Bucket"}
    enforced: set[str] = set()
    for policy in resources_of_type({"Resources": resources}, "AWS::S3::BucketPolicy").values():
        props = _props(policy)
        for statement in props["PolicyDocument"]["Statement"]:
            condition = statement.get("Condition", {}).get("Bool", {})
            if statement["Effect"] == "Deny" and condition.get("aws:SecureTransport") == "false":
                assert statement["Action"] == "s3:*"
                assert len(statement["Resource"]) == 2  # the bucket and its objects
                enforced.add(props["Bucket"]["Ref"])
    assert enforced == buckets


def _lifecycle_rules(resource: dict[str, Any]) -> list[dict[str, Any]]:
    return list(_props(resource)["LifecycleConfiguration"]["Rules"])


def test_cache_entries_tagged_for_archive_move_to_glacier_instant_retrieval(
    resources: dict[str, dict[str, Any]],
) -> None:
    key, value = ARCHIVE_TAG
    tagged = [
        rule
        for rule in _lifecycle_rules(resources["CacheBucket"])
        if {"Key": key, "Value": value} in rule.get("TagFilters", [])
    ]
    assert len(tagged) == 1
    (transition,) = tagged[0]["Transitions"]
    assert tagged[0]["Status"] == "Enabled"
    assert transition["StorageClass"] == "GLACIER_IR"
    assert transition["TransitionInDays"] == {"Ref": "ArchiveAfterDays"}


def test_scratch_and_delivered_objects_expire(resources: dict[str, dict[str, Any]]) -> None:
    def expiring(bucket: str) -> set[str]:
        return {
            rule["Prefix"]
            for rule in _lifecycle_rules(resources[bucket])
            if rule["Status"] == "Enabled" and "ExpirationInDays" in rule and "Prefix" in rule
        }

    assert expiring("CacheBucket") == {"work/", "inference/"}
    settings = Settings.from_env(SETTINGS_ENV)
    assert expiring("UploadsBucket") == {settings.outputs_prefix, settings.uploads_prefix}
    uploads = next(
        r for r in _lifecycle_rules(resources["UploadsBucket"]) if r.get("Prefix") == "uploads/"
    )
    assert uploads["ExpirationInDays"] == {"Ref": "UploadsExpireDays"}  # a documented parameter


def test_table_is_one_pay_per_request_table_keyed_pk_sk_with_ttl(
    template: dict[str, Any], resources: dict[str, dict[str, Any]]
) -> None:
    assert table_spec(template) == {
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "owner_pk", "AttributeType": "S"},
            {"AttributeName": "owner_sk", "AttributeType": "S"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
        # sparse: only API jobs carry its keys (GET /v1/jobs lists one caller's jobs)
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "ByOwner",
                "KeySchema": [
                    {"AttributeName": "owner_pk", "KeyType": "HASH"},
                    {"AttributeName": "owner_sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }
    assert table_ttl_attribute(template) == "ttl"
    props = _props(resources["FoleyTable"])
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_a_table_built_from_the_template_spec_accepts_pipeline_items(
    template: dict[str, Any],
) -> None:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName="from-template", **table_spec(template))
        ttl_attribute = table_ttl_attribute(template)
        assert ttl_attribute is not None
        client.update_time_to_live(
            TableName="from-template",
            TimeToLiveSpecification={"AttributeName": ttl_attribute, "Enabled": True},
        )
        item = {"pk": {"S": "JOB#1"}, "sk": {"S": "JOB"}, ttl_attribute: {"N": "1"}}
        client.put_item(TableName="from-template", Item=item)
        got = client.get_item(TableName="from-template", Key={"pk": item["pk"], "sk": item["sk"]})
        described = client.describe_time_to_live(TableName="from-template")
    assert got["Item"] == item
    assert described["TimeToLiveDescription"]["AttributeName"] == "ttl"


def test_table_spec_refuses_a_template_without_exactly_one_table() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        table_spec({"Resources": {}})


def test_loader_turns_short_form_intrinsics_into_long_form(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n"
        "  A:\n"
        "    Type: X\n"
        "    Properties:\n"
        "      R: !Ref B\n"
        "      G: !GetAtt C.Endpoint.Address\n"
        "      S: !Sub [ '${x}', {x: !Ref D} ]\n"
        "      L: !Select [0, !GetAZs '']\n",
        encoding="utf-8",
    )
    props = load_template(path)["Resources"]["A"]["Properties"]
    assert props == {
        "R": {"Ref": "B"},
        "G": {"Fn::GetAtt": ["C", "Endpoint.Address"]},
        "S": {"Fn::Sub": ["${x}", {"x": {"Ref": "D"}}]},
        "L": {"Fn::Select": [0, {"Fn::GetAZs": ""}]},
    }


# ------------------------------------------------------------------ inference


def test_endpoint_config_is_async_and_writes_under_an_expiring_cache_prefix(
    resources: dict[str, dict[str, Any]],
) -> None:
    props = _props(resources["FoleyEndpointConfig"])
    output = props["AsyncInferenceConfig"]["OutputConfig"]
    expiring = {
        rule["Prefix"]
        for rule in _lifecycle_rules(resources["CacheBucket"])
        if "ExpirationInDays" in rule and "Prefix" in rule
    }
    for path in (output["S3OutputPath"]["Fn::Sub"], output["S3FailurePath"]["Fn::Sub"]):
        prefix = path.removeprefix("s3://${CacheBucket}/")
        assert prefix != path, f"{path} is not in the cache bucket"
        assert any(prefix.startswith(p) for p in expiring), f"{path} never expires"
    (variant,) = props["ProductionVariants"]
    assert variant["InstanceType"] == {"Ref": "InferenceInstanceType"}
    container = _props(resources["FoleyModel"])["PrimaryContainer"]
    assert container["Environment"]["MODEL_VERSION"] == {"Ref": "ModelVersion"}
    assert container["ModelDataUrl"] == {"Ref": "ModelDataUrl"}


def test_only_the_inference_function_may_invoke_the_endpoint(
    functions: dict[str, dict[str, Any]],
) -> None:
    invokers = {
        rid
        for rid, function in functions.items()
        for node in _walk(_props(function).get("Policies", []))
        if isinstance(node, dict) and str(node.get("Action", "")).find("sagemaker:Invoke") >= 0
    }
    assert invokers == {"InferenceFunction"}


def test_an_async_endpoint_is_only_ever_invoked_asynchronously(
    template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    # An endpoint with AsyncInferenceConfig rejects InvokeEndpoint; the adapter has no
    # real-time path, and the endpoint's notifications reach the function that resumes jobs.
    from foleycache.adapters.sagemaker_inference import SageMakerFoley

    assert not hasattr(SageMakerFoley, "generate")
    config = _props(template["Resources"]["FoleyEndpointConfig"])["AsyncInferenceConfig"]
    topics = config["OutputConfig"]["NotificationConfig"]
    done = _props(functions["InferenceDoneFunction"])["Events"]
    assert {e["Properties"]["Topic"]["Ref"] for e in done.values()} == {
        topics["SuccessTopic"]["Ref"],
        topics["ErrorTopic"]["Ref"],
    }
    actions = {
        action
        for node in _walk(_props(functions["InferenceFunction"])["Policies"])
        if isinstance(node, dict) and "Action" in node
        for action in ([node["Action"]] if isinstance(node["Action"], str) else node["Action"])
        if action.startswith("sagemaker:")
    }
    assert actions == {"sagemaker:InvokeEndpointAsync"}


# ------------------------------------------------------------------ functions and workflow


def _declared_function_dirs(functions: dict[str, dict[str, Any]]) -> dict[str, Path]:
    dirs: dict[str, Path] = {}
    for rid, function in functions.items():
        if _props(function).get("PackageType") == "Image":
            dirs[rid] = (REPO / function["Metadata"]["Dockerfile"]).parent
        else:
            dirs[rid] = REPO / _props(function)["CodeUri"]
    return dirs


def test_the_template_deploys_exactly_the_function_dirs_that_hold_a_handler(
    functions: dict[str, dict[str, Any]],
) -> None:
    declared = {path.resolve() for path in _declared_function_dirs(functions).values()}
    on_disk = {path.parent.resolve() for path in FUNCTIONS_DIR.glob("*/app.py")}
    assert declared == on_disk


def test_every_zip_function_handler_names_a_module_level_handler(
    functions: dict[str, dict[str, Any]],
) -> None:
    for rid, path in _declared_function_dirs(functions).items():
        props = _props(functions[rid])
        handler = "app.handler" if props.get("PackageType") == "Image" else props["Handler"]
        module, name = handler.rsplit(".", 1)
        tree = ast.parse((path / f"{module}.py").read_text(encoding="utf-8"))
        defined = {
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        } | {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        assert name in defined, f"{rid}: {path / module}.py defines no {name}"


def test_the_image_function_runs_the_same_handler_layout_as_the_zip_functions(
    functions: dict[str, dict[str, Any]],
) -> None:
    (image,) = [f for f in functions.values() if _props(f).get("PackageType") == "Image"]
    assert image["Metadata"]["DockerContext"] == "."
    dockerfile = (REPO / image["Metadata"]["Dockerfile"]).read_text(encoding="utf-8")
    function_dir = Path(image["Metadata"]["Dockerfile"]).parent.as_posix()
    assert f"COPY {function_dir}/ ${{LAMBDA_TASK_ROOT}}/" in dockerfile
    assert 'CMD ["app.handler"]' in dockerfile
    assert "FROM public.ecr.aws/lambda/python:3.12" in dockerfile


def test_the_state_machine_substitutes_every_placeholder_of_the_asl(
    resources: dict[str, dict[str, Any]],
) -> None:
    machine = _props(resources["PipelineStateMachine"])
    assert (REPO / machine["DefinitionUri"]).resolve() == ASL_PATH.resolve()
    used = set(SUB_REFERENCE.findall(ASL_PATH.read_text(encoding="utf-8")))
    json.loads(ASL_PATH.read_text(encoding="utf-8"))  # a placeholder must not break JSON
    assert used
    assert used <= set(machine["DefinitionSubstitutions"])


def test_the_state_machine_may_invoke_exactly_the_functions_it_is_given(
    resources: dict[str, dict[str, Any]],
) -> None:
    machine = _props(resources["PipelineStateMachine"])
    substituted = {
        value["Fn::GetAtt"][0]
        for value in machine["DefinitionSubstitutions"].values()
        if isinstance(value, dict) and "Fn::GetAtt" in value
    }
    invokable = {
        policy["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for policy in machine["Policies"]
        if "LambdaInvokePolicy" in policy
    }
    assert substituted == invokable
    assert machine["Type"] == "STANDARD"


def test_uploads_under_the_uploads_prefix_trigger_ingest(
    functions: dict[str, dict[str, Any]],
) -> None:
    s3_events = [
        (rid, event["Properties"])
        for rid, function in functions.items()
        for event in _props(function).get("Events", {}).values()
        if event["Type"] == "S3"
    ]
    assert len(s3_events) == 1
    rid, event = s3_events[0]
    assert rid == "IngestFunction"
    assert event["Bucket"] == {"Ref": "UploadsBucket"}
    assert event["Events"] == "s3:ObjectCreated:*"
    assert event["Filter"]["S3Key"]["Rules"] == [
        {"Name": "prefix", "Value": Settings.from_env(SETTINGS_ENV).uploads_prefix}
    ]


def test_only_functions_that_start_executions_get_the_state_machine_arn(
    template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    for rid, function in functions.items():
        env = _environment(template, function)
        may_start = any(
            "StepFunctionsExecutionPolicy" in policy
            for policy in _props(function).get("Policies", [])
        )
        assert ("STATE_MACHINE_ARN" in env) == may_start, rid


def test_valkey_clients_run_in_the_private_subnets_behind_the_lambda_security_group(
    template: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    in_vpc = {rid for rid, f in functions.items() if "VpcConfig" in _props(f)}
    assert in_vpc  # which ones, and why: tests/unit/test_network_placement.py
    for rid in in_vpc:
        vpc = _props(functions[rid])["VpcConfig"]
        assert vpc["SecurityGroupIds"] == [{"Ref": "LambdaSecurityGroup"}]
        assert vpc["SubnetIds"] == [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}]
        redis_url = _props(functions[rid])["Environment"]["Variables"]["REDIS_URL"]
        assert redis_url["Fn::Sub"].startswith("rediss://")  # Serverless always speaks TLS
    assert "REDIS_URL" not in template["Globals"]["Function"]["Environment"]["Variables"]


def test_the_cache_admits_only_the_lambda_security_group(
    resources: dict[str, dict[str, Any]],
) -> None:
    cache = _props(resources["FoleyCache"])
    assert cache["SecurityGroupIds"] == [{"Ref": "CacheSecurityGroup"}]
    ingress = _props(resources["CacheSecurityGroup"])["SecurityGroupIngress"]
    assert [rule["SourceSecurityGroupId"] for rule in ingress] == [{"Ref": "LambdaSecurityGroup"}]
    assert all(rule["FromPort"] <= 6379 <= rule["ToPort"] for rule in ingress)
    assert "TTL" in cache["Description"]  # the eviction contract is stated where it applies


def test_vpc_functions_reach_every_aws_api_they_use_without_nat(
    resources: dict[str, dict[str, Any]],
) -> None:
    endpoints = {
        (_props(r)["VpcEndpointType"], _props(r)["ServiceName"]["Fn::Sub"].rsplit(".", 1)[-1])
        for r in resources.values()
        if r["Type"] == "AWS::EC2::VPCEndpoint"
    }
    assert {("Gateway", "s3"), ("Gateway", "dynamodb")} <= endpoints
    assert {("Interface", "states"), ("Interface", "runtime"), ("Interface", "xray")} <= endpoints
    assert not any(r["Type"] == "AWS::EC2::NatGateway" for r in resources.values())


# ------------------------------------------------------------------ API and outputs


def test_the_api_requires_sigv4_and_is_throttled(
    resources: dict[str, dict[str, Any]], functions: dict[str, dict[str, Any]]
) -> None:
    api = _props(resources["FoleyApi"])
    assert api["Auth"]["DefaultAuthorizer"] == "AWS_IAM"
    assert api["Auth"]["InvokeRole"] == "NONE"
    (setting,) = api["MethodSettings"]
    assert {"ThrottlingRateLimit", "ThrottlingBurstLimit"} <= set(setting)
    routes = {
        (event["Properties"]["Method"], event["Properties"]["Path"])
        for function in functions.values()
        for event in _props(function).get("Events", {}).values()
        if event["Type"] == "Api" and event["Properties"]["RestApiId"] == {"Ref": "FoleyApi"}
    }
    assert routes == {
        ("POST", "/v1/uploads"),
        ("POST", "/v1/jobs"),
        ("GET", "/v1/jobs"),
        ("GET", "/v1/jobs/{job_id}"),
        ("GET", "/v1/jobs/{job_id}/outputs"),
        ("GET", "/v1/openapi.json"),
        # the first, unversioned API (deprecated)
        ("POST", "/jobs"),
        ("GET", "/jobs/{job_id}"),
        ("GET", "/jobs/{job_id}/results"),
    }


def test_outputs_name_everything_an_operator_needs(template: dict[str, Any]) -> None:
    assert {
        "ApiUrl",
        "UploadsBucketName",
        "CacheBucketName",
        "TableName",
        "StateMachineArn",
        "EndpointName",
        "RedisEndpoint",
    } <= set(template["Outputs"])


# ------------------------------------------------------------------ the ffmpeg layer build


def _static_x86_64_executable(path: Path) -> None:
    """Write the smallest static x86-64 ELF that exits 0 (no toolchain needed)."""
    code = bytes.fromhex("b83c00000031ff0f05")  # mov eax, 60 (exit); xor edi, edi; syscall
    base, header_size = 0x400000, 64 + 56
    size = header_size + len(code)
    elf_header = struct.pack(
        "<4sBBBB8xHHIQQQIHHHHHH",
        b"\x7fELF", 2, 1, 1, 0,  # 64-bit, little endian, version 1, System V
        2, 0x3E, 1, base + header_size, 64, 0, 0, 64, 56, 1, 0, 0, 0,
    )  # fmt: skip
    load_segment = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)
    path.write_bytes(elf_header + load_segment + code)
    path.chmod(0o755)


def _make_ffmpeg_layer(
    resources: dict[str, dict[str, Any]], static_dir: Path, out: Path
) -> subprocess.CompletedProcess[str]:
    (layer_id,) = [
        rid
        for rid, r in resources.items()
        if r["Type"] == "AWS::Serverless::LayerVersion"
        and r.get("Metadata", {}).get("BuildMethod") == "makefile"
        and (REPO / _props(r)["ContentUri"]).resolve() == FFMPEG_LAYER_DIR
    ]
    assert (REPO / _props(resources[layer_id])["ContentUri"]).resolve() == FFMPEG_LAYER_DIR
    env = {**os.environ, "FFMPEG_STATIC_DIR": str(static_dir), "ARTIFACTS_DIR": str(out)}
    # The target SAM runs for a makefile layer is build-<logical id>.
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(FFMPEG_LAYER_DIR), f"build-{layer_id}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_ffmpeg_layer_build_lays_out_static_binaries_under_bin(
    resources: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    static_dir = tmp_path / "static"
    static_dir.mkdir()
    for tool in ("ffmpeg", "ffprobe"):
        _static_x86_64_executable(static_dir / tool)
    (static_dir / "GPLv3.txt").write_text("licence\n", encoding="utf-8")
    out = tmp_path / "artifacts"
    result = _make_ffmpeg_layer(resources, static_dir, out)
    assert result.returncode == 0, result.stderr
    for tool in ("ffmpeg", "ffprobe"):
        built = out / "bin" / tool
        assert built.read_bytes() == (static_dir / tool).read_bytes()
        assert os.access(built, os.X_OK)
    assert (out / "share" / "ffmpeg" / "GPLv3.txt").is_file()


def test_ffmpeg_layer_build_refuses_a_dynamically_linked_ffmpeg(
    resources: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    # Any dynamically linked x86-64 executable will do: the interpreter running this test.
    interpreter = Path(sys.executable).resolve()
    static_dir = tmp_path / "dynamic"
    static_dir.mkdir()
    for tool in ("ffmpeg", "ffprobe"):
        (static_dir / tool).symlink_to(interpreter)
    out = tmp_path / "artifacts"
    result = _make_ffmpeg_layer(resources, static_dir, out)
    assert result.returncode != 0
    assert "dynamically linked" in result.stderr
    assert not (out / "bin").exists()
