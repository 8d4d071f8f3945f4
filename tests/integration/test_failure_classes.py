"""What Lambda records for the deployment-error and transient fault kinds: AWS's own error shapes."""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import TypeAdapter

from harness.scenario import Fault

REQUEST = r"RequestId: [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} Error: "
RAISE_ALL = {"on_error": {"logical": "raise", "programmatic": "raise", "transient": "raise"}}


def _faults(*specs: dict[str, Any]) -> list[Any]:
    adapter = TypeAdapter(Fault)
    return [adapter.validate_python({"function": "worker", **spec}) for spec in specs]


def _invoke(stack: Any, file_id: str) -> dict[str, Any]:
    response = stack.client("lambda").invoke(
        FunctionName=stack.function_name("worker"),
        Payload=json.dumps({"job_id": "shapes", "shard_id": file_id, "file_ids": [file_id]}).encode())
    assert response.get("FunctionError") == "Unhandled", response
    return json.loads(response["Payload"].read())


def test_new_fault_kinds_fail_with_the_error_shapes_aws_records(pipeline_stack):
    stack = pipeline_stack("shapes", worker=RAISE_ALL, faults=_faults(
        {"kind": "crash", "files": ["f-exit0"], "exit_status": 0},
        {"kind": "crash", "files": ["f-exit3"], "exit_status": 3},
        {"kind": "bad_input", "files": ["f-input"]},
        {"kind": "db_unreachable", "files": ["f-db"]},
    ))
    exit0 = _invoke(stack, "f-exit0")
    assert exit0["errorType"] == "Runtime.ExitError"
    assert re.fullmatch(REQUEST + "Runtime exited without providing a reason", exit0["errorMessage"]), exit0
    exit3 = _invoke(stack, "f-exit3")
    assert exit3["errorType"] == "Runtime.ExitError"
    assert re.fullmatch(REQUEST + "Runtime exited with error: exit status 3", exit3["errorMessage"]), exit3
    # Errors of the function's own code have the Python runtime's shape: the class name and str(exc).
    bad_input = _invoke(stack, "f-input")
    assert (bad_input["errorType"], bad_input["errorMessage"]) == (
        "InvalidEvent", "invalid event: field 'job_id' is missing")
    unreachable = _invoke(stack, "f-db")
    assert unreachable["errorType"] == "InterfaceError"
    assert unreachable["errorMessage"].startswith("Can't create a connection to host 127.0.0.1 and port 1")


def test_deployment_errors_fail_with_the_runtime_s_own_error_types(pipeline_stack):
    stack = pipeline_stack("deploy", faults=_faults({"kind": "import_error", "missing_module": "pg8000"}))
    broken_import = _invoke(stack, "f-any")
    assert (broken_import["errorType"], broken_import["errorMessage"]) == (
        "Runtime.ImportModuleError", "Unable to import module 'handler': No module named 'pg8000'")
    stack = pipeline_stack("deploy", faults=_faults({"kind": "missing_handler"}))
    not_found = _invoke(stack, "f-any")
    assert (not_found["errorType"], not_found["errorMessage"]) == (
        "Runtime.HandlerNotFound", "Handler 'handler' missing on module 'handler'")
