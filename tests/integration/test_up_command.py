"""`harness up`: prints what a person needs once ready, and stops everything it started on a signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from harness.localstack import Endpoint
from tests.integration.test_process_lifecycle import processes_under

REPO = Path(__file__).resolve().parents[2]
REQUIRED = ("HARNESS_ENDPOINT", "DATABASE_URL", "ORCHESTRATOR_FUNCTION", "WORKER_FUNCTION", "ERROR_HANDLER_FUNCTION",
            "NOTIFICATIONS_TOPIC_ARN", "DLQ_TOPIC_ARN", "ALARM_TOPIC_ARN")


def _read_lines_until_ready(proc: subprocess.Popen, last: str) -> dict[str, str]:
    lines: dict[str, str] = {}
    for line in proc.stdout:
        name, _, value = line.strip().partition("=")
        lines[name] = value
        if name == last:
            return lines
    raise AssertionError(f"harness up ended before printing {last}: {proc.stderr.read()[-2000:]}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_up_prints_endpoint_and_stops_everything_on_signal(tmp_path, sig):
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_ENDPOINT", "DATABASE_URL")}
    env["HARNESS_RUN_DIR"] = str(tmp_path / "runs")
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "up"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = _read_lines_until_ready(proc, "HARNESS_ENDPOINT")
        endpoint = Endpoint(lines["HARNESS_ENDPOINT"])
        assert endpoint.client("lambda").list_functions()["Functions"] == []
        proc.send_signal(sig)
        assert proc.wait(30) == 0
        assert "time is compressed" in proc.stderr.read()
        assert processes_under(tmp_path / "runs") == []
    finally:
        if proc.poll() is None:
            proc.kill()


def test_up_deploy_prints_every_name_a_person_needs(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_ENDPOINT", "DATABASE_URL")}
    env["HARNESS_RUN_DIR"] = str(tmp_path / "runs")
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "up", "--deploy", "--prefix", "handson"], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = _read_lines_until_ready(proc, "DB_SCHEMA")
        assert set(REQUIRED) <= set(lines), lines
        assert lines["WORKER_FUNCTION"] == "handson-worker"
        assert all(url.startswith("http://127.0.0.1:") for name, url in lines.items() if name.endswith("_QUEUE_URL"))
        lam = Endpoint(lines["HARNESS_ENDPOINT"]).client("lambda")
        assert lam.get_function(FunctionName=lines["ORCHESTRATOR_FUNCTION"])["Configuration"]["State"] == "Active"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        assert processes_under(tmp_path / "runs") == []
        with pytest.raises(psycopg.OperationalError):  # the embedded PostgreSQL is gone too
            psycopg.connect(lines["DATABASE_URL"], connect_timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
