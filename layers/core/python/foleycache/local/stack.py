"""The local stack: real stand-ins for the AWS parts, started by the project.

- moto's server (S3, DynamoDB, SQS, Step Functions, Lambda, IAM), with Step
  Functions' ASL interpreter on, executing the same ``pipeline.asl.json``
  that ``template.yaml`` deploys, and Lambda routed to the real handlers in
  ``functions/`` through :mod:`foleycache.local.lambda_seam`;
- a real ``redis-server`` (LRU, as ElastiCache evicts);
- the inference container's own server (``python -m foley_server``), reached
  through ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``.

Only endpoints differ from AWS. The stack runs as one daemon process (moto
and the handlers must share a process for the seam); ``stack.json`` in the
state directory says where everything listens.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from foleycache.core.errors import ToolMissing
from foleycache.local.lambda_seam import HandlerRegistry, function_dir_for, install, load_handler
from foleycache.local.paths import functions_dir, repo_root, state_dir, state_machine_definition
from foleycache.local.sam_transform import (
    REGION,
    Intrinsics,
    local_intrinsics,
    parameter_values,
    resources_of_type,
    transformed,
)

#: The template's Stage parameter for the local stack: names read foleycache-local-*.
LOCAL_STAGE = "local"
#: ``FOLEYCACHE_ARTEFACTS=1`` runs the built artefacts (``make build``) instead of the source.
ARTEFACTS_ENV = "FOLEYCACHE_ARTEFACTS"


@dataclass
class StackInfo:
    pid: int
    moto_port: int
    redis_port: int
    inference_port: int
    env: dict[str, str] = field(default_factory=dict)
    #: True when the functions run from the built artefacts, with the template's IAM.
    artefacts: bool = False
    #: Logical id -> physical function name.
    functions: dict[str, str] = field(default_factory=dict)

    @property
    def inference_url(self) -> str:
        return f"http://127.0.0.1:{self.inference_port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


_TOOLS = {
    "ffmpeg": "ffmpeg (apt-get install ffmpeg, or run `make setup`)",
    "ffprobe": "ffprobe (apt-get install ffmpeg, or run `make setup`)",
    "redis-server": "redis-server (apt-get install redis-server, or run `make setup`)",
}


def require_parts() -> None:
    """Raise :class:`ToolMissing` naming every missing part and how to get it."""
    missing = [hint for tool, hint in _TOOLS.items() if shutil.which(tool) is None]
    try:
        import moto.server  # noqa: F401
    except ImportError:
        missing.append("moto's server (pip install -e '.[local]', or run `make setup`)")
    if missing:
        raise ToolMissing("the local stack needs: " + "; ".join(missing))


def _wait_for(check: Any, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise ToolMissing(f"{what} did not start within {timeout_s:.0f} s")


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return bool(resp.status == 200)


def stack_env(
    intrinsics: Intrinsics, moto_port: int, redis_port: int, inference_port: int
) -> dict[str, str]:
    """The environment of the stack's clients (and, in source mode, of every handler):
    resource names as the template resolves them, endpoints pointing at the stand-ins."""
    moto = f"http://127.0.0.1:{moto_port}"
    refs, attrs = intrinsics.refs, intrinsics.attributes
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL_S3": moto,
        "AWS_ENDPOINT_URL_DYNAMODB": moto,
        "AWS_ENDPOINT_URL_SFN": moto,
        "AWS_ENDPOINT_URL_LAMBDA": moto,
        "AWS_ENDPOINT_URL_IAM": moto,
        "AWS_ENDPOINT_URL_STS": moto,
        "AWS_ENDPOINT_URL_SQS": moto,
        "AWS_ENDPOINT_URL_SNS": moto,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": f"http://127.0.0.1:{inference_port}",
        "MOTO_PORT": str(moto_port),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "UPLOADS_BUCKET": refs["UploadsBucket"],
        "CACHE_BUCKET": refs["CacheBucket"],
        "TABLE_NAME": refs["FoleyTable"],
        "SAGEMAKER_ENDPOINT_NAME": attrs["FoleyEndpoint.EndpointName"],
        "MODEL_VERSION": intrinsics.parameters["ModelVersion"],
        "STATE_MACHINE_ARN": refs["PipelineStateMachine"],
        "POWERTOOLS_SERVICE_NAME": "foleycache",
        "POWERTOOLS_METRICS_NAMESPACE": "FoleyCache",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def local_template(model_version: str | None, redis_port: int) -> tuple[dict[str, Any], Intrinsics]:
    """The transformed template and its intrinsics as the local stack resolves them. The
    model version defaults to the template's ``ModelVersion`` parameter, its one source."""
    overrides = {"Stage": LOCAL_STAGE}
    if model_version:
        overrides["ModelVersion"] = model_version
    template = transformed(repo_root(), overrides)
    return template, local_intrinsics(template, parameter_values(template, overrides), redis_port)


class LocalStack:
    """Starts and provisions every part; lives in the daemon process."""

    def __init__(self, model_version: str | None = None, artefacts: bool = False) -> None:
        self.model_version = model_version
        self.artefacts = artefacts
        self.registry = HandlerRegistry()
        self.children: list[subprocess.Popen[bytes]] = []
        self.pools: list[Any] = []
        self.moto: Any = None
        self.info: StackInfo | None = None
        self.server_env: dict[str, str] = {}
        self.inference: subprocess.Popen[bytes] | None = None

    # --- start -----------------------------------------------------------------------
    def start(self) -> StackInfo:
        require_parts()
        from moto.server import ThreadedMotoServer

        moto_port, redis_port, inference_port = free_port(), free_port(), free_port()
        template, intrinsics = local_template(self.model_version, redis_port)
        env = stack_env(intrinsics, moto_port, redis_port, inference_port)
        os.environ.update(env)
        log_dir = state_dir()
        log_dir.mkdir(parents=True, exist_ok=True)

        if self.artefacts:
            from foleycache.local.local_iam import record_denials

            (log_dir / DENIALS).unlink(missing_ok=True)
            record_denials(log_dir / DENIALS)
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
        self.moto.start()
        _wait_for(lambda: _http_ok(f"http://127.0.0.1:{moto_port}/moto-api/"), "moto server")
        req = urllib.request.Request(
            f"http://127.0.0.1:{moto_port}/moto-api/config",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(req, timeout=5).close()

        self.children.append(
            subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--maxmemory",
                    "256mb",
                    "--maxmemory-policy",
                    "allkeys-lru",
                ],
                stdout=(log_dir / "redis.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
        _wait_for(lambda: _redis_ping(redis_port), "redis-server")

        functions, server_env = self._provision(template, intrinsics, env)
        self.server_env = {
            **server_env,
            "PORT": str(inference_port),
            "ASYNC_OUTPUT_S3_URI": f"s3://{env['CACHE_BUCKET']}/inference/out",
            **_notification_topics(template, intrinsics),
            "FOLEY_BACKEND": os.environ.get("FOLEY_BACKEND", "reference"),
        }
        self._start_inference(inference_port)
        install(self.registry)
        if self.artefacts:
            from foleycache.local.local_iam import enforce

            enforce(f"http://127.0.0.1:{moto_port}")
        self.info = StackInfo(
            os.getpid(), moto_port, redis_port, inference_port, env, self.artefacts, functions
        )
        return self.info

    def _start_inference(self, port: int) -> None:
        self.inference = subprocess.Popen(
            [*self._server_python(), "-m", "foley_server", "--port", str(port)],
            env=self.server_env,
            stdout=(state_dir() / "inference.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        self.children.append(self.inference)
        _wait_for(lambda: _http_ok(f"http://127.0.0.1:{port}/ping"), "inference server", 120)

    def switch_model_version(self, version: str) -> StackInfo:
        """Serve ``version`` from now on, with every store kept: as a deploy with a new
        ``ModelVersion`` does, the functions' ``MODEL_VERSION`` changes and the endpoint is
        replaced by one serving it. Source mode only (the artefact workers' environment is
        fixed when they start)."""
        from foleycache.adapters import wiring
        from foleycache.core.keys import validate_model_version
        from foleycache.settings import get_settings

        if self.info is None or self.artefacts:
            raise ToolMissing("the model version can be switched on a source-mode stack only")
        version = validate_model_version(version)
        if self.inference is not None:
            self.inference.terminate()
            self.inference.wait(timeout=10)
            self.children.remove(self.inference)
        os.environ["MODEL_VERSION"] = self.info.env["MODEL_VERSION"] = version
        self.server_env["MODEL_VERSION"] = version
        get_settings.cache_clear()
        wiring.services.cache_clear()
        self._start_inference(self.info.inference_port)
        return self.info

    def _server_python(self) -> list[str]:
        if not self.artefacts:
            return [sys.executable]
        from foleycache.local.artefact_runtime import BuildLayout

        return [str(BuildLayout(repo_root(), Path(sys.executable)).image_python("InferenceServer"))]

    def _provision(
        self, template: dict[str, Any], intrinsics: Intrinsics, env: dict[str, str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Create the template's resources; returns the functions (logical id -> name) and
        the inference server's environment."""
        import boto3

        from foleycache.local.template_resources import table_spec

        iam = boto3.client("iam")
        server_env = dict(os.environ)
        if self.artefacts:
            from foleycache.local.local_iam import provision_roles

            roles = provision_roles(iam, template, intrinsics)
        else:
            local_role = iam.create_role(
                RoleName="foleycache-local",
                AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
            )["Role"]["Arn"]

        lam = boto3.client("lambda")
        functions: dict[str, str] = {}
        arns: dict[str, str] = {}
        for logical_id, resource in resources_of_type(template, "AWS::Lambda::Function").items():
            name = intrinsics.refs[logical_id]
            role = (
                roles[resource["Properties"]["Role"]["Fn::GetAtt"][0]]
                if self.artefacts
                else local_role
            )
            arns[logical_id] = lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler="app.handler",
                Code={"ZipFile": _placeholder_zip()},
                Timeout=900,
            )["FunctionArn"]
            functions[logical_id] = name
            if not self.artefacts:
                app_py = functions_dir() / function_dir_for(logical_id) / "app.py"
                self.registry.register(name, load_handler(app_py))

        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(TableName=env["TABLE_NAME"], **table_spec(template))

        s3 = boto3.client("s3")
        for bucket in (env["UPLOADS_BUCKET"], env["CACHE_BUCKET"]):
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_notification_configuration(
            Bucket=env["UPLOADS_BUCKET"],
            NotificationConfiguration={
                "LambdaFunctionConfigurations": [
                    {
                        "LambdaFunctionArn": arns["IngestFunction"],
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {
                            "Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}]}
                        },
                    }
                ]
            },
        )

        definition = state_machine_definition().read_text()
        definition = re.sub(r"\$\{(\w+Function)Arn\}", lambda m: arns[m.group(1)], definition)
        boto3.client("stepfunctions").create_state_machine(
            name=intrinsics.attributes["PipelineStateMachine.Name"],
            definition=definition,
            roleArn=roles["PipelineStateMachineRole"] if self.artefacts else local_role,
            type="STANDARD",
        )
        sns = boto3.client("sns")
        for topic in resources_of_type(template, "AWS::SNS::Topic"):
            sns.create_topic(Name=intrinsics.refs[topic].rsplit(":", 1)[-1])
        for subscription in resources_of_type(template, "AWS::SNS::Subscription").values():
            props = intrinsics.resolve(subscription["Properties"])
            sns.subscribe(
                TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"]
            )
        if self.artefacts:
            server_env = self._start_artefacts(template, intrinsics, env, roles)
        return functions, server_env

    def _start_artefacts(
        self,
        template: dict[str, Any],
        intrinsics: Intrinsics,
        env: dict[str, str],
        roles: dict[str, str],
    ) -> dict[str, str]:
        """Credentials per role, a worker pool per function; the operator's credentials
        become the clients'. Returns the inference server's environment."""
        import boto3

        from foleycache.local.artefact_runtime import BuildLayout, WorkerPool, function_specs
        from foleycache.local.local_iam import assume, bind_interpreter, create_operator

        build_config = _build_config()
        layout = BuildLayout(repo_root(), _runtime_python(build_config))
        layout.check(build_config.source_digest(repo_root()))
        sts = boto3.client("sts")
        credentials = {
            role: assume(sts, arn, role.removesuffix("Role")).env() for role, arn in roles.items()
        }
        operator = create_operator(boto3.client("iam"))
        bind_interpreter(boto3.client("iam"), template, "PipelineStateMachineRole")
        opt_root = state_dir() / "opt"
        shutil.rmtree(opt_root, ignore_errors=True)
        specs = function_specs(template, intrinsics, layout, opt_root, env, credentials)
        log = state_dir() / "stack.log"
        for spec in specs.values():
            pool = WorkerPool(spec, log)
            pool.warm()
            self.pools.append(pool)
            self.registry.register_invoker(spec.name, pool.invoke)
        env.update(operator.env())
        env.pop("AWS_SESSION_TOKEN", None)
        os.environ.update(env)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        server = {k: v for k, v in env.items() if not k.startswith("AWS_ACCESS")}
        server.pop("AWS_SECRET_ACCESS_KEY", None)
        return {**dict(os.environ), **server, **credentials["SageMakerExecutionRole"]}

    # --- stop ------------------------------------------------------------------------
    def stop(self) -> None:
        for pool in self.pools:
            pool.close()
        for child in self.children:
            child.terminate()
        for child in self.children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        if self.moto is not None:
            self.moto.stop()


def _build_config() -> Any:
    """``infra/build/build_config.py``: how ``make build`` finds the runtime and digests
    the sources (a build script, not part of the package, so loaded by path)."""
    import importlib.util

    path = repo_root() / "infra" / "build" / "build_config.py"
    spec = importlib.util.spec_from_file_location("foleycache_build_config", path)
    if spec is None or spec.loader is None:
        raise ToolMissing(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _notification_topics(template: dict[str, Any], intrinsics: Intrinsics) -> dict[str, str]:
    """The endpoint's success and error topics, which the local inference server publishes
    to as SageMaker does (the template's AsyncInferenceConfig NotificationConfig)."""
    (config,) = resources_of_type(template, "AWS::SageMaker::EndpointConfig").values()
    output = config["Properties"]["AsyncInferenceConfig"]["OutputConfig"]
    topics = intrinsics.resolve(output.get("NotificationConfig", {}))
    return {
        "ASYNC_SUCCESS_TOPIC_ARN": str(topics.get("SuccessTopic", "")),
        "ASYNC_ERROR_TOPIC_ARN": str(topics.get("ErrorTopic", "")),
    }


def _runtime_python(module: Any) -> Path:
    """The template's runtime interpreter (python3.12), found as ``make build`` finds it."""
    try:
        found: Path = module.find_runtime_python(module.load().runtime)
    except module.BuildError as exc:
        raise ToolMissing(str(exc)) from exc
    return found


def _placeholder_zip() -> bytes:
    """moto wants a code package; the seam runs the handler from ``functions/`` instead."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "# the local seam runs functions/<name>/app.py\n")
    return buf.getvalue()


def _redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


# --- the daemon and its clients ----------------------------------------------------------
DENIALS = "denials.jsonl"


def state_file() -> Path:
    return state_dir() / "stack.json"


def denials() -> list[dict[str, str]]:
    """Every IAM denial of the running artefact-mode stack (see :mod:`.local_iam`)."""
    from foleycache.local.local_iam import read_denials

    return read_denials(state_dir() / DENIALS)


def serve(model_version: str | None, artefacts: bool = False) -> None:
    """Daemon entry: start everything, publish ``stack.json``, run until signalled."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    stack = LocalStack(model_version, artefacts)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    switch = threading.Event()
    signal.signal(signal.SIGHUP, lambda *_: switch.set())
    try:
        _publish(stack.start())
        while not stop.wait(0.2):
            if switch.is_set():
                switch.clear()
                try:
                    _publish(stack.switch_model_version(_switch_request().read_text().strip()))
                except Exception:  # the stack keeps serving; the client times out on it
                    logging.getLogger(__name__).exception("model version switch failed")
    finally:
        stack.stop()
        state_file().unlink(missing_ok=True)


def _publish(info: StackInfo) -> None:
    tmp = state_file().with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(info), indent=2))
    tmp.replace(state_file())


def _switch_request() -> Path:
    """Where a client writes the wanted model version before signalling the daemon."""
    return state_dir() / "model-version.request"


def switch_model_version(version: str, timeout_s: float = 120.0) -> StackInfo:
    """Switch the running (source-mode) stack to ``version``, keeping every store, and point
    this process at it, as rolling out a new ``ModelVersion`` does."""
    info = read_stack()
    if info is None:
        raise ToolMissing("no local stack is running")
    _switch_request().write_text(version)
    os.kill(info.pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = read_stack()
        if now is not None and now.env.get("MODEL_VERSION") == version:
            try:
                if _http_ok(f"{now.inference_url}/ping"):
                    use_stack(now)
                    return now
            except OSError:
                pass
        time.sleep(0.2)
    raise ToolMissing(
        f"the stack did not switch to model version {version!r} within {timeout_s:.0f} s; "
        f"see {state_dir()}/stack.log"
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def read_stack() -> StackInfo | None:
    """The running stack, or None (a stale ``stack.json`` is removed)."""
    path = state_file()
    if not path.exists():
        return None
    info = StackInfo(**json.loads(path.read_text()))
    try:
        if _alive(info.pid) and _http_ok(f"http://127.0.0.1:{info.moto_port}/moto-api/"):
            return info
    except OSError:
        pass
    path.unlink(missing_ok=True)
    return None


def artefacts_requested() -> bool:
    return os.environ.get(ARTEFACTS_ENV, "") not in ("", "0", "false")


def start_daemon(
    model_version: str | None = None, timeout_s: float = 180.0, artefacts: bool | None = None
) -> StackInfo:
    """Start the stack (or return the running one). ``artefacts`` defaults to
    ``FOLEYCACHE_ARTEFACTS``; when either asks for a mode, a running stack of the other
    mode is an error, else the running stack is used as it is."""
    wanted = artefacts if artefacts is not None else (artefacts_requested() or None)
    existing = read_stack()
    if existing is not None:
        if wanted is not None and existing.artefacts != wanted:
            mode = "built artefacts" if existing.artefacts else "source tree"
            raise ToolMissing(f"a stack running the {mode} is up: `foleycache stack down` first")
        return existing
    require_parts()
    state_dir().mkdir(parents=True, exist_ok=True)
    log = (state_dir() / "stack.log").open("ab")
    argv = [sys.executable, "-m", "foleycache.local.stack", "serve"]
    argv += (["--model-version", model_version] if model_version else []) + (
        ["--artefacts"] if wanted else []
    )
    proc = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=repo_root(),
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (state_dir() / "stack.log").read_text(errors="replace")[-2000:]
            raise ToolMissing(f"the local stack exited while starting; its log ends:\n{tail}")
        info = read_stack()
        if info is not None:
            return info
        time.sleep(0.2)
    proc.terminate()
    raise ToolMissing(
        f"the local stack did not start within {timeout_s:.0f} s; see {state_dir()}/stack.log"
    )


def stop_daemon(timeout_s: float = 30.0) -> bool:
    info = read_stack()
    if info is None:
        return False
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(info.pid):
        time.sleep(0.1)
    if _alive(info.pid):
        os.kill(info.pid, signal.SIGKILL)
    state_file().unlink(missing_ok=True)
    return True


def use_stack(info: StackInfo) -> None:
    """Point this process's boto3 and settings at the stack (only endpoints change)."""
    if "AWS_SESSION_TOKEN" not in info.env:
        os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.update(info.env)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m foleycache.local.stack")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--model-version", default=None)
    parser.add_argument("--artefacts", action="store_true")
    args = parser.parse_args()
    serve(args.model_version, args.artefacts)
