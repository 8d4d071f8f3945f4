"""Nothing the harness starts may outlive it: not after a test session, not after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

from harness.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


def processes_under(run_root: Path) -> list[str]:
    """Processes whose working directory lies in ``run_root`` (LocalStack and every Lambda runtime)."""
    found = []
    for proc in psutil.process_iter(["pid", "cwd", "cmdline"]):
        cwd = proc.info.get("cwd") or ""
        if cwd.startswith(str(run_root)):
            found.append(f"{proc.info['pid']} {' '.join(proc.info.get('cmdline') or [])[:120]} (in {cwd})")
    return found


SESSION_TEST = """
import json
from harness.stack.lambda_api import wait_active, zip_sources

def test_uses_a_lambda(harness_endpoint):
    lam, iam = harness_endpoint.client("lambda"), harness_endpoint.client("iam")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(FunctionName="f", Runtime="python3.13", Role=role, Handler="h.handler",
                        Code={"ZipFile": zip_sources({"h.py": "def handler(e, c):\\n    return 1\\n"})})
    wait_active(lam, "f")
    assert json.loads(lam.invoke(FunctionName="f")["Payload"].read()) == 1
"""


def _env(run_root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_ENDPOINT", "PYTEST_XDIST_WORKER")}
    env["HARNESS_RUN_DIR"] = str(run_root)
    return env


def test_nothing_is_left_after_a_test_session(tmp_path):
    run_root = tmp_path / "runs"
    (tmp_path / "test_inner.py").write_text(SESSION_TEST)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_inner.py")],
        cwd=tmp_path, env=_env(run_root), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert processes_under(run_root) == []
    assert not any(run_root.iterdir()), "the run directory was not removed"


def test_nothing_is_left_when_the_parent_is_killed(tmp_path):
    run_root = tmp_path / "runs"
    script = textwrap.dedent("""
        import json, sys, time
        from harness.stack.lambda_api import wait_active, zip_sources
        from harness.services import EmbeddedLocalStack
        endpoint = EmbeddedLocalStack(quiet=True).start()
        lam, iam = endpoint.client("lambda"), endpoint.client("iam")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lam.create_function(FunctionName="f", Runtime="python3.13", Role=role, Handler="h.handler",
                            Code={"ZipFile": zip_sources({"h.py": "def handler(e, c):\\n    return 1\\n"})})
        wait_active(lam, "f")
        lam.invoke(FunctionName="f")
        print("READY", flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=_env(run_root),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "READY"
        alive = processes_under(run_root)
        # A runtime process works in its function's code (a folder per zip content); forked from its runtime's
        # template, it has the template's command line (harness.localstack.executor.zygote).
        assert any("/environments/.code/" in line for line in alive), alive
        assert any("harness.localstack.launch" in line for line in alive), alive
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        wait_for(lambda: processes_under(run_root), lambda left: left == [], deadline_s=15,
                 what="no LocalStack or runtime process left after SIGKILL of the parent")
    finally:
        if parent.poll() is None:
            parent.kill()


def test_a_session_pointed_at_a_missing_localstack_fails_instead_of_passing(tmp_path):
    from harness.services.embedded import free_port

    (tmp_path / "test_inner.py").write_text(SESSION_TEST)
    env = _env(tmp_path / "runs")
    env["HARNESS_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_inner.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1, result.stdout[-2000:]
    assert "1 error" in result.stdout and "passed" not in result.stdout and "skipped" not in result.stdout
