"""``foleycache cache invalidate``: drive the deployed InvalidateFunction page by page.

The function does one bounded page per invocation and hands back a cursor; this loop
invokes it again with that cursor until it says ``done``. Interrupted (or a page
failed), it prints the cursor to pass to ``--resume``. The same loop works against a
deployment: only the Lambda endpoint differs.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import boto3

from foleycache.local.stack import StackInfo


def invoke_page(
    lam: Any, function: str, model_version: str, cursor: Any, budget: int | None
) -> dict[str, Any]:
    event: dict[str, Any] = {"model_version": model_version, "cursor": cursor}
    if budget is not None:
        event["budget"] = budget
    resp = lam.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    payload: dict[str, Any] = json.loads(resp["Payload"].read() or b"{}")
    if resp.get("FunctionError"):
        raise RuntimeError(payload.get("errorMessage") or json.dumps(payload)[:500])
    return payload


def invalidate_through_function(
    info: StackInfo, model_version: str, resume: str | None, budget: int | None
) -> dict[str, Any]:
    function = info.functions["InvalidateFunction"]
    lam = boto3.client("lambda")
    cursor: Any = json.loads(resume) if resume else None
    totals = {"l1_keys_removed": 0, "l2_objects_marked": 0, "pages": 0}
    available = True
    while True:
        try:
            page = invoke_page(lam, function, model_version, cursor, budget)
        except (RuntimeError, KeyboardInterrupt) as exc:
            return {
                "model_version": model_version,
                **totals,
                "done": False,
                "error": str(exc) or type(exc).__name__,
                "resume": json.dumps(cursor) if cursor is not None else None,
            }
        totals["pages"] += 1
        totals["l1_keys_removed"] += int(page["l1_keys_removed"])
        totals["l2_objects_marked"] += int(page["l2_objects_marked"])
        available = available and bool(page["l1_available"])
        print(
            f"page {totals['pages']}: {page['l1_keys_removed']} L1 keys, "
            f"{page['l2_objects_marked']} L2 objects",
            file=sys.stderr,
        )
        if page["done"]:
            return {
                "model_version": model_version,
                **totals,
                "l1_available": available,
                "done": True,
            }
        cursor = page["cursor"]
