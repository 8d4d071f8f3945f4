"""Attach mode: scenarios run against a LocalStack and PostgreSQL started separately (HARNESS_ENDPOINT,
DATABASE_URL), here `harness up --database` in its own process. That LocalStack runs the harness's launcher,
so its stacks have clocks of their own: the attached run learns it from `/_harness/health`."""

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
    with harness_up(tmp_path, "--database") as (up, env):
        lines = read_lines_until_ready(up, "DATABASE_URL")
        attached = {**env, **{name: lines[name] for name in ("HARNESS_ENDPOINT", "DATABASE_URL")}}
        # A day-long JOB NOT RUN alarm and a worker's retries a minute apart: minutes and a day of AWS time.
        scenarios = [str(REPO / "scenarios" / f"{name}.yaml") for name in ("success-path", "worker-exception-raised")]
        run = subprocess.run([sys.executable, "-m", "harness.cli", "run", *scenarios], cwd=tmp_path, env=attached,
                             capture_output=True, text=True, timeout=300)
        output = run.stdout + run.stderr
        assert run.returncode == 0, output[-4000:]
        assert "2 passed, 0 failed" in output
        # The attached LocalStack's clocks, stated once, and no LocalStack of the run's own was started: only
        # `harness up`'s processes live under its run directory.
        assert "each stack runs on its own clock" in output and "started by the harness" in output
        assert "embedded LocalStack" not in output
        up.send_signal(signal.SIGTERM)
        assert up.wait(30) == 0
        assert processes_under(tmp_path / "runs") == []
