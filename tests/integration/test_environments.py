"""Execution environments: warm reuse, one environment per concurrent invoke, idle ones reaped."""

from __future__ import annotations

import json
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor

import psutil

from harness import runtimes as interpreters
from harness.services import EmbeddedLocalStack
from harness.stack.lambda_api import wait_active, zip_sources
from harness.waiting import wait_for
from tests.integration.conftest import TRUST_POLICY, invoke

PID_AFTER = """
import os, time
def handler(event, context):
    time.sleep(event.get("hold", 0))
    return os.getpid()
"""


def test_warm_environment_is_reused(aws, deploy):
    lam = aws("lambda")
    name = deploy(PID_AFTER)
    pids = {invoke(lam, name)[1] for _ in range(5)}
    assert len(pids) == 1


def test_concurrent_invokes_are_served_by_separate_environments(aws, deploy):
    lam = aws("lambda")
    name = deploy(PID_AFTER, timeout=10)
    with ThreadPoolExecutor(4) as pool:
        pids = list(pool.map(lambda _: invoke(lam, name, {"hold": 1.0})[1], range(4)))
    assert len(set(pids)) == 4
    assert all(psutil.pid_exists(pid) for pid in pids)


def _pid_function(endpoint, name: str) -> tuple[object, int]:
    """A function `name` (PID_AFTER) in an embedded LocalStack of the test's own, invoked once: its Lambda
    client and the pid of the environment that served it."""
    lam, iam = endpoint.client("lambda"), endpoint.client("iam")
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=TRUST_POLICY)["Role"]["Arn"]
    lam.create_function(FunctionName=name, Runtime="python3.13", Role=role, Handler="handler.handler",
                        Code={"ZipFile": zip_sources({"handler.py": PID_AFTER})})
    wait_active(lam, name)
    return lam, json.loads(lam.invoke(FunctionName=name)["Payload"].read())


def test_idle_environments_are_reaped_after_keepalive():
    # 2 s, not less: the environment is released before the invoke's answer travels back, and under load
    # that took 1.0 s once; a 0.5 s keepalive had reaped the process before the test could see it alive.
    with EmbeddedLocalStack(keepalive_ms=2000, quiet=True) as endpoint:
        lam, pid = _pid_function(endpoint, "idle")
        assert psutil.pid_exists(pid)
        wait_for(lambda: psutil.pid_exists(pid), lambda alive: not alive, deadline_s=10,
                 what=f"runtime process {pid} stopped after keepalive")
        # A new invoke after reaping starts a new environment.
        assert json.loads(lam.invoke(FunctionName="idle")["Payload"].read()) != pid


def test_a_stopped_localstack_leaves_no_process_behind():
    """`stop()` kills LocalStack's group at once (nothing in it is kept); its runtime templates and their
    environments, each in a group of its own, go with it (their parent-death signals)."""
    localstack = EmbeddedLocalStack(quiet=True)
    endpoint = localstack.start()
    try:
        _, environment = _pid_function(endpoint, "held")
        assert localstack.process is not None
        started = psutil.Process(localstack.process.pid)
        family = [started, *started.children(recursive=True), psutil.Process(environment)]
        assert len({p.pid for p in family}) >= 3  # LocalStack, a runtime template, the environment
    finally:
        localstack.stop()
    wait_for(lambda: [p.pid for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE],
             lambda alive: not alive, deadline_s=5, what="LocalStack's processes gone after stop()")
    assert localstack.process is None and localstack.run_dir is None


def test_the_runtime_libraries_are_byte_compiled_for_their_interpreter(harness_endpoint):
    """As under AWS's /var/runtime: a cold start imports boto3's byte code instead of compiling its source
    (0.8 s of CPU instead of 0.3 s). Every module is compiled at install, not only those a function imported."""
    served = [runtime for runtime in interpreters.SUPPORTED_RUNTIMES
              if interpreters.runtime_dir_ready(interpreters.runtime_dir_for(runtime))]
    assert served, "the session's LocalStack installed no runtime"
    for runtime in served:
        interpreter = interpreters.resolve(runtime)
        tag = subprocess.run([str(interpreter.python), "-S", "-c", "import sys; print(sys.implementation.cache_tag)"],
                             capture_output=True, text=True, check=True).stdout.strip()
        sources = sorted(interpreter.runtime_dir.rglob("*.py"))
        assert len(sources) > 100  # boto3, botocore, awslambdaric...
        missing = [source for source in sources
                   if not (source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc").exists()]
        assert missing == [], f"{runtime}: {len(missing)} of {len(sources)} modules not compiled, e.g. {missing[:3]}"


_SHARED_CODE = {
    "handler.py": """
import importlib.util
import os

HELPER = os.path.join(os.path.dirname(__file__), "helper.py")
COMPILED_BEFORE = os.path.exists(importlib.util.cache_from_source(HELPER))

import helper  # noqa: E402


def handler(event, context):
    return {"task_root": os.environ["LAMBDA_TASK_ROOT"], "compiled_before": COMPILED_BEFORE,
            "value": helper.VALUE}
""",
    "helper.py": "VALUE = 42\n",
}


def test_functions_with_the_same_zip_run_from_one_folder_and_share_its_bytecode(aws, deploy):
    """The second function (another stack's, say) finds the bytecode the first one's cold start wrote,
    rather than compiling the same modules again."""
    helper = _SHARED_CODE["helper.py"] + f"# {uuid.uuid4()}: content no other test deploys\n"
    first = deploy(_SHARED_CODE["handler.py"], files={"helper.py": helper})
    _, answer = invoke(aws("lambda"), first)
    assert answer["value"] == 42 and not answer["compiled_before"]
    second = deploy(_SHARED_CODE["handler.py"], files={"helper.py": helper})
    _, again = invoke(aws("lambda"), second)
    assert again == {**answer, "compiled_before": True}  # the same folder, its bytecode already there
    other = deploy(_SHARED_CODE["handler.py"], files={"helper.py": "VALUE = 7\n"})
    _, changed = invoke(aws("lambda"), other)
    assert changed["value"] == 7 and changed["task_root"] != answer["task_root"]  # other content, own folder
