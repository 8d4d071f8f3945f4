"""Every command `harness up --scenario` prints works as printed (issue 26): pasted into a shell whose PATH holds
only the harness's environment and the system's programs, with no virtual environment active. Each trigger
line starts a run of the job that the printed CHECK line then sees, and the check tells the runs apart."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.test_process_lifecycle import processes_under
from tests.support.up import harness_up, read_lines_until_ready

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "scenarios" / "worker-exception-raised.yaml"
PROGRAMS = Path(sys.executable).parent
PASSED = "scenario worker-exception-raised passed"

pytestmark = pytest.mark.integration


def pasted(line: str, home: Path) -> subprocess.CompletedProcess:
    """`line` run as a person pastes it into a shell: bash, PATH = the harness's programs and the system's."""
    env = {"PATH": f"{PROGRAMS}:/usr/bin:/bin", "HOME": str(home)}
    return subprocess.run(["bash", "-c", line], env=env, capture_output=True, text=True, timeout=180)


def worked(done: subprocess.CompletedProcess, returncode: int = 0) -> str:
    """Its stdout, once its exit status is `returncode`."""
    assert done.returncode == returncode, f"exit {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    return done.stdout


def program_of(line: str) -> Path:
    """The program a printed command runs: its first word after the NAME=value assignments."""
    return Path(next(word for word in shlex.split(line) if "=" not in word))


def python_snippet(up: subprocess.Popen) -> str:
    """The boto3 snippet `harness up` writes to stderr, as the lines between "in Python:" and "then check"."""
    assert up.stderr is not None
    lines: list[str] = []
    for line in up.stderr:  # up prints it at once after its CHECK line; ends if up dies
        if lines and line.startswith("then check"):
            return textwrap.dedent("".join(lines[1:]))
        if lines or line.rstrip().endswith("or in Python:"):
            lines.append(line)
    raise AssertionError(f"harness up printed no Python snippet; exit {up.poll()}")


def test_each_printed_command_works_as_pasted_and_the_check_tells_the_runs_apart(tmp_path: Path) -> None:
    with harness_up(tmp_path, "--scenario", str(SCENARIO), "--prefix", "pasted") as (up, _env):
        lines = read_lines_until_ready(up, "CHECK")
        snippet = python_snippet(up)
        triggers = [name for name in lines if name.startswith("TRIGGER")]
        assert triggers == ["TRIGGER_AWS_CLI"], lines  # a new printed command belongs in this test
        for name in [*triggers, "CHECK"]:  # by full path: they work with the environment off PATH too
            assert program_of(lines[name]).is_absolute() and program_of(lines[name]).exists(), lines[name]

        answer = worked(pasted(lines["TRIGGER_AWS_CLI"], tmp_path))
        assert '"StatusCode": 200' in answer and "FunctionError" not in answer, answer
        first = worked(pasted(lines["CHECK"], tmp_path))
        assert "harness check: saw 1 run of the job (invocations of pasted-orchestrator): run 1 at +0.0 s\n" in first
        assert PASSED in first, first[-3000:]

        # The printed boto3 snippet, pasted into the environment's Python, is the second run.
        worked(pasted(f"python -c {shlex.quote(snippet)}", tmp_path))
        both = worked(pasted(lines["CHECK"], tmp_path), 1)  # twice what the scenario expects of one run
        assert "harness check: saw 2 runs of the job (invocations of pasted-orchestrator): run 1 at +0.0 s, " \
               "run 2 at +" in both, both[-3000:]
        assert "give --job N to check run N alone" in both and "FAILED" in both
        for run in (1, 2):
            alone = worked(pasted(f"{lines['CHECK']} --job {run}", tmp_path))
            assert f"; checking run {run} only (--job {run})" in alone and PASSED in alone, alone[-3000:]
            assert "the runs overlap" not in alone  # each run settled (its check) before the next one
        beyond = pasted(f"{lines['CHECK']} --job 3", tmp_path)
        assert worked(beyond, 2) == ""
        assert "harness check: --job 3, but the ledger holds 2 runs of the job (invocations of pasted-orchestrator)" \
               ": run 1 at +0.0 s, run 2 at +" in beyond.stderr, beyond.stderr[-2000:]

        up.send_signal(signal.SIGINT)
        assert up.wait(30) == 0
        assert processes_under(tmp_path / "runs") == []
