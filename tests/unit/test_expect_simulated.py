"""Every shipped scenario on a simulated pipeline: it passes, promptly, and a wrong expectation fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.expect import Report, evaluate
from harness.expect.deadlines import QUIET_SECONDS
from harness.model.platform import Platform
from harness.scenario import Scenario, load_scenario, load_scenarios
from tests.support.fakes import FakeClock, FakeObservations, scenario_from_yaml
from tests.support.simulated import PLATFORM, simulate_pipeline

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
POLL = 0.1


def run(scenario: Scenario, platform: Platform = PLATFORM) -> tuple[Report, float, FakeObservations]:
    clock = FakeClock()
    observations = FakeObservations(clock, started_at=clock.now, platform=platform)
    last_event = simulate_pipeline(scenario, observations, platform)
    report = evaluate(scenario, observations, wall_clock=clock, sleep=clock.sleep, poll_interval=POLL)
    return report, last_event, observations


@pytest.mark.parametrize("scenario", load_scenarios([SCENARIOS]), ids=lambda scenario: scenario.name)
def test_shipped_scenario_passes_on_the_simulated_pipeline_without_waiting_longer_than_needed(
    scenario: Scenario,
) -> None:
    report, last_event, observations = run(scenario)
    assert report.passed, report.render()
    alarms = [outcome.decided_at for outcome in report.outcomes if outcome.kind == "alarm"]
    # The verdict comes one quiet period (and a poll or two) after the last thing the pipeline did,
    # or right when the awaited alarm state arrives, whichever is later.
    assert report.elapsed <= max([last_event + QUIET_SECONDS + 3 * POLL, *[at + POLL for at in alarms]])


def variant(tmp_path: Path, name: str, old: str, new: str) -> Scenario:
    text = (SCENARIOS / f"{name}.yaml").read_text(encoding="utf-8")
    assert old in text
    return scenario_from_yaml(text.replace(old, new), tmp_path, f"{name}.yaml")


def line_of(scenario: Scenario, needle: str) -> int:
    assert scenario.source_file is not None
    lines = Path(scenario.source_file).read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if needle in line)


def test_two_attempts_where_three_happen_fails_naming_the_line(tmp_path: Path) -> None:
    scenario = variant(
        tmp_path,
        "worker-exception-raised",
        "attempts: {function: worker, invocations: 1, count: 3",
        "attempts: {function: worker, invocations: 1, count: 2",
    )
    report, _, _ = run(scenario)
    assert not report.passed
    [failure] = report.failures
    line = line_of(scenario, "attempts: {function: worker, invocations: 1, count: 2")
    assert failure.location == f"{scenario.source_file}:{line}:5"
    text = report.render()
    assert f"FAILED attempts at {scenario.source_file}:{line}:5" in text
    assert "expected: exactly 1 worker invocations, each with exactly 2 attempts" in text
    assert "got 3 attempts, expected 2" in text
    assert "fault exception, error" in text.split("timeline (from the job's start):", 1)[1]


def test_a_dead_letter_that_never_comes_fails_well_before_its_deadline(tmp_path: Path) -> None:
    scenario = variant(
        tmp_path,
        "worker-timeout-reshards",
        "      files: [f-0000]\n",
        "      files: [f-0012]\n",
    )
    report, last_event, _ = run(scenario)
    [failure] = report.failures
    assert failure.kind == "dlq"
    assert failure.observed.startswith("0 messages, expected exactly 1")
    assert failure.decided_at < last_event + 4.0 < failure.deadline
    timed_out = "RequestId: 00000000-0000-4000-8000-000000000000 Error: Task timed out after 900.00 seconds"
    assert f"dlq: f-0000..f-0009 (10 files) ErrorMessage='{timed_out}'" in report.render()


@pytest.mark.parametrize(
    ("name", "old", "new", "kind"),
    [
        ("success-path", "totals: {files: 40, files_inserted: 40}", "totals: {files: 40, files_inserted: 39}", "sns"),
        ("poison-file-quarantined", "quarantined: [f-0005]", "quarantined: []", "reshard"),
        ("poison-file-quarantined", "reshards: 2", "reshards: 3", "reshard"),
        ("rerun-inserts-nothing", "run: 2\n      count: 2", "run: 1\n      count: 2", "sns"),
        ("bad-table-name", "loaded_exactly_once: none", "loaded_exactly_once: all", "database"),
        ("job-not-run", "transitions: [ALARM], because", "transitions: [OK], because", "alarm"),
        # The false passes of alarms entered at creation: a clean run proves no JOB FAILED, and a job that
        # ran proves no JOB NOT RUN.
        ("success-path", "job_not_run, transitions: [OK]}", "job_not_run, transitions: [ALARM]}", "alarm"),
        ("success-path", "job_not_run, transitions: [OK]}", "job_failed, transitions: [ALARM]}", "alarm"),
        ("logical-error-raised-alarm-on-datapoints", "because: datapoints", "because: missing_data", "alarm"),
        ("logical-error-reported-alarm-stays-ok", "job_failed, never: [ALARM]", "job_failed, transitions: [ALARM]",
         "alarm"),
        ("orchestrator-fault-result", "succeeded: false", "succeeded: true", "result"),
        ("error-handler-fails-dead-letter-kept", "error_handler, count: 1", "error_handler, count: 2", "dlq"),
        ("out-of-memory", "error_message: Runtime exited with error", "error_message: Task timed out", "dlq"),
    ],
)
def test_a_wrong_expectation_in_a_shipped_scenario_fails(
    tmp_path: Path, name: str, old: str, new: str, kind: str
) -> None:
    report, _, _ = run(variant(tmp_path, name, old, new))
    assert [failure.kind for failure in report.failures] == [kind], report.render()


def test_the_shipped_files_are_left_alone() -> None:
    # The variants above are written to tmp_path; the shipped scenario still passes.
    report, _, _ = run(load_scenario(SCENARIOS / "worker-exception-raised.yaml"))
    assert report.passed


def test_the_timeline_says_which_attempts_work_on_the_job_and_which_on_a_shard() -> None:
    report, _, _ = run(load_scenario(SCENARIOS / "worker-timeout-reshards.yaml"))
    orchestrator = [line for line in report.timeline if "orchestrator attempt 1" in line]
    workers = [line for line in report.timeline if "worker attempt 1" in line]
    assert orchestrator and all(" job worker-timeout-reshards " in line for line in orchestrator), orchestrator
    assert workers and all(" shard 000" in line for line in workers), workers
