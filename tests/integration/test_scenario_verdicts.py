"""A scenario whose expectation is wrong must fail, and say what was expected, seen, and where."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from harness.runner import run_scenario
from harness.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario_under_test.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_two_attempts_expected_where_three_happen_fails_with_expected_and_observed(tmp_path, harness_resources):
    path = _write(tmp_path, """
        name: wrong-attempt-count
        description: The worker always raises, so Lambda makes 3 attempts; the file wrongly expects 2.
        job: {files: 2, shard_size: 2}
        faults:
          - {function: worker, kind: exception, exception: {type: ConnectionError}}
        expect:
          - dlq: {count: 1}
          - attempts: {function: worker, invocations: 1, count: 2}
    """)
    result = run_scenario(load_scenario(path), harness_resources)
    assert not result.passed
    text = result.report.render()
    failed = [o for o in result.report.outcomes if not o.passed]
    assert [o.kind for o in failed] == ["attempts"]
    assert f"{path}:8:" in text  # the line of the wrong expectation
    assert "expected" in text and "observed" in text and "3" in failed[0].observed
    assert "dlq" in text.lower()  # the timeline shows the dead letter that did arrive


def test_a_dlq_message_that_never_comes_fails(tmp_path, harness_resources):
    path = _write(tmp_path, """
        name: dlq-never-comes
        description: The fault has no chance to strike, so nothing is dead-lettered; one is expected.
        job: {files: 3, shard_size: 3}
        faults:
          - {function: worker, kind: exception, exception: {type: ConnectionError}, probability: 0.0, seed: 1}
        expect:
          - sns: {topic: notifications, subject: JOB SUCCEEDED, count: 1}
          - dlq: {count: 1, within_seconds: 20}
    """)
    result = run_scenario(load_scenario(path), harness_resources)
    assert not result.passed
    [failed] = [o for o in result.report.outcomes if not o.passed]
    assert failed.kind == "dlq" and f"{path}:8:" in failed.location
    assert "0" in failed.observed
    # Settled early: the verdict does not wait for the whole 20 s deadline.
    assert result.seconds < 20


def test_cli_run_exit_status_and_junit(tmp_path, harness_endpoint, harness_database_url):
    good = _write(tmp_path, """
        name: cli-clean-run
        description: One clean shard.
        job: {files: 1, shard_size: 1}
        expect:
          - sns: {topic: notifications, subject: JOB SUCCEEDED, count: 1}
    """)
    bad = tmp_path / "sub" / "scenario_bad.yaml"
    bad.parent.mkdir()
    bad.write_text(good.read_text().replace("cli-clean-run", "cli-wrong-run").replace("count: 1", "count: 2"))
    junit = tmp_path / "report.xml"
    # Attached to the session's LocalStack and PostgreSQL: the command's own start is tested elsewhere.
    attached = {**os.environ, "DATABASE_URL": harness_database_url}
    endpoint = ["--endpoint", harness_endpoint.url]
    run = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(good), str(bad), "--junit-xml", str(junit),
                          *endpoint], cwd=REPO, env=attached, capture_output=True, text=True, timeout=180)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 passed, 1 failed" in run.stdout
    assert 'failures="1"' in junit.read_text() and "cli-wrong-run" in junit.read_text()
    only_good = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(tmp_path), "-k", "clean", *endpoint],
                               cwd=REPO, env=attached, capture_output=True, text=True, timeout=180)
    assert only_good.returncode == 0, only_good.stdout + only_good.stderr
    assert "1 passed, 0 failed" in only_good.stdout


def test_cli_validate_names_file_line_and_field(tmp_path):
    bad = _write(tmp_path, """
        name: invalid
        description: Four attempts cannot happen.
        job: {files: 1}
        expect:
          - attempts: {function: worker, count: 4}
    """)
    result = subprocess.run([sys.executable, "-m", "harness.cli", "validate", str(bad)], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"{bad}:5:" in result.stdout and "expect[0].attempts.count" in result.stdout


def test_alarm_states_entered_at_creation_do_not_pass_a_clean_run(tmp_path, harness_resources):
    # Both alarms treat missing data as breaching, so both are in ALARM from their creation, before the
    # job. A clean job then shows neither a JOB FAILED nor a JOB NOT RUN alarm: both lines must fail (they
    # passed before harness 0.2), and the report must say why.
    path = _write(tmp_path, """
        name: clean-run-false-alarms
        description: A clean job that wrongly expects both alarms to enter ALARM.
        job: {files: 4, shard_size: 4}
        expect:
          - sns: {topic: notifications, subject: JOB SUCCEEDED, count: 1}
          - alarm: {alarm: job_failed, transitions: [ALARM]}
          - alarm: {alarm: job_not_run, transitions: [ALARM]}
          - alarm: {alarm: job_not_run, transitions: [OK]}
    """)
    result = run_scenario(load_scenario(path), harness_resources)
    assert not result.passed
    outcomes = result.report.outcomes
    assert [o.passed for o in outcomes] == [True, False, False, True], result.report.render()
    for failed in outcomes[1:3]:
        assert "initial evaluation at creation, not counted" in failed.observed
        assert "missing data" in failed.observed
    # JOB NOT RUN's OK came from the job's Invocations datapoint, after the job started.
    assert "OK at +" in outcomes[3].observed and "(datapoints)" in outcomes[3].observed


def test_a_two_day_deadline_is_reached_on_the_stack_clock_in_seconds(tmp_path, harness_resources):
    # The design's JOB NOT RUN period of 1 day gives a derived deadline of about two days (two daily
    # evaluation intervals). Nothing runs, so the stack is idle from the start: its clock is moved on to that
    # deadline, and the wrong expectation fails there, within seconds of wall time and far inside the 8 s the
    # scenario allows.
    path = _write(tmp_path, """
        name: skipped-deadline
        description: A 1-day JOB NOT RUN period with a wrong expectation; the scenario allows 8 s of waiting.
        stack:
          alarms:
            job_not_run: {period_seconds: 86400}
        max_wait_seconds: 8
        expect:
          - alarm: {alarm: job_not_run, transitions: [OK], because: missing_data}
    """)
    result = run_scenario(load_scenario(path), harness_resources)
    assert not result.passed
    [failed] = result.report.outcomes
    interval = 86400
    assert failed.note.startswith(f"at the deadline, +{2 * interval + 5:.0f}.")
    assert "capped" not in failed.note
    assert result.report.elapsed >= 2 * interval  # on the stack's clock
    assert result.seconds < 8 + 10  # wall time: the job-less scenario's deploy, the skip, the teardown
