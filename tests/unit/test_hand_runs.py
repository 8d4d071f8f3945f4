"""Runs of the job made by hand (`harness check` after `harness up --scenario`): the check finds them in the
ledger, says which it saw, and judges one of them alone with --job N (`harness.observe.runs`)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness.cli import build_parser
from harness.cli.check import _job_problem, _say_overlaps, _seen_text
from harness.expect import Report, evaluate
from harness.observe.runs import OneRun, hand_runs, overlaps, runs_text
from harness.scenario import Scenario, load_scenario
from tests.support.fakes import FakeClock, FakeObservations
from tests.support.simulated import PLATFORM, simulate_pipeline

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
NOUN = "of the job (invocations of p-orchestrator)"


def twice(name: str) -> tuple[Scenario, FakeObservations, list[float]]:
    """The scenario as written (one run), and a stand-in stack on which its job ran twice, one run after the
    other had settled, as a person triggers it twice by hand; with the runs' starts read from its ledger."""
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    assert scenario.job is not None and scenario.job.runs == 1
    doubled = scenario.model_copy(update={"job": scenario.job.model_copy(update={"runs": 2})})
    clock = FakeClock()
    observations = FakeObservations(clock, started_at=clock.now, platform=PLATFORM)
    simulate_pipeline(doubled, observations, PLATFORM)
    clock.now += 10_000  # everything scripted has happened
    return scenario, observations, hand_runs(observations.attempts(), scenario.invoked())


def judge(scenario: Scenario, observations: object) -> Report:
    clock: FakeClock = getattr(observations, "observations", observations).clock
    return evaluate(scenario, observations, wall_clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]


def test_each_run_made_by_hand_is_one_request_of_the_triggered_function() -> None:
    scenario, observations, starts = twice("orchestrator-async-retried")
    # Its orchestrator fails once and is retried under the same request ID: still one run each time.
    orchestrator = [a for a in observations.attempts() if a.function == "orchestrator"]
    assert len(orchestrator) == 4 and len({a.request_id for a in orchestrator}) == 2
    # Each starts with the orchestrator's first attempt, just after the run was submitted.
    assert [start - observations.started_at for start in starts] == pytest.approx(observations.runs, abs=0.5)
    assert runs_text(starts) == f"run 1 at +0.0 s, run 2 at {starts[1] - starts[0]:+.1f} s"


@pytest.mark.parametrize("name", ["worker-exception-raised", "worker-crash-dead-lettered"])
def test_two_runs_fail_the_one_run_scenario_together_and_pass_it_one_at_a_time(name: str) -> None:
    scenario, observations, starts = twice(name)
    assert len(starts) == 2
    together = judge(scenario, observations)
    assert not together.passed  # twice the attempts, dead letters and notifications the scenario expects
    for number in (1, 2):
        report = judge(scenario, OneRun(observations, starts, number, cumulative_topics=frozenset({"alarms"})))
        assert report.passed, report.render()
        timeline = "\n".join(report.timeline)
        assert f"+0.00 s  run {number} of the job submitted" in timeline
        assert f"run {3 - number} of the job" not in timeline


def test_a_later_run_sees_nothing_of_the_earlier_one_but_the_alarms_and_the_database() -> None:
    scenario, observations, starts = twice("worker-exception-raised")
    second = OneRun(observations, starts, 2, cumulative_topics=frozenset({"alarms"}))
    assert all(a.started_at >= starts[1] for a in second.attempts())
    assert [m.received_at >= starts[1] for m in second.messages("dlq")] == [True]
    assert any(m.received_at < starts[1] for m in second.messages("alarms"))  # carried over from run 1
    assert second.rows_per_file() == observations.rows_per_file()
    first = OneRun(observations, starts, 1)
    assert all(a.started_at < starts[1] for a in first.attempts())
    assert len(first.decisions()) == len(second.decisions()) == 1


def test_runs_that_overlap_are_named() -> None:
    _, observations, starts = twice("worker-exception-raised")
    assert overlaps(observations.attempts(), starts) == []
    # Run 2 triggered 10 s into run 1, whose worker is retried 60 s and 180 s in.
    early = [starts[0], starts[0] + 10.0]
    [found] = overlaps(observations.attempts(), early)
    assert found.startswith("worker attempt 2 of run 1 at +") and found.endswith("after run 2 started at +10.0 s")
    # A retry belongs to its request's run, however late it comes.
    workers = [a for a in OneRun(observations, early, 1).attempts() if a.function == "worker"]
    assert [a.attempt for a in workers] == [1, 2, 3] and len({a.request_id for a in workers}) == 1
    assert workers[0].request_id not in {a.request_id for a in OneRun(observations, early, 2).attempts()}


def test_the_check_warns_of_overlapping_runs_only(capsys: pytest.CaptureFixture[str]) -> None:
    _, observations, starts = twice("worker-exception-raised")
    _say_overlaps(observations, starts, 2)
    assert capsys.readouterr().out == ""
    _say_overlaps(observations, [starts[0], starts[0] + 10.0], 1)
    warning = capsys.readouterr().out
    assert warning.startswith("harness check: the runs overlap (worker attempt 2 of run 1 at +")
    assert "so run 1's part is uncertain" in warning and "trigger the next run only after" in warning


def test_job_must_name_a_run_that_was_seen() -> None:
    scenario = load_scenario(SCENARIOS / "worker-exception-raised.yaml")
    starts = [100.0, 135.0]
    assert _job_problem(scenario, None, starts, NOUN) is None
    assert _job_problem(scenario, 2, starts, NOUN) is None
    assert _job_problem(scenario, 3, starts, NOUN) == (
        f"--job 3, but the ledger holds 2 runs {NOUN}: run 1 at +0.0 s, run 2 at +35.0 s")
    assert _job_problem(scenario, 1, [], NOUN).startswith(f"--job 1, but the ledger holds no run {NOUN} yet")
    rerun = load_scenario(SCENARIOS / "rerun-inserts-nothing.yaml")
    assert rerun.runs() > 1
    problem = _job_problem(rerun, 1, starts, NOUN)
    assert problem is not None and f"{rerun.source_file}:" in problem and "job.runs" in problem


def test_the_check_says_which_runs_it_saw_and_which_it_judges() -> None:
    scenario = load_scenario(SCENARIOS / "worker-exception-raised.yaml")
    assert _seen_text(scenario, None, [], NOUN) == f"saw no run {NOUN} yet; checking from now"
    assert _seen_text(scenario, None, [5.0], NOUN) == f"saw 1 run {NOUN}: run 1 at +0.0 s"
    both = _seen_text(scenario, None, [5.0, 40.0], NOUN)
    assert both.startswith(f"saw 2 runs {NOUN}: run 1 at +0.0 s, run 2 at +35.0 s; checking all 2 together, though "
                           f"scenario worker-exception-raised expects 1 ({scenario.source_file}:")
    assert both.endswith("give --job N to check run N alone")
    assert _seen_text(scenario, 2, [5.0, 40.0], NOUN).endswith("; checking run 2 only (--job 2)")


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_job_is_a_run_number(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["check", "s.yaml", "--endpoint", "http://127.0.0.1:1", "--prefix", "p",
                                   "--job", value])
    assert stop.value.code == 2
    assert "argument --job:" in capsys.readouterr().err
    parsed = build_parser().parse_args(["check", "s.yaml", "--endpoint", "e", "--prefix", "p", "--job", "2"])
    assert isinstance(parsed, argparse.Namespace) and parsed.job == 2
