"""Virtual time: which alarm evaluations a stack's clock wakes up for (`harness.localstack.alarms.
next_evaluation`), and when the engine moves the clock (`harness.expect.engine`): only once the pipeline has
settled and only alarms can decide what is left, stopping at each state change and waiting for its
notification."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.expect import evaluate
from harness.localstack.alarms import next_evaluation
from harness.model.platform import embedded
from harness.scenario import Scenario
from tests.support.fakes import FakeClock, FakeObservations, scenario_from_yaml

DAY = 86400.0
SKIPPING = embedded()
WALL_CLOCK_ONLY = replace(SKIPPING, virtual_clock=False)
JOB = "clock-under-test"
SHARD = {"job_id": JOB, "shard_id": "0000", "file_ids": ["f-0000", "f-0001"], "reshard_depth": 0}


# -- the evaluations a skip wakes up for ---------------------------------------------------------------------

def wakeups(*, now: float, until: float, grid_from: float, interval: float, period: float, looked_back: int,
            datapoints: list[float]) -> list[float]:
    """The evaluations the clock stops at when moved from `now` (its last evaluation made) to `until`."""
    points: list[float] = []
    after = now
    while (point := next_evaluation(after=after, grid_from=grid_from, interval=interval, period=period,
                                    looked_back=looked_back, datapoints=datapoints)) is not None and point <= until:
        points.append(point)
        after = point
    return points


def test_the_first_evaluation_is_at_the_alarms_creation() -> None:
    assert next_evaluation(after=None, grid_from=12.5, interval=DAY, period=DAY, looked_back=3, datapoints=[]) == 12.5


def test_a_skip_over_days_evaluates_a_daily_alarm_where_its_data_moves_on() -> None:
    points = wakeups(now=10, until=10 * DAY, grid_from=0, interval=DAY, period=DAY, looked_back=3, datapoints=[5])
    # The evaluation at +10 s (the last made) saw the datapoint in period 0, as the one at 1 day does; it moves
    # to periods 1 and 2, then leaves the look-back of 3; no more.
    assert points == [2 * DAY, 3 * DAY, 4 * DAY]


def test_a_skip_with_no_data_wakes_up_for_nothing() -> None:
    assert wakeups(now=0.5, until=100.2, grid_from=0.3, interval=1, period=1, looked_back=3, datapoints=[]) == []


def _looked_back(moment: float, period: int, looked_back: int, datapoints: list[int]) -> tuple[tuple[int, ...], ...]:
    """What LocalStack's evaluation at `moment` sees: per looked-back period, the datapoints in
    [moment - (k + 1) period, moment - k period), both ends truncated to whole seconds as its store does."""
    return tuple(
        tuple(d for d in datapoints if int(moment - (k + 1) * period) <= d < int(moment - k * period))
        for k in range(looked_back)
    )


def test_a_daily_alarm_wakes_up_when_its_datapoint_leaves_a_period_a_fraction_of_a_second_after_an_evaluation() -> None:
    """Found by the property below (make test on a fresh clone): a whole-second crossing 0.054 s after an
    evaluation of a daily alarm was taken for that evaluation itself, which a snap of 1e-6 grid steps allowed
    (0.086 s at 86,400 s a step), so the next day's evaluation, which sees the datapoint in another period,
    was never woken up for."""
    grid_from = 1000.0 + 0.300693813772547 * 86400
    now = grid_from + 18 * 86400
    assert next_evaluation(after=now, grid_from=grid_from, interval=86400, period=86400, looked_back=3,
                           datapoints=[1495779.0]) == pytest.approx(grid_from + 19 * 86400)


@settings(max_examples=300, deadline=None)
@given(
    period=st.sampled_from([10, 30, 60, 300, 86400]),
    evaluation_periods=st.integers(1, 3),
    looked_back=st.integers(3, 4),
    phase=st.floats(0, 0.999),
    now_steps=st.integers(0, 30),
    span_steps=st.integers(1, 40),
    data=st.data(),
)
def test_every_evaluation_that_sees_other_data_than_the_one_before_is_woken_up_for(
    period: int, evaluation_periods: int, looked_back: int, phase: float, now_steps: int, span_steps: int,
    data: st.DataObject,
) -> None:
    interval = period * evaluation_periods
    grid_from = 1000.0 + phase * interval
    last_made = now_steps  # the evaluation the clock last made, before the skip
    now = grid_from + last_made * interval
    until = now + span_steps * interval * data.draw(st.floats(0.1, 1.0))
    # Datapoints stored before the skip (an idle stack stores none during it), within reach of the look-back.
    lowest = max(0, int(now) - (looked_back + 2) * period)
    datapoints = data.draw(st.lists(st.integers(lowest, max(lowest, int(now) - 1)), max_size=4))
    points = wakeups(now=now, until=until, grid_from=grid_from, interval=interval, period=period,
                     looked_back=looked_back, datapoints=[float(d) for d in datapoints])
    indices = [(point - grid_from) / interval for point in points]
    assert all(abs(index - round(index)) < 1e-6 for index in indices), "points are on the evaluation grid"
    assert indices == sorted(set(indices)), "in order, each once"
    made = {round(index) for index in indices} | {last_made}
    in_skip = [k for k in range(last_made + 1, math.floor((until - grid_from) / interval + 1e-6) + 1)]

    def seen(k: int) -> tuple[tuple[int, ...], ...]:
        return _looked_back(grid_from + k * interval, period, looked_back, datapoints)

    for k in in_skip:
        previous = max(m for m in made if m < k)
        if seen(k) != seen(previous):
            assert k in made, f"evaluation {k} sees other data than evaluation {previous}, the last one made"


# -- when the engine skips ----------------------------------------------------------------------------------

def daily(tmp_path: Path, *expectations: str, max_wait: float = 300) -> Scenario:
    items = "\n".join(f"  - {expectation}" for expectation in expectations)
    return scenario_from_yaml(
        f"""\
name: {JOB}
description: A clean job under the design's daily JOB NOT RUN alarm.
stack:
  alarms:
    job_not_run: {{period_seconds: 86400}}
job: {{files: 2, shard_size: 2}}
max_wait_seconds: {max_wait}
expect:
{items}
""",
        tmp_path,
    )


def clean_job(observations: FakeObservations) -> float:
    """The job runs for 1.5 s; returns when its last attempt ended (seconds from the start)."""
    job = {"job_id": JOB, "file_ids": SHARD["file_ids"], "shard_size": 2}
    observations.add_invocation("orchestrator", job, ["ok"], at=0.0)
    observations.add_attempt("worker", "req-1", 1, at=0.5, took=1.0, event=SHARD)
    observations.add_notification("JOB SUCCEEDED", {"job_id": JOB}, at=1.5)
    return 1.5


def run(scenario: Scenario, script, platform=SKIPPING):  # type: ignore[no-untyped-def]
    clock = FakeClock()
    observations = FakeObservations(clock, started_at=clock.now, platform=platform)
    script(observations)
    report = evaluate(scenario, observations, wall_clock=clock, sleep=clock.sleep)
    return report, observations, clock


DAILY = "alarm: {alarm: job_not_run, transitions: [OK, ALARM], because: [datapoints, missing_data]}"


def a_day_then_days_idle(observations: FakeObservations) -> None:
    clean_job(observations)
    observations.add_alarm("job_not_run", "OK", old_state="ALARM", at=DAY)
    observations.add_alarm("job_not_run", "ALARM", old_state="OK", at=4 * DAY,
                           reason="Threshold Crossed: no datapoints were received for 1 period and 1 missing "
                                  "datapoint was treated as [Breaching].")


def test_a_daily_alarm_is_decided_in_seconds_of_wall_time_by_skipping_the_idle_days(tmp_path: Path) -> None:
    report, observations, clock = run(daily(tmp_path, DAILY), a_day_then_days_idle)
    assert report.passed, report
    outcome = report.outcomes[0]
    assert outcome.decided_at == pytest.approx(4 * DAY, abs=0.2)  # decided at the change that decides it
    assert sum(clock.sleeps) < 5  # the job, its settling, and the notifications: not 4 days
    moves = [answer for answer in observations.advances if "now" in answer]
    assert moves and moves[-1]["now"] - observations.started_at == pytest.approx(4 * DAY, abs=0.2)
    assert all(not answer.get("busy") for answer in observations.advances)


def test_on_the_wall_clock_alone_the_same_alarm_runs_out_of_time(tmp_path: Path) -> None:
    report, observations, _ = run(daily(tmp_path, DAILY, max_wait=60), a_day_then_days_idle,
                                  platform=WALL_CLOCK_ONLY)
    assert not report.passed
    assert "capped at max_wait_seconds=60" in report.outcomes[0].note
    assert observations.advances == []


def test_the_clock_moves_only_while_no_code_of_the_stack_runs(tmp_path: Path) -> None:
    running_at_move: list[list[str]] = []

    def record(observations: FakeObservations) -> None:
        a_day_then_days_idle(observations)
        advance = observations.advance_clock

        def watched(until: float, *, stop_at_change: bool):  # type: ignore[no-untyped-def]
            running_at_move.append(observations._running(observations.now))
            return advance(until, stop_at_change=stop_at_change)

        observations.advance_clock = watched  # type: ignore[method-assign]

    report, observations, _ = run(daily(tmp_path, DAILY), record)
    assert report.passed
    assert running_at_move and all(running == [] for running in running_at_move)
    # The job's attempts run for 0.1 s of their own code each: the clock did not move during them.
    assert all(not answer.get("busy") for answer in observations.advances)


def test_no_skip_while_an_expectation_waits_for_the_pipeline(tmp_path: Path) -> None:
    # A second JOB SUCCEEDED never comes: that count fails a grace period after the pipeline settled, and
    # only then is time skipped (a skip first would have let days pass before it failed).
    expectation = "sns: {topic: notifications, subject: JOB SUCCEEDED, count: 2}"
    report, observations, _ = run(daily(tmp_path, DAILY, expectation), a_day_then_days_idle)
    assert [outcome.passed for outcome in report.outcomes] == [True, False]
    assert report.outcomes[1].note.startswith("settled since")  # not skipped past: failed where it stood
    assert report.outcomes[1].decided_at < 10
    assert observations.advances


def test_a_skip_stops_at_each_change_and_waits_for_its_notification(tmp_path: Path) -> None:
    # An alarm that must never enter ALARM does, after a day; its notification is delivered 2 s after the
    # change. Had the engine skipped on to the deadline without waiting for it, it would have passed.
    def late(observations: FakeObservations) -> None:
        clean_job(observations)
        observations.add_alarm("job_not_run", "ALARM", old_state="OK", at=DAY + 1, delivered_after=2.0)

    report, _, clock = run(daily(tmp_path, "alarm: {alarm: job_not_run, never: [ALARM]}"), late)
    assert not report.passed
    assert "ALARM" in report.outcomes[0].observed
    assert sum(clock.sleeps) < 8


def test_a_stack_that_never_goes_idle_fails_at_max_wait_seconds_of_wall_time(tmp_path: Path) -> None:
    # The platform keeps reporting work, so the settling never completes and the clock is never moved: the
    # 4-day deadline is out of reach, and max_wait_seconds of wall time ends the wait, saying why.
    def never_idle(observations: FakeObservations) -> None:
        a_day_then_days_idle(observations)
        observations.platform_activity = lambda t: ["1 event(s) of worker being handled"]

    report, observations, clock = run(daily(tmp_path, DAILY, max_wait=20), never_idle)
    assert not report.passed
    assert report.outcomes[0].note.startswith("after max_wait_seconds=20 s of wall time")
    assert observations.advances == []
    assert 20 <= sum(clock.sleeps) <= 20.2
