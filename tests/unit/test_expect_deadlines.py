"""Deadlines and floors derived from a scenario's timeouts, retry delays, re-shard depth and alarm periods,
at AWS's own numbers (retries 1 and 2 minutes after a failure, the template's Timeouts: the worker's 900 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.expect import floor_seconds as floor_at
from harness.expect.deadlines import QUIET_SECONDS
from harness.expect.deadlines import deadline_seconds as deadline_at
from harness.expect.snapshot import Snapshot
from harness.model.platform import MODEL, Platform
from harness.model.walk import OPTIMISTIC, PESSIMISTIC, Timing, walk_runs
from harness.scenario import Scenario, load_scenario, load_scenarios
from harness.wire import lookback_count
from tests.support.fakes import FakeClock, FakeObservations, scenario_from_yaml
from tests.support.simulated import simulate_pipeline

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
WORKER_TIMEOUT = 900.0  # lambdas/template.yaml's default, as a scenario that does not set it gets
RETRIES = 60.0 + 120.0  # AWS's async retries: 1 and 2 minutes after a failure


def floor_seconds(scenario: Scenario, platform: Platform = MODEL) -> float:
    return floor_at(scenario, platform)


def deadline_seconds(scenario: Scenario, expectation, platform: Platform = MODEL) -> float:
    return deadline_at(scenario, expectation, platform)


def simulate(scenario: Scenario, *, pessimistic: bool, platform: Platform = MODEL) -> Timing:
    """The first run of the scenario's job, walked at the deadlines' pace or at the floor's."""
    return walk_runs(scenario, platform, PESSIMISTIC if pessimistic else OPTIMISTIC)[0]


def shipped(name: str) -> Scenario:
    return load_scenario(SCENARIOS / f"{name}.yaml")


def every_timeout(
    tmp_path: Path, *, files: int = 8, timeout: int = 2, retries: int = 2, stack: str = "", expect: str = ""
) -> Scenario:
    return scenario_from_yaml(
        f"""\
name: deadline-under-test
description: Every worker attempt times out, so shards are halved down to single files.
stack:
  worker: {{timeout_seconds: {timeout}, max_retry_attempts: {retries}}}
  {stack}
job: {{files: {files}, shard_size: {files}}}
faults:
  - {{function: worker, kind: timeout}}
expect:
  - reshard: {{shard_sizes_shrink: true}}
  {expect}
""",
        tmp_path,
    )


@pytest.mark.parametrize(
    ("name", "floor"),
    [
        # One chain of 3 timed-out attempts: 3 x 900 s + retry delays 60 + 120 s.
        ("worker-timeout-reshards", 3 * WORKER_TIMEOUT + RETRIES),
        # Three chains in a row (shard of 4, its half, the single file).
        ("poison-file-quarantined", 3 * (3 * WORKER_TIMEOUT + RETRIES)),
        # One evaluation of JOB NOT RUN's period: the job's period, 1 day.
        ("job-not-run", 86400.0),
        ("success-path", 86400.0),
        # Nothing in it has to wait: no fault, no alarm.
        ("rerun-inserts-nothing", 0.0),
        # `never: [ALARM]` is proved only by watching its whole window: the pipeline's deadline after 4 runs
        # (its chains of attempts and the waits between runs, with their slack and quiet).
        ("alarm-stays-ok-on-reported-errors", None),
    ],
)
def test_floor_of_shipped_scenarios(name: str, floor: float | None) -> None:
    scenario = shipped(name)
    if floor is None:
        floor = max(deadline_seconds(scenario, e) for e in scenario.expect if e.needs_whole_window)
    assert floor_seconds(scenario) == pytest.approx(floor)


def test_one_failure_chain_is_attempts_times_timeout_plus_retry_delays() -> None:
    timing = simulate(shipped("worker-timeout-reshards"), pessimistic=False)
    assert timing.done == pytest.approx(3 * WORKER_TIMEOUT + RETRIES)
    assert timing.first_error == pytest.approx(WORKER_TIMEOUT)
    slow = simulate(shipped("worker-timeout-reshards"), pessimistic=True)
    assert slow.done > 3 * WORKER_TIMEOUT + RETRIES


def test_the_seeded_draws_decide_the_floor_of_a_probabilistic_fault() -> None:
    # Seed 7 fails some shard on both attempts 1 and 2: retry delays 60 + 120 s, exceptions take no time.
    assert simulate(shipped("probabilistic-fault-seeded"), pessimistic=False).done == pytest.approx(RETRIES)


@pytest.mark.parametrize(
    ("stack", "levels"),
    [
        ("", 4),  # 8 -> 4 -> 2 -> 1: log2(8) re-shards, then the single file's chain
        ("reshard_factor: 4", 3),  # 8 -> 2 -> 1
        ("max_reshard_depth: 1", 2),  # 8 -> 4, then quarantined at depth 1
    ],
)
def test_resharding_multiplies_the_chain_by_the_depth_it_needs(tmp_path: Path, stack: str, levels: int) -> None:
    scenario = every_timeout(tmp_path, stack=stack)
    chain = 3 * 2 + RETRIES
    assert floor_seconds(scenario) == pytest.approx(levels * chain)


def test_fewer_retries_make_a_shorter_chain(tmp_path: Path) -> None:
    two = every_timeout(tmp_path, files=1)
    one = every_timeout(tmp_path, files=1, retries=0)
    assert floor_seconds(two) == pytest.approx(3 * 2 + RETRIES)
    assert floor_seconds(one) == pytest.approx(2)
    assert deadline_seconds(one, one.expect[0]) < deadline_seconds(two, two.expect[0])


def test_pipeline_deadline_is_the_pessimistic_chain_plus_quiet_and_slack() -> None:
    scenario = shipped("worker-exception-raised")
    chain = simulate(scenario, pessimistic=True).done
    # orchestrator 0.5 + hand-off 1 + attempts (0.5 + (60 + 1) + 0.5 + (120 + 2) + 0.5): retry delays and
    # their lateness (1 s a retry) + dead letter 1 + hand-off 1 + error handler 0.5
    assert chain == pytest.approx(0.5 + 1 + 0.5 + 61 + 0.5 + 122 + 0.5 + 1 + 1 + 0.5)
    assert deadline_seconds(scenario, scenario.expect[0]) == pytest.approx(chain * 1.25 + QUIET_SECONDS + 3.0)


def test_deeper_resharding_gets_a_longer_deadline(tmp_path: Path) -> None:
    small, large = every_timeout(tmp_path, files=2), every_timeout(tmp_path, files=16)
    assert deadline_seconds(large, large.expect[0]) > deadline_seconds(small, small.expect[0]) + 2 * (3 * 2 + RETRIES)


def test_within_seconds_overrides(tmp_path: Path) -> None:
    scenario = every_timeout(tmp_path, expect="- database: {loaded_exactly_once: none, within_seconds: 7.5}")
    assert deadline_seconds(scenario, scenario.expect[1]) == 7.5


@pytest.mark.parametrize("period", [60, 600])
def test_alarm_deadline_allows_two_periods_after_the_first_error(tmp_path: Path, period: int) -> None:
    scenario = every_timeout(
        tmp_path,
        files=1,
        stack=f"alarm_period_seconds: {period}",
        expect="- alarm: {alarm: job_failed, transitions: [ALARM]}",
    )
    first_error = simulate(scenario, pessimistic=True).first_error
    assert first_error is not None
    assert deadline_seconds(scenario, scenario.expect[1]) == pytest.approx(first_error + 2 * period + 5.0)
    assert floor_seconds(scenario) == pytest.approx(max(period, 3 * 2 + RETRIES))


def test_each_further_alarm_state_costs_a_period() -> None:
    scenario = shipped("success-path")
    alarm = scenario.expect[-1]
    assert alarm.kind == "alarm"
    two = alarm.model_copy(update={"transitions": ["ALARM", "OK"]})
    three = alarm.model_copy(update={"transitions": ["ALARM", "OK", "ALARM"]})
    period, periods = scenario.alarm_timing(alarm.alarm)
    assert period * periods == 86400  # JOB NOT RUN: Invocations < 1 per day
    assert deadline_seconds(scenario, three) == pytest.approx(deadline_seconds(scenario, two) + period * periods)


def test_a_state_after_another_waits_for_the_look_back_too() -> None:
    # Entering a second state can take the first state's datapoints leaving the looked-back periods.
    scenario = shipped("success-path")
    alarm = scenario.expect[-1]
    two = alarm.model_copy(update={"transitions": ["ALARM", "OK"]})
    period, periods = scenario.alarm_timing(alarm.alarm)
    lookback = lookback_count(periods) * period
    one = deadline_seconds(scenario, alarm)
    assert deadline_seconds(scenario, two) == pytest.approx(one + period * periods + lookback)


@pytest.mark.parametrize("scenario", load_scenarios([SCENARIOS]), ids=lambda scenario: scenario.name)
def test_a_healthy_run_of_every_shipped_scenario_beats_every_deadline(scenario: Scenario) -> None:
    clock = FakeClock()
    observations = FakeObservations(clock, started_at=clock.now, platform=MODEL)
    last_event = simulate_pipeline(scenario, observations, MODEL)
    for expectation in scenario.expect:
        deadline = deadline_seconds(scenario, expectation)
        if expectation.kind == "alarm" or getattr(expectation, "topic", None) == "alarms":
            # The scripted alarm notifications satisfy it at least a second before its deadline (a `never`
            # holds throughout, so it is looked at just before the deadline).
            first = next(
                (
                    step
                    for step in _moments(observations, deadline)
                    if expectation.check(_snapshot_at(scenario, clock, observations, step)).holds
                ),
                None,
            )
            assert first is not None and first <= deadline - 1.0, (expectation, deadline, first)
        else:
            assert deadline >= last_event + QUIET_SECONDS + 1.0, (expectation, deadline, last_event)


def _snapshot_at(scenario: Scenario, clock: FakeClock, observations: FakeObservations, offset: float) -> Snapshot:
    clock.now = observations.started_at + offset
    return Snapshot(scenario, observations)


def _moments(observations: FakeObservations, deadline: float) -> list[float]:
    """Where a verdict can change: the start and each scripted moment (offsets), up to the deadline."""
    moments = {0.0} | {moment - observations.started_at for moment in observations._scripted_moments()}
    return sorted(moment for moment in moments if moment <= deadline)


def test_a_message_on_the_alarms_topic_may_be_a_second_transition_and_waits_for_the_look_back(tmp_path: Path) -> None:
    # An alarm's notification may report a state entered after another, which waits for the first state's
    # datapoints to leave the looked-back periods: the message's deadline allows what a second transition does.
    scenario = shipped("design-alarm-periods")
    [message] = [e for e in scenario.expect if e.kind == "sns" and e.topic == "alarms"]
    [alarm] = [e for e in scenario.expect if e.kind == "alarm" and e.alarm == "job_not_run"]
    assert len(alarm.transitions) == 2
    assert deadline_seconds(scenario, message) >= deadline_seconds(scenario, alarm)
