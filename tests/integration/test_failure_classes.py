"""What Lambda records for the deployment-error and transient fault kinds: AWS's own error shapes."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from pydantic import TypeAdapter

from harness.scenario import Fault

REQUEST = r"RequestId: [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} Error: "
PLATFORM_LINES = ("INIT_START", "INIT_REPORT", "START", "END", "REPORT")
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


def _invoke_with_tail(stack: Any, file_id: str) -> tuple[dict[str, Any], str, str]:
    """(its answer, its log tail, its request ID) of one worker invocation."""
    response = stack.client("lambda").invoke(
        FunctionName=stack.function_name("worker"), LogType="Tail",
        Payload=json.dumps({"job_id": "shapes", "shard_id": file_id, "file_ids": [file_id]}).encode())
    tail = base64.b64decode(response["LogResult"]).decode()
    return json.loads(response["Payload"].read()), tail, response["ResponseMetadata"]["RequestId"]


def _platform_lines(tail: str) -> list[str]:
    return [line for line in tail.splitlines() if line.split(" ", 1)[0] in PLATFORM_LINES]


def _assert_failed_at_init(tail: str, request_id: str, error_type: str) -> None:
    """AWS's lines of an init a broken deployment fails: its own init (Phase: init), init run again inside the
    invoke (Phase: invoke), then START, END and a REPORT that names the error; no handler ran."""
    platform = _platform_lines(tail)
    assert [line.split(" ", 1)[0] for line in platform] == [
        "INIT_START", "INIT_REPORT", "INIT_START", "INIT_REPORT", "START", "END", "REPORT"], tail
    for line, phase in ((platform[1], "init"), (platform[3], "invoke")):
        assert re.fullmatch(rf"INIT_REPORT Init Duration: [\d.]+ ms\tPhase: {phase}\tStatus: error\t"
                            rf"Error Type: {re.escape(error_type)}", line), line
    assert re.fullmatch(rf"REPORT RequestId: {request_id}\t.*\tStatus: error\tError Type: {re.escape(error_type)}\t?",
                        platform[-1]), platform[-1]
    assert tail.count(f"[ERROR] {error_type}: ") == 2, tail


def test_deployment_errors_fail_at_init_with_the_runtime_s_own_error_types(pipeline_stack):
    # AWS: the runtime client fails to load the handler, posts the error to /runtime/init/error and exits; the
    # invocation runs init again and fails with it. The attempt is the ledger's, failed before any handler.
    for fault, error_type, message in (
            ({"kind": "import_error", "missing_module": "pg8000"}, "Runtime.ImportModuleError",
             "Unable to import module 'handler': No module named 'pg8000'"),
            ({"kind": "missing_handler"}, "Runtime.HandlerNotFound", "Handler 'handler' missing on module 'handler'")):
        stack = pipeline_stack("deploy", faults=_faults(fault))
        body, tail, request_id = _invoke_with_tail(stack, "f-any")
        assert (body["errorType"], body["errorMessage"]) == (error_type, message)
        _assert_failed_at_init(tail, request_id, error_type)
        [attempt] = stack.attempts()
        assert (attempt.request_id, attempt.attempt, attempt.fault, attempt.outcome, attempt.file_ids) == (
            request_id, 1, fault["kind"], "error", ["f-any"])
        # Its retry (here: another invocation of the same environment) fails at init again.
        body, tail, second = _invoke_with_tail(stack, "f-other")
        assert body["errorType"] == error_type
        assert [line.split(" ", 1)[0] for line in _platform_lines(tail)] == [
            "INIT_START", "INIT_REPORT", "START", "END", "REPORT"], tail
        assert [(a.request_id, a.fault) for a in stack.attempts()][1:] == [(second, fault["kind"])]


def test_a_deployment_error_from_a_later_run_replaces_the_warm_environments(pipeline_stack):
    # A deploy that breaks between runs: on AWS the function's environments are new ones, and their init fails.
    stack = pipeline_stack("redeploy", faults=_faults({"kind": "import_error", "runs": [2]}))
    stack.mark_run(1)
    _, tail, _ = _invoke_with_tail(stack, "f-one")
    assert "Status: error" not in tail and "INIT_START" in tail, tail
    _, tail, _ = _invoke_with_tail(stack, "f-warm")
    assert "INIT_START" not in tail, tail  # the same environment, warm
    stack.mark_run(2)
    body, tail, request_id = _invoke_with_tail(stack, "f-two")
    assert body["errorType"] == "Runtime.ImportModuleError"
    _assert_failed_at_init(tail, request_id, "Runtime.ImportModuleError")
    assert [(a.file_ids, a.run, a.fault) for a in stack.attempts()][-1] == (["f-two"], 2, "import_error")
