"""``template.yaml`` as CloudFormation would deploy it: transformed by aws-sam-translator.

The local stack reads each function's role policies, environment, layers and network
placement from here, so that what runs locally is what the template deploys: the SAM
policy templates (``S3ReadPolicy`` and friends) are expanded by SAM's own translator,
Globals are merged into each function, and intrinsics are resolved against the local
stack's resources by :class:`Intrinsics`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foleycache.local.template_resources import load_template

#: Pseudo parameters of the local "account".
REGION = "us-east-1"
ACCOUNT = "123456789012"
#: Values for the parameters that have no default; nothing local reads them.
PLACEHOLDER_PARAMETERS = {
    "InferenceImageUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/foleycache-inference:local",
    "ModelDataUrl": "s3://foleycache-local-models/model.tar.gz",
}


class _NoManagedPolicyNames:
    """SAM asks IAM for managed policies named in ``Policies``; the template names none."""

    def load(self) -> dict[str, str]:
        return {}


def packaged(template: dict[str, Any], root: Path) -> dict[str, Any]:
    """What ``sam package`` hands CloudFormation: code locations become S3 URIs (the
    translator accepts nothing else) and the state machine definition is inlined."""
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::Serverless::Function":
            if props.get("PackageType") == "Image":
                props["ImageUri"] = PLACEHOLDER_PARAMETERS["InferenceImageUri"]
            else:
                props["CodeUri"] = f"s3://foleycache-local-artefacts/{logical_id}.zip"
        elif kind == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = f"s3://foleycache-local-artefacts/{logical_id}.zip"
        elif kind == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            props["Definition"] = json.loads((root / props.pop("DefinitionUri")).read_text())
    return template


def transformed(root: Path, parameters: dict[str, str]) -> dict[str, Any]:
    """The CloudFormation template that ``template.yaml`` becomes on deploy."""
    from samtranslator.translator.transform import transform

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)  # the translator asks boto3
    sam = packaged(load_template(root / "template.yaml"), root)
    result: dict[str, Any] = transform(
        sam, {**PLACEHOLDER_PARAMETERS, **parameters}, _NoManagedPolicyNames()
    )
    return result


@dataclass
class Intrinsics:
    """Resolves ``Ref``, ``Fn::Sub``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Select`` and
    ``Fn::Split`` against parameters and the local stack's physical resources."""

    parameters: dict[str, str]
    refs: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)  # "Logical.Attr" -> value

    def __post_init__(self) -> None:
        self.parameters = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "foleycache-local",
            **self.parameters,
        }

    def _name(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        if name in self.refs:
            return self.refs[name]
        if name in self.attributes:
            return self.attributes[name]
        raise KeyError(f"the local stack cannot resolve {name!r}")

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        out, i = [], 0
        while (start := text.find("${", i)) >= 0:
            end = text.index("}", start)
            out.append(text[i:start])
            name = text[start + 2 : end]
            if name.startswith("!"):
                out.append("${" + name[1:] + "}")
            elif name in variables:
                out.append(str(self.resolve(variables[name])))
            else:
                out.append(self._name(name))
            i = end + 1
        out.append(text[i:])
        return "".join(out)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v) for k, v in value.items()}
        ((key, arg),) = value.items()
        if key == "Ref":
            return self._name(arg)
        if key == "Fn::GetAtt":
            logical, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self._name(f"{logical}.{attribute}")
        if key == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            return self._sub(text, variables)
        if key == "Fn::Join":
            return str(arg[0]).join(str(self.resolve(v)) for v in arg[1])
        if key == "Fn::Select":
            return self.resolve(arg[1])[int(self.resolve(arg[0]))]
        if key == "Fn::Split":
            return str(self.resolve(arg[1])).split(arg[0])
        if key.startswith("Fn::") or key == "Condition":
            raise KeyError(f"the local stack does not resolve {key}")
        return {key: self.resolve(arg)}


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def logical_id_of(template: dict[str, Any], ref: Any) -> str:
    """``{"Ref": "X"}`` or ``{"Fn::GetAtt": ["X", "Arn"]}`` -> ``X``."""
    if isinstance(ref, dict) and "Ref" in ref:
        return str(ref["Ref"])
    if isinstance(ref, dict) and "Fn::GetAtt" in ref:
        return str(ref["Fn::GetAtt"][0])
    raise ValueError(f"not a reference: {ref!r}")


def layer_source(template: dict[str, Any], layer_logical_id: str) -> str:
    """The SAM layer a transformed ``AWS::Lambda::LayerVersion`` came from: the translator
    suffixes a content hash (``CoreLayer4d363eb139`` -> ``CoreLayer``)."""
    resource = template["Resources"][layer_logical_id]
    key = str(resource["Properties"]["Content"]["S3Key"])
    return key.removesuffix(".zip")


#: Properties that name a resource physically; ``Ref`` returns them.
_NAME_PROPERTIES = ("BucketName", "TableName", "EndpointName", "ServerlessCacheName")


def parameter_values(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, str]:
    """Each parameter's default, then the overrides."""
    defaults = {
        name: str(spec["Default"])
        for name, spec in template.get("Parameters", {}).items()
        if "Default" in spec
    }
    return {**defaults, **PLACEHOLDER_PARAMETERS, **overrides}


def local_intrinsics(
    template: dict[str, Any], parameters: dict[str, str], redis_port: int
) -> Intrinsics:
    """What ``Ref`` and ``Fn::GetAtt`` give on the local stack, for every resource."""
    intrinsics = Intrinsics(parameters)
    prefix = f"{parameters['ResourcePrefix']}-{parameters['Stage']}"
    arn = f"aws:{{}}:{REGION}:{ACCOUNT}"
    refs, attrs = intrinsics.refs, intrinsics.attributes
    for logical_id, resource in template["Resources"].items():
        props, kind = resource.get("Properties", {}), resource["Type"]
        named = next((props[p] for p in _NAME_PROPERTIES if p in props), None)
        name = str(intrinsics.resolve(named)) if named is not None else f"{prefix}-{logical_id}"
        refs[logical_id] = name
        if kind == "AWS::S3::Bucket":
            attrs[f"{logical_id}.Arn"] = f"arn:aws:s3:::{name}"
        elif kind == "AWS::DynamoDB::Table":
            attrs[f"{logical_id}.Arn"] = f"arn:{arn.format('dynamodb')}:table/{name}"
        elif kind == "AWS::StepFunctions::StateMachine":
            sm_name = str(intrinsics.resolve(props.get("StateMachineName", name)))
            refs[logical_id] = f"arn:{arn.format('states')}:stateMachine:{sm_name}"
            attrs[f"{logical_id}.Name"] = sm_name
        elif kind == "AWS::Lambda::Function":
            attrs[f"{logical_id}.Arn"] = f"arn:{arn.format('lambda')}:function:{name}"
        elif kind == "AWS::IAM::Role":
            refs[logical_id] = logical_id
            attrs[f"{logical_id}.Arn"] = f"arn:aws:iam::{ACCOUNT}:role/{logical_id}"
        elif kind == "AWS::SageMaker::Endpoint":
            refs[logical_id] = f"arn:{arn.format('sagemaker')}:endpoint/{name}"
            attrs[f"{logical_id}.EndpointName"] = name
        elif kind == "AWS::SQS::Queue":
            refs[logical_id] = f"http://127.0.0.1/{ACCOUNT}/{name}"
            attrs[f"{logical_id}.Arn"] = f"arn:{arn.format('sqs')}:{name}"
        elif kind == "AWS::SNS::Topic":
            refs[logical_id] = f"arn:{arn.format('sns')}:{name}"
        elif kind == "AWS::ElastiCache::ServerlessCache":
            attrs[f"{logical_id}.Endpoint.Address"] = "127.0.0.1"
            attrs[f"{logical_id}.Endpoint.Port"] = str(redis_port)
    return intrinsics
