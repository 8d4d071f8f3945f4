"""What an invocation returns and logs, compared with what AWS Lambda gives."""

from __future__ import annotations

import base64
import re
import threading
import time

import pytest

from harness import wire
from harness.stack.lambda_api import FunctionFailed, wait_active
from harness.waiting import wait_for
from tests.integration.conftest import invoke

ECHO = """
import os, sys
def handler(event, context):
    print("echo", event)
    return {"event": event, "request_id": context.aws_request_id, "pid": os.getpid(),
            "env": dict(os.environ), "version": "%d.%d" % sys.version_info[:2], "path": sys.path,
            "remaining_ms": context.get_remaining_time_in_millis()}
"""


def test_handler_result_and_clean_environment(aws, deploy):
    lam = aws("lambda")
    name = deploy(ECHO, timeout=5, env={"MY_SETTING": "42"})
    response, body = invoke(lam, name, {"x": 1})
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert body["event"] == {"x": 1}
    env = body["env"]
    assert env["MY_SETTING"] == "42"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", env["AWS_ENDPOINT_URL"])
    assert body["path"][0] == env["LAMBDA_TASK_ROOT"]
    # The function's code: its zip's content, unpacked in a folder named after that content (functions
    # with the same zip share it, and the bytecode written in it; harness.localstack.executor.executor.share_code).
    assert "/.code/" in env["LAMBDA_TASK_ROOT"]
    # Nothing of the harness's own process environment leaks in.
    leaked = [k for k in env if k.startswith(("HARNESS_", "VIRTUAL_ENV", "PYTEST", "GATEWAY_", "LOCALSTACK_RUNTIME"))]
    assert leaked == []
    assert not any("site-packages" in p and ".venv" in p for p in body["path"])
    assert 0 < body["remaining_ms"] <= 5000


def test_handler_exception_is_unhandled_with_type_message_and_stack(aws, deploy):
    name = deploy("""
        def handler(event, context):
            raise KeyError("missing-thing")
    """)
    response, body = invoke(aws("lambda"), name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "KeyError"
    assert "missing-thing" in body["errorMessage"]
    assert any("handler.py" in frame for frame in body["stackTrace"])


def test_import_error_is_runtime_import_module_error(aws, deploy):
    name = deploy("import module_that_does_not_exist\ndef handler(e, c):\n    return 1\n")
    response, body = invoke(aws("lambda"), name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "module_that_does_not_exist" in body["errorMessage"]


PLATFORM_LINES = ("INIT_START", "INIT_REPORT", "START", "END", "REPORT")


@pytest.mark.parametrize(("source", "error_type"), [
    ("import module_that_does_not_exist\ndef handler(e, c):\n    return 1\n", "Runtime.ImportModuleError"),
    ("def other(e, c):\n    return 1\n", "Runtime.HandlerNotFound"),
])
def test_a_failed_init_is_reported_by_the_invocation_with_its_init_report(aws, deploy, source, error_type):
    # AWS: the runtime client posts the error to /runtime/init/error and exits; the init ends with
    # "INIT_REPORT ... Phase: init Status: error Error Type: ...", Lambda runs init again inside the invoke
    # (Phase: invoke), and the invocation fails with that error and a REPORT line that names it.
    lam = aws("lambda")
    name = deploy(source)
    response, body = invoke(lam, name, LogType="Tail")
    assert response["FunctionError"] == "Unhandled" and body["errorType"] == error_type
    tail = base64.b64decode(response["LogResult"]).decode()
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    platform = [line for line in tail.splitlines() if line.split(" ", 1)[0] in PLATFORM_LINES]
    assert [line.split(" ", 1)[0] for line in platform] == [
        "INIT_START", "INIT_REPORT", "INIT_START", "INIT_REPORT", "START", "END", "REPORT"], tail
    for line, phase in ((platform[1], "init"), (platform[3], "invoke")):
        assert re.fullmatch(rf"INIT_REPORT Init Duration: [\d.]+ ms\tPhase: {phase}\tStatus: error\t"
                            rf"Error Type: {error_type}", line), line
    assert re.fullmatch(rf"REPORT RequestId: {request_id}\tDuration: [\d.]+ ms\t.*\tStatus: error\t"
                        rf"Error Type: {error_type}\t?", platform[-1]), platform[-1]
    # The runtime client's own words, from each init.
    assert tail.count(f"[ERROR] {error_type}: ") == 2, tail


def test_missing_handler_is_runtime_handler_not_found(aws, deploy):
    name = deploy("def other(e, c):\n    return 1\n")
    response, body = invoke(aws("lambda"), name)
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.HandlerNotFound"


def test_exit_mid_invoke_is_exit_error_and_environment_recovers(aws, deploy):
    lam = aws("lambda")
    name = deploy("""
        import os
        def handler(event, context):
            if event.get("exit"):
                os._exit(7)
            return os.getpid()
    """)
    _, first_pid = invoke(lam, name)
    response, body = invoke(lam, name, {"exit": True})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert re.fullmatch(r"RequestId: [0-9a-f-]{36} Error: Runtime exited with error: exit status 7",
                        body["errorMessage"])
    response, pid = invoke(lam, name)
    assert "FunctionError" not in response and pid != first_pid


def test_timeout_kills_runtime_with_aws_payload_and_log_line(aws, deploy):
    lam = aws("lambda")
    name = deploy("""
        import os, time
        STATE = {"calls": 0}
        def handler(event, context):
            STATE["calls"] += 1
            if event.get("sleep"):
                time.sleep(event["sleep"])
            return {"pid": os.getpid(), "calls": STATE["calls"]}
    """, timeout=1)
    _, before = invoke(lam, name)
    response, body = invoke(lam, name, {"sleep": 5}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(r"RequestId: [0-9a-f-]{36} Error: Task timed out after 1\.00 seconds", body["errorMessage"])
    tail = base64.b64decode(response["LogResult"]).decode()
    assert re.search(r"\S+Z [0-9a-f-]{36} Task timed out after 1\.00 seconds", tail)
    # AWS's new-format REPORT line of a timed-out invocation ends with its status.
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    [report] = [line for line in tail.splitlines() if line.startswith(f"REPORT RequestId: {request_id}")]
    assert re.fullmatch(r"REPORT RequestId: \S+\tDuration: 1\d{3}\.\d\d ms\tBilled Duration: \d+ ms\t"
                        r"Memory Size: 128 MB\tMax Memory Used: \d+ MB\tStatus: timeout\t?", report), report
    # The next invoke gets a fresh runtime: new process, module state reset.
    response, after = invoke(lam, name)
    assert "FunctionError" not in response
    assert after["pid"] != before["pid"] and after["calls"] == 1


def test_memory_size_is_enforced_and_environment_recovers(aws, deploy):
    lam = aws("lambda")
    name = deploy("""
        def handler(event, context):
            if event.get("grow_mb"):
                blob = bytearray(event["grow_mb"] * 1024 * 1024)
                blob[::4096] = b"x" * len(blob[::4096])
            return "fine"
    """, memory=128)
    response, body = invoke(lam, name, {"grow_mb": 400}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory"
    assert "128 MB" in body["errorMessage"] and "Runtime exited with error: signal: killed" in body["errorMessage"]
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "Error Type: Runtime.OutOfMemory" in tail
    assert re.search(r"Max Memory Used: (\d+) MB", tail) and int(re.search(r"Max Memory Used: (\d+)", tail)[1]) >= 128
    response, body = invoke(lam, name, {"grow_mb": 10})
    assert "FunctionError" not in response and body == "fine"


def test_platform_lines_and_output_in_tail_and_cloudwatch_logs(aws, deploy):
    lam, logs = aws("lambda"), aws("logs")
    name = deploy("""
        def handler(event, context):
            print("function-output-line", event["n"])
            return "ok"
    """)
    response, _ = invoke(lam, name, {"n": 1}, LogType="Tail")
    tail = base64.b64decode(response["LogResult"]).decode()
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    assert re.search(rf"START RequestId: {request_id} Version: \$LATEST", tail)
    assert "function-output-line 1" in tail
    assert f"END RequestId: {request_id}" in tail
    assert re.search(rf"REPORT RequestId: {request_id}\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\t"
                     r"Memory Size: 128 MB\tMax Memory Used: \d+ MB", tail)

    def events() -> list[str]:
        try:
            found = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}").get("events", [])
        except logs.exceptions.ResourceNotFoundException:
            return []  # the log group is created with the first batch of logs
        return [e["message"] for e in found]

    messages = wait_for(events, lambda ms: any(request_id in m and m.startswith("REPORT") for m in ms),
                        deadline_s=10, what="REPORT line in CloudWatch Logs")
    text = "\n".join(messages)
    assert "function-output-line 1" in text and f"START RequestId: {request_id}" in text


def test_both_python_runtimes_run_on_their_own_interpreter(aws, deploy):
    lam = aws("lambda")
    for runtime in ("python3.12", "python3.13"):
        name = deploy(ECHO, runtime=runtime)
        _, body = invoke(lam, name)
        assert body["version"] == runtime.removeprefix("python")
        assert body["env"]["AWS_EXECUTION_ENV"] == f"AWS_Lambda_{runtime}"


def test_boto3_is_provided_by_the_runtime(aws, deploy):
    name = deploy("""
        import boto3
        def handler(event, context):
            return boto3.client("sts").get_caller_identity()["Account"]
    """)
    response, account = invoke(aws("lambda"), name)
    assert "FunctionError" not in response, account
    assert account == "000000000000"


def test_unsupported_runtime_fails_deploy_with_a_clear_reason(aws, deploy):
    name = deploy(ECHO, runtime="nodejs20.x", handler="index.handler", wait=False)
    with pytest.raises(FunctionFailed) as failure:
        wait_active(aws("lambda"), name)
    assert "nodejs20.x" in str(failure.value) and "python3.12" in str(failure.value)


def test_a_handler_that_computes_past_its_timeout_is_killed_in_real_time(aws, deploy, harness_endpoint):
    # Running code is never skipped: the function is a stack of its own (`deploy` registers it), and while a
    # thread keeps asking its clock to move a day on, 2 s of computing under a 1 s Timeout still ends after
    # 1 s of wall time, and the clock does not move.
    lam = aws("lambda")
    name = deploy("""
        import time
        def handler(event, context):
            end = time.monotonic() + event["compute"]
            while time.monotonic() < end:
                pass
            return "done"
    """, timeout=1)
    invoke(lam, name, {"compute": 0.01})  # warm: the environment's start is not in the measure
    stop, refused = threading.Event(), []

    def push() -> None:
        while not stop.is_set():
            answer = wire.call(harness_endpoint.url, wire.CLOCK, "POST", name, {"seconds": 86400}, answered=(409,))
            refused.append(bool(answer and answer.get("busy")))

    pusher = threading.Thread(target=push)
    started = time.monotonic()
    pusher.start()
    try:
        response, body = invoke(lam, name, {"compute": 2.0})
    finally:
        took = time.monotonic() - started
        stop.set()
        pusher.join(10)
    assert response["FunctionError"] == "Unhandled" and body["errorType"] == "Sandbox.Timedout"
    assert 1.0 <= took < 1.8, took
    assert any(refused)  # the clock was asked to move while the code ran, and refused


def test_sys_exit_0_in_a_handler_exits_without_a_reason_and_the_report_says_error(aws, deploy):
    # AWS: "RequestId: … Error: Runtime exited without providing a reason", then Runtime.ExitError, and the REPORT
    # line ends "Status: error  Error Type: Runtime.ExitError" (docs/aws-parity.md D7, D8). SystemExit is no
    # Exception: the runtime client does not catch it, and its process exits with status 0.
    lam = aws("lambda")
    name = deploy("""
        import sys
        def handler(event, context):
            if event.get("exit"):
                sys.exit(0)
            return "warm"
    """)
    invoke(lam, name)  # warm: the crashed invoke's REPORT line has no Init Duration
    response, body = invoke(lam, name, {"exit": True}, LogType="Tail")
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    assert response["FunctionError"] == "Unhandled"
    message = f"RequestId: {request_id} Error: Runtime exited without providing a reason"
    assert body == {"errorType": "Runtime.ExitError", "errorMessage": message}
    tail = base64.b64decode(response["LogResult"]).decode()
    assert f"\n{message}\nRuntime.ExitError\n" in tail, tail
    [report] = [line for line in tail.splitlines() if line.startswith(f"REPORT RequestId: {request_id}")]
    assert re.fullmatch(r"REPORT RequestId: \S+\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\t"
                        r"Max Memory Used: \d+ MB\tStatus: error\tError Type: Runtime.ExitError\t?", report), report


def test_after_a_crash_the_next_invoke_reports_the_restart_s_init_apart_from_its_duration(aws, deploy):
    # AWS: after a failed invoke, init runs again inside the next invoke (a "suppressed init"), and the REPORT
    # line's Duration includes it. Here the runtime restarts right after the failure; the next invoke logs
    # INIT_START and an Init Duration, and its Duration leaves the init out (docs/aws-parity.md D14).
    lam = aws("lambda")
    name = deploy("""
        import os, time
        time.sleep(0.5)  # init takes half a second
        def handler(event, context):
            if event.get("exit"):
                os._exit(1)
            return "ok"
    """)
    invoke(lam, name)
    invoke(lam, name, {"exit": True})
    response, body = invoke(lam, name, LogType="Tail")
    assert "FunctionError" not in response and body == "ok"
    tail = base64.b64decode(response["LogResult"]).decode()
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    assert [line.split(" ", 1)[0] for line in tail.splitlines() if line.split(" ", 1)[0] in PLATFORM_LINES] == [
        "INIT_START", "START", "END", "REPORT"], tail
    [report] = [line for line in tail.splitlines() if line.startswith(f"REPORT RequestId: {request_id}")]
    found = re.fullmatch(r"REPORT RequestId: \S+\tDuration: ([\d.]+) ms\t.*\tInit Duration: ([\d.]+) ms\t?", report)
    assert found, report
    duration_ms, init_ms = float(found[1]), float(found[2])
    assert init_ms >= 500 and duration_ms < 500, report


SLOW_IMPORT = "import time\ntime.sleep(2.5)\n\ndef handler(event, context):\n    return 'ok'\n"


@pytest.mark.parametrize(("timeout_s", "succeeds"), [(30, True), (1, False)])
def test_an_init_past_its_limit_runs_again_under_the_function_s_timeout(timeout_s: int, succeeds: bool) -> None:
    """AWS: "If all three tasks do not complete within 10 seconds, Lambda retries the Init phase at the time of
    the first function invocation with the configured function timeout" (aws-parity D13). Here the limit is
    1 s (HARNESS_INIT_TIMEOUT) and the module takes 2.5 s to import: under a 30 s Timeout the first invocation's
    init completes and the handler answers; under a 1 s Timeout it fails again."""
    import uuid

    from harness.services import EmbeddedLocalStack
    from harness.stack.lambda_api import zip_sources

    with EmbeddedLocalStack(quiet=True, extra_env={"HARNESS_INIT_TIMEOUT": "1"}) as endpoint:
        lam, iam = endpoint.client("lambda"), endpoint.client("iam")
        role = iam.create_role(RoleName=f"slow-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lam.create_function(FunctionName="slow", Runtime="python3.13", Role=role, Handler="h.handler",
                            Code={"ZipFile": zip_sources({"h.py": SLOW_IMPORT})}, Timeout=timeout_s)
        wait_active(lam, "slow")
        response = lam.invoke(FunctionName="slow", Payload=b"{}", LogType="Tail")
        body = response["Payload"].read()
        logs = base64.b64decode(response.get("LogResult", "")).decode()
    assert "Phase: init\tStatus: error\tError Type: Runtime.InitTimeout" in logs, logs
    if succeeds:
        assert "FunctionError" not in response and body == b'"ok"', (body, logs)
        assert "Phase: invoke" not in logs  # the second init completed: no failure to report
    else:
        assert response.get("FunctionError") == "Unhandled" and b"Runtime.InitTimeout" in body, (body, logs)
        assert "Phase: invoke\tStatus: error" in logs, logs
