"""`harness up`: prints what a person needs once ready, and stops everything it started on a signal."""

from __future__ import annotations

import signal
from pathlib import Path

import psycopg
import pytest

from harness.services import Endpoint
from tests.integration.test_process_lifecycle import processes_under
from tests.support.up import harness_up, read_lines_until_ready

REPO = Path(__file__).resolve().parents[2]
REQUIRED = ("HARNESS_ENDPOINT", "DATABASE_URL", "ORCHESTRATOR_FUNCTION", "WORKER_FUNCTION", "ERROR_HANDLER_FUNCTION",
            "NOTIFICATIONS_TOPIC_ARN", "DLQ_TOPIC_ARN", "ALARM_TOPIC_ARN")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_up_prints_endpoint_and_stops_everything_on_signal(tmp_path, sig):
    with harness_up(tmp_path) as (proc, _env):
        lines = read_lines_until_ready(proc, "HARNESS_ENDPOINT")
        endpoint = Endpoint(lines["HARNESS_ENDPOINT"])
        assert endpoint.client("lambda").list_functions()["Functions"] == []
        proc.send_signal(sig)
        assert proc.wait(30) == 0
        assert "harness up: time: each stack runs on its own clock" in proc.stderr.read()
        assert processes_under(tmp_path / "runs") == []


def test_up_deploy_prints_every_name_a_person_needs(tmp_path):
    with harness_up(tmp_path, "--deploy", "--prefix", "handson") as (proc, _env):
        lines = read_lines_until_ready(proc, "DB_SCHEMA")
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
