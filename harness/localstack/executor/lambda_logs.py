"""The platform lines Lambda writes around a function's own output, in AWS's formats."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime


def init_start(runtime: str) -> str:
    return f"INIT_START Runtime Version: {runtime.replace('python', 'python:')}.harness\n"


def init_report(init_ms: float, phase: str, error_type: str) -> str:
    """The line that ends a failed init: its own (`phase` init) or one run again inside an invoke (invoke)."""
    return f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: {phase}\tStatus: error\tError Type: {error_type}\n"


def error_type_of(payload: bytes, default: str = "Runtime.Unknown") -> str:
    """The `errorType` of an error payload the runtime (or the harness for it) reported."""
    try:
        found = json.loads(payload).get("errorType")
    except (ValueError, AttributeError):
        return default
    return found if isinstance(found, str) and found else default


def start_line(request_id: str) -> str:
    return f"START RequestId: {request_id} Version: $LATEST\n"


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def timeout_line(request_id: str, timeout_s: float) -> str:
    return f"{_timestamp()} {request_id} Task timed out after {timeout_s:.2f} seconds\n"


def timeout_payload(request_id: str, timeout_s: float) -> bytes:
    return json.dumps({
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds",
    }).encode()


def exit_lines(payload: bytes) -> str:
    error = json.loads(payload)
    return f"{error['errorMessage']}\n{error['errorType']}\n"


def end_and_report(request_id: str, duration_ms: float, memory_size_mb: int, max_memory_used_mb: int,
                   init_ms: float | None, status: str | None = None, error_type: str | None = None) -> str:
    fields = [
        f"REPORT RequestId: {request_id}",
        f"Duration: {duration_ms:.2f} ms",
        f"Billed Duration: {max(1, math.ceil(duration_ms))} ms",
        f"Memory Size: {memory_size_mb} MB",
        f"Max Memory Used: {max_memory_used_mb} MB",
    ]
    if init_ms is not None:
        fields.append(f"Init Duration: {init_ms:.2f} ms")
    if status:
        fields.append(f"Status: {status}")
    if error_type:
        fields.append(f"Error Type: {error_type}")
    return f"END RequestId: {request_id}\n" + "\t".join(fields) + "\t\n"
