"""Reproduce by hand: `harness up --scenario` brings the stack up with the scenario's faults armed and
prints the commands that trigger the job and check it; `harness check` then judges what happened."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.services import Endpoint
from tests.integration.test_process_lifecycle import processes_under
from tests.support.up import harness_up, read_lines_until_ready

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "scenarios" / "worker-exception-raised.yaml"

pytestmark = pytest.mark.integration


def run_check(line: str, scenario: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """The printed CHECK command as a person would paste it: its program is the harness it names by its full
    path (no virtual environment needs to be active), with `scenario` in place of the scenario it names."""
    words = shlex.split(line)
    program = next(index for index, word in enumerate(words) if Path(word).name == "harness")
    assert Path(words[program]).is_absolute() and Path(words[program]).exists(), words[program]
    assignments = dict(word.split("=", 1) for word in words[:program] if "=" in word)
    arguments = words[program + 1:]
    arguments[arguments.index(str(SCENARIO))] = str(scenario)
    return subprocess.run([words[program], *arguments], env={**env, **assignments}, capture_output=True, text=True,
                          timeout=120)


def test_up_with_a_scenario_then_trigger_then_check(tmp_path: Path) -> None:
    with harness_up(tmp_path, "--scenario", str(SCENARIO), "--prefix", "byhand") as (up, env):
        lines = read_lines_until_ready(up, "CHECK")
        assert lines["WORKER_FUNCTION"] == "byhand-worker"
        assert lines["TRIGGER_AWS_CLI"].split("aws ", 1)[1].startswith(f"--endpoint-url {lines['HARNESS_ENDPOINT']}")
        # Trigger the job as the printed boto3 snippet does.
        answer = Endpoint(lines["HARNESS_ENDPOINT"]).client("lambda").invoke(
            FunctionName=lines["ORCHESTRATOR_FUNCTION"], InvocationType="RequestResponse",
            Payload=lines["JOB_EVENT"].encode())
        assert "FunctionError" not in answer, answer["Payload"].read()
        assert json.loads(lines["JOB_EVENT"])["shard_size"] == 10

        checked = run_check(lines["CHECK"], SCENARIO, env)
        assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-2000:]
        assert "scenario worker-exception-raised passed" in checked.stdout

        # The same check with a wrong expectation fails and says which: the check can fail.
        wrong = tmp_path / "wrong.yaml"
        wrong.write_text(SCENARIO.read_text(encoding="utf-8").replace("count: 0, fields: {reason: error}",
                                                                      "count: 1, fields: {reason: error}"))
        failed = run_check(lines["CHECK"], wrong, env)
        assert failed.returncode == 1, failed.stdout[-3000:] + failed.stderr[-2000:]
        # Only the changed line fails: the first check left every message for the next one.
        assert "FAILED: 1 of 6 expectations not met" in failed.stdout, failed.stdout[-3000:]

        # The worker's own log lines, as Lambda wrote them: three attempts, each with its exception.
        logs = subprocess.run([sys.executable, "-m", "harness.cli", "logs", "worker", "--prefix", "byhand",
                               "--endpoint", lines["HARNESS_ENDPOINT"]], env=env, capture_output=True, text=True,
                              timeout=60)
        assert logs.returncode == 0, logs.stderr[-2000:]
        assert logs.stdout.count("START RequestId:") == 3, logs.stdout[-3000:]
        assert "boom" in logs.stdout
        follow = subprocess.Popen([sys.executable, "-m", "harness.cli", "logs", "orchestrator", "--prefix", "byhand",
                                   "--follow", "--endpoint", lines["HARNESS_ENDPOINT"]], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert follow.stdout is not None
        first = [follow.stdout.readline() for _ in range(2)]  # INIT_START, then the invocation's START
        assert first[0].startswith("INIT_START") and first[1].startswith("START RequestId:"), first
        follow.send_signal(signal.SIGINT)
        assert follow.wait(10) == 0

        up.send_signal(signal.SIGINT)  # Ctrl-C removes what was made
        assert up.wait(30) == 0
        assert processes_under(tmp_path / "runs") == []
