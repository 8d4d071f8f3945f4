"""Execution environments: warm reuse, one environment per concurrent invoke, idle ones reaped."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import psutil

from harness.localstack import EmbeddedLocalStack
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


def test_idle_environments_are_reaped_after_keepalive():
    with EmbeddedLocalStack(keepalive_ms=500, quiet=True) as endpoint:
        lam, iam = endpoint.client("lambda"), endpoint.client("iam")
        role = iam.create_role(RoleName="reaper", AssumeRolePolicyDocument=TRUST_POLICY)["Role"]["Arn"]
        lam.create_function(FunctionName="idle", Runtime="python3.13", Role=role, Handler="handler.handler",
                            Code={"ZipFile": zip_sources({"handler.py": PID_AFTER})})
        wait_active(lam, "idle")
        pid = json.loads(lam.invoke(FunctionName="idle")["Payload"].read())
        assert psutil.pid_exists(pid)
        wait_for(lambda: psutil.pid_exists(pid), lambda alive: not alive, deadline_s=10,
                 what=f"runtime process {pid} stopped after keepalive")
        # A new invoke after reaping starts a new environment.
        assert json.loads(lam.invoke(FunctionName="idle")["Payload"].read()) != pid
