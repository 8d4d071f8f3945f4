"""Attach mode: scenarios run against a LocalStack and PostgreSQL started separately, as a LocalStack from
docker-compose.yml would be used (HARNESS_ENDPOINT, DATABASE_URL), here `harness up --database` in its own
process. The attached LocalStack's timing reaches the expectations from the environment."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_process_lifecycle import processes_under
from tests.support.up import harness_up, read_lines_until_ready

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_scenarios_run_against_a_localstack_started_separately(tmp_path: Path) -> None:
    with harness_up(tmp_path, "--database", "--retry-base-delay", "2") as (up, env):
        lines = read_lines_until_ready(up, "DATABASE_URL")
        # What `harness up` prints of its time scale is what the attached run is told.
        assert (lines["HARNESS_RETRY_BASE_DELAY"], lines["HARNESS_ALARM_TIME_SCALE"]) == ("2", "30")
        attached = {**env, **{name: lines[name] for name in ("HARNESS_ENDPOINT", "DATABASE_URL",
                                                              "HARNESS_RETRY_BASE_DELAY", "HARNESS_ALARM_TIME_SCALE")}}
        scenarios = [str(REPO / "scenarios" / f"{name}.yaml") for name in ("success-path", "worker-exception-raised")]
        run = subprocess.run([sys.executable, "-m", "harness.cli", "run", *scenarios], cwd=tmp_path, env=attached,
                             capture_output=True, text=True, timeout=300)
        output = run.stdout + run.stderr
        assert run.returncode == 0, output[-4000:]
        assert "2 passed, 0 failed" in output
        # The timing is the attached LocalStack's (from the environment), stated once, and no LocalStack of
        # the run's own was started: only `harness up`'s processes live under its run directory.
        assert "retries wait 2 s, then 4 s" in output and "attached LocalStack" in output
        assert "alarm periods run 30x faster (1 min = 2 s, 1 day = 2880 s)" in output
        assert "embedded LocalStack" not in output
        up.send_signal(signal.SIGTERM)
        assert up.wait(30) == 0
        assert processes_under(tmp_path / "runs") == []
