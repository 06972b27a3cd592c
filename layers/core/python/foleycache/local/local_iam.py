"""The template's IAM, enforced by moto: one role per function, credentials per role.

Roles and their inline policies come from the transformed template (SAM's policy
templates expanded by aws-sam-translator), each function gets temporary credentials of
its own role (``sts:AssumeRole``, session name = the function's logical id), and then
moto's authorization is switched on for every request.

What moto checks, and so what this proves:
- S3: the action and the bucket or object ARN, as AWS does;
- DynamoDB, Step Functions, SQS, STS, IAM: the action only (moto evaluates them against
  resource ``*``), so their statements are loaded with ``Resource: *``;
- not checked: SageMaker Runtime and Valkey (not moto: the inference server and
  redis-server), the state machine's own role (moto's interpreter invokes functions
  directly), and AWS-managed policies (logging, X-Ray, VPC ENIs: no such calls here).

Every denial is appended to ``denials.jsonl`` with the principal, the action and the
resource, so a failed run names the function and the grant it lacked.
"""

from __future__ import annotations

import copy
import json
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foleycache.local.sam_transform import ACCOUNT, Intrinsics, resources_of_type

OPERATOR = "foleycache-local-operator"


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str = ""

    def env(self) -> dict[str, str]:
        env = {"AWS_ACCESS_KEY_ID": self.access_key_id}
        env["AWS_SECRET_ACCESS_KEY"] = self.secret_access_key
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env


#: IAM action -> the name moto checks for the same operation, where the two differ.
_MOTO_ACTION_NAMES = {"lambda:InvokeFunction": "lambda:Invoke"}


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    listed = [actions] if isinstance(actions, str) else list(actions)
    return listed + [_MOTO_ACTION_NAMES[a] for a in listed if a in _MOTO_ACTION_NAMES]


def for_moto(document: dict[str, Any], intrinsics: Intrinsics) -> dict[str, Any]:
    """A policy as moto can evaluate it: S3 statements keep their resolved ARNs, others
    apply to ``*`` (moto checks those services by action only)."""
    statements = document["Statement"]
    out: list[dict[str, Any]] = []
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = _actions(statement)
        s3 = [a for a in actions if a.startswith("s3:")]
        other = [a for a in actions if not a.startswith("s3:")]
        if s3:
            out.append({**copy.deepcopy(statement), "Action": s3})
            out[-1]["Resource"] = intrinsics.resolve(statement["Resource"])
        if other:
            rest = {k: v for k, v in statement.items() if k not in ("Action", "Resource")}
            out.append({**rest, "Action": other, "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": out}


def provision_roles(iam: Any, template: dict[str, Any], intrinsics: Intrinsics) -> dict[str, str]:
    """Create every ``AWS::IAM::Role`` of the transformed template; logical id -> ARN."""
    arns: dict[str, str] = {}
    for logical_id, role in resources_of_type(template, "AWS::IAM::Role").items():
        props = role["Properties"]
        arns[logical_id] = iam.create_role(
            RoleName=logical_id,
            AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]),
            MaxSessionDuration=43_200,
        )["Role"]["Arn"]
        for policy in props.get("Policies", []):
            iam.put_role_policy(
                RoleName=logical_id,
                PolicyName=policy["PolicyName"],
                PolicyDocument=json.dumps(for_moto(policy["PolicyDocument"], intrinsics)),
            )
    return arns


def assume(sts: Any, role_arn: str, session_name: str) -> Credentials:
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=43_200)[
        "Credentials"
    ]
    return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def create_operator(iam: Any) -> Credentials:
    """The person at the keyboard (CLI, tests): allowed everything, as an admin is."""
    iam.create_user(UserName=OPERATOR)
    iam.put_user_policy(
        UserName=OPERATOR,
        PolicyName="operator",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
            }
        ),
    )
    key = iam.create_access_key(UserName=OPERATOR)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


#: moto's Step Functions interpreter signs its Lambda invocations with this fixed key.
INTERPRETER_KEY = ("ak", "sk")
INTERPRETER = "foleycache-local-states"


def bind_interpreter(iam: Any, template: dict[str, Any], state_machine_role: str) -> None:
    """Give moto's Step Functions interpreter the state machine role's policies.

    The interpreter calls Lambda over HTTP with a fixed access key; binding that key to
    a user holding exactly the role's inline policies checks the role's grants (its
    ``lambda:InvokeFunction`` statements) on every task, as AWS would.
    """
    from moto.iam.models import iam_backends

    iam.create_user(UserName=INTERPRETER)
    role = template["Resources"][state_machine_role]["Properties"]
    for policy in role.get("Policies", []):
        iam.put_user_policy(
            UserName=INTERPRETER,
            PolicyName=policy["PolicyName"],
            PolicyDocument=json.dumps(_role_policy(iam, state_machine_role, policy["PolicyName"])),
        )
    iam.create_access_key(UserName=INTERPRETER)
    (key,) = iam_backends[ACCOUNT]["aws"].get_user(INTERPRETER).access_keys
    key.access_key_id, key.secret_access_key = INTERPRETER_KEY


def _role_policy(iam: Any, role: str, name: str) -> dict[str, Any]:
    document: dict[str, Any] = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    return document


def enforce(moto_url: str) -> None:
    """Switch moto's authorization on from the next request (``INITIAL_NO_AUTH_ACTION_COUNT``
    = 0, set through its management API)."""
    request = urllib.request.Request(
        f"{moto_url}/moto-api/reset-auth",
        data=b"0",
        method="POST",
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.urlopen(request, timeout=5).close()


def record_denials(path: Path) -> None:
    """Append every denial moto decides to ``path`` (one JSON object a line)."""
    from moto.iam.access_control import IAMRequestBase

    original = IAMRequestBase.check_action_permitted
    lock = threading.Lock()

    def check_action_permitted(self: Any, resource: str) -> None:
        try:
            original(self, resource)
        except Exception:
            denial = {
                "principal": getattr(self._access_key, "arn", "?"),
                "action": self._action,
                "resource": resource,
            }
            with lock, path.open("a") as handle:
                handle.write(json.dumps(denial) + "\n")
            raise

    IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]


def read_denials(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def describe(denial: dict[str, str]) -> str:
    """``arn:...:assumed-role/Role/FingerprintFunction`` -> a sentence naming the function."""
    who = denial["principal"].rsplit("/", 1)[-1]
    return f"{who} was denied {denial['action']} on {denial['resource']}"
