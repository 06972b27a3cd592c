"""Counts what one request uses, per pipeline step: AWS calls, DynamoDB units, Redis traffic.

Why: the cost model (``bench/cost_model.py``) prices counts, so the counts must come from
the real clients, not from a list kept by hand. AWS calls are counted with botocore's
``before-call``/``after-call`` event hooks on the clients the benchmark's adapters use;
Redis commands and bytes with a ``redis.Connection`` subclass installed in the client's
pool. Each count goes to the step that is running (``Meter.step``), and each step's
wall time is kept exclusive of nested steps (the stand-in GPU inside ``Inference``) and of
the meter's own sizing reads.

DynamoDB on-demand units are computed from item sizes (moto's ``ConsumedCapacity`` is a
constant): reads 1 unit per 4 KB (half for eventually consistent reads), writes 1 unit per
1 KB of the larger of the item before and after, twice for transactions. The item after
an UpdateItem/PutItem is read back on an uncounted client to size it.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import redis

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024
ECPU_BYTES = 1024


@dataclass
class StepUsage:
    """Everything one step of one request used."""

    seconds: float = 0.0
    invocations: int = 0
    aws_calls: Counter[str] = field(default_factory=Counter)  # "s3.PutObject" -> n
    s3_bytes_in: int = 0  # bytes PUT (stored)
    s3_bytes_out: int = 0  # bytes GET
    dynamodb_rru: float = 0.0
    dynamodb_wru: float = 0.0
    dynamodb_bytes_written: int = 0
    redis_commands: int = 0
    redis_bytes_sent: int = 0
    redis_bytes_received: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 6),
            "invocations": self.invocations,
            "aws_calls": dict(sorted(self.aws_calls.items())),
            "s3_bytes_in": self.s3_bytes_in,
            "s3_bytes_out": self.s3_bytes_out,
            "dynamodb_rru": self.dynamodb_rru,
            "dynamodb_wru": self.dynamodb_wru,
            "dynamodb_bytes_written": self.dynamodb_bytes_written,
            "redis_commands": self.redis_commands,
            "redis_bytes_sent": self.redis_bytes_sent,
            "redis_bytes_received": self.redis_bytes_received,
        }


class Meter:
    """Collects ``StepUsage`` per step name until ``take()``; steps nest (exclusive time)."""

    def __init__(self) -> None:
        self.steps: dict[str, StepUsage] = {}
        self._stack: list[list[Any]] = []  # [name, started, paused_total]
        self._paused = 0  # sizing reads in progress: not counted
        self._overhead_s = 0.0

    @property
    def current(self) -> StepUsage | None:
        if not self._stack or self._paused:
            return None
        return self.steps.setdefault(self._stack[-1][0], StepUsage())

    @contextmanager
    def step(self, name: str) -> Iterator[StepUsage]:
        usage = self.steps.setdefault(name, StepUsage())
        usage.invocations += 1
        now = time.perf_counter()
        if self._stack:
            parent = self._stack[-1]
            self._account(parent, now)
        self._stack.append([name, now])
        try:
            yield usage
        finally:
            done = time.perf_counter()
            self._account(self._stack.pop(), done)
            if self._stack:
                self._stack[-1][1] = done

    def _account(self, frame: list[Any], now: float) -> None:
        self.steps.setdefault(frame[0], StepUsage()).seconds += now - frame[1]
        frame[1] = now

    @contextmanager
    def uncounted(self) -> Iterator[None]:
        """Work the meter does for itself: neither its calls nor its time are counted."""
        started = time.perf_counter()
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1
            spent = time.perf_counter() - started
            self._overhead_s += spent
            if self._stack:
                self._stack[-1][1] += spent

    def take(self) -> dict[str, dict[str, Any]]:
        """The counts so far, by step, and a fresh start."""
        out = {name: usage.to_dict() for name, usage in sorted(self.steps.items())}
        self.steps = {}
        return out

    def pop_overhead(self) -> float:
        """Seconds the meter spent on itself since the last call (to subtract from timings)."""
        spent, self._overhead_s = self._overhead_s, 0.0
        return spent

    # --- AWS -------------------------------------------------------------------------
    def attach(self, client: Any, sizing_client: Any | None = None) -> None:
        """Count every call ``client`` makes; ``sizing_client`` (same service, not attached)
        reads DynamoDB items back to size writes."""
        service = client.meta.service_model.service_name
        client.meta.events.register(f"before-parameter-build.{service}", self._keep_params)
        client.meta.events.register(f"before-call.{service}", self._before_call)
        client.meta.events.register(f"after-call.{service}", self._after_call)
        if service == "dynamodb":
            self._dynamodb_sizer = sizing_client

    def _before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        usage = self.current
        if usage is None:
            return
        service = model.service_model.service_name
        if service == "s3" and model.name in {"PutObject", "UploadPart"}:
            usage.s3_bytes_in += body_size(params.get("body"))

    def _after_call(
        self, model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        usage = self.current
        if usage is None:
            return
        service = model.service_model.service_name
        usage.aws_calls[f"{service}.{model.name}"] += 1  # answered: billed, error or not
        if service == "s3" and model.name == "GetObject":
            usage.s3_bytes_out += int(parsed.get("ContentLength") or 0)
        elif service == "dynamodb":
            self._dynamodb_units(usage, model.name, context.get("fc_params", {}), parsed)

    # DynamoDB units need the API parameters, which after-call no longer has in plain form.
    @staticmethod
    def _keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["fc_params"] = dict(params)

    def _dynamodb_units(
        self, usage: StepUsage, op: str, params: dict[str, Any], parsed: dict[str, Any]
    ) -> None:
        consistent = bool(params.get("ConsistentRead"))
        if op == "GetItem":
            usage.dynamodb_rru += read_units([item_size(parsed.get("Item", {}))], consistent)
        elif op == "Query" or op == "Scan":
            sizes = [item_size(i) for i in parsed.get("Items", [])]
            usage.dynamodb_rru += read_units([sum(sizes)], consistent)
        elif op == "BatchGetItem":
            for items in parsed.get("Responses", {}).values():
                usage.dynamodb_rru += read_units([item_size(i) for i in items], False)
        elif op in {"PutItem", "UpdateItem", "DeleteItem"}:
            before = item_size(parsed.get("Attributes", {}))
            after = item_size(params.get("Item", {})) if op == "PutItem" else 0
            if op == "UpdateItem":
                after = self._size_now(params["TableName"], params["Key"])
            size = max(before, after)
            usage.dynamodb_wru += write_units(size)
            usage.dynamodb_bytes_written += after
        elif op == "TransactWriteItems":
            for entry in params.get("TransactItems", []):
                (kind, body), *_ = entry.items()
                size = item_size(body.get("Item", {})) if kind == "Put" else 0
                if kind == "Update":
                    size = self._size_now(body["TableName"], body["Key"])
                usage.dynamodb_wru += 2 * write_units(size)
                usage.dynamodb_bytes_written += size
        elif op == "BatchWriteItem":
            for requests in params.get("RequestItems", {}).values():
                for request in requests:
                    size = item_size(request.get("PutRequest", {}).get("Item", {}))
                    usage.dynamodb_wru += write_units(size)
                    usage.dynamodb_bytes_written += size

    def _size_now(self, table: str, key: dict[str, Any]) -> int:
        sizer = getattr(self, "_dynamodb_sizer", None)
        if sizer is None:
            return 0
        with self.uncounted():
            item = sizer.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item", {})
        return item_size(item)

    # --- Redis ------------------------------------------------------------------------
    def instrument(self, client: redis.Redis) -> redis.Redis:
        """Make every connection of ``client``'s pool count its commands and bytes here."""
        meter = self
        base = client.connection_pool.connection_class

        class CountingConnection(base):  # type: ignore[valid-type,misc]
            def send_packed_command(self, command: Any, check_health: bool = True) -> None:
                usage = meter.current
                if usage is not None:
                    chunks = [command] if isinstance(command, (str, bytes)) else command
                    usage.redis_bytes_sent += sum(len(c) for c in chunks)
                super().send_packed_command(command, check_health)

            def read_response(self, *args: Any, **kwargs: Any) -> Any:
                response = super().read_response(*args, **kwargs)
                usage = meter.current
                if usage is not None:
                    usage.redis_commands += 1
                    usage.redis_bytes_received += reply_size(response)
                return response

        client.connection_pool.connection_class = CountingConnection
        client.connection_pool.reset()
        return client


# --- sizes and units (pure: unit-tested) --------------------------------------------------
def body_size(body: Any) -> int:
    """Bytes in a serialized request body (bytes, str or a seekable file)."""
    if body is None:
        return 0
    if isinstance(body, (bytes, bytearray)):
        return len(body)
    if isinstance(body, str):
        return len(body.encode())
    if hasattr(body, "__len__"):  # s3transfer's ReadFileChunk
        return len(body)
    try:
        return os.fstat(body.fileno()).st_size - int(body.tell())
    except (AttributeError, OSError, ValueError, TypeError):
        pass
    try:
        here = body.tell()
        body.seek(0, os.SEEK_END)
        end = body.tell()
        body.seek(here)
        return int(end - here)
    except (AttributeError, OSError, ValueError, TypeError):
        return 0


def attribute_size(value: dict[str, Any]) -> int:
    """DynamoDB's size of one typed attribute value (the published sizing rules)."""
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "B":
        return len(inner)
    if kind == "N":
        digits = len(str(inner).lstrip("-").replace(".", "").lstrip("0")) or 1
        return math.ceil(digits / 2) + 1
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in inner)
    if kind == "NS":
        return sum(attribute_size({"N": n}) for n in inner)
    if kind == "BS":
        return sum(len(b) for b in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_size(v) for k, v in inner.items())
    raise ValueError(f"unknown DynamoDB attribute type {kind}")


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def read_units(sizes: list[int], consistent: bool) -> float:
    """Read request units for items read together (a Query sums its items first)."""
    units = sum(max(1, math.ceil(size / READ_UNIT_BYTES)) for size in sizes) or 1
    return float(units) if consistent else units / 2


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def reply_size(reply: Any) -> int:
    """Payload bytes in a parsed Redis reply (values only, not the protocol framing)."""
    if reply is None or isinstance(reply, bool):
        return 0
    if isinstance(reply, (bytes, bytearray)):
        return len(reply)
    if isinstance(reply, str):
        return len(reply.encode())
    if isinstance(reply, int | float):
        return 8
    if isinstance(reply, dict):
        return sum(reply_size(k) + reply_size(v) for k, v in reply.items())
    if isinstance(reply, (list, tuple, set)):
        return sum(reply_size(r) for r in reply)
    return 0


def ecpus(commands: int, bytes_moved: int) -> int:
    """ElastiCache Serverless: 1 ECPU per simple command, or per KB moved if more."""
    return max(commands, math.ceil(bytes_moved / ECPU_BYTES))
