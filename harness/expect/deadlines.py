"""Deadlines and floors, derived from the scenario's own timeouts, retry delays and alarm periods.

Both come from the one model of the pipeline (`harness.model.walk`), at AWS's timing (retries 1 and 2
minutes after a failure): the *floor* walks it at the optimistic pace, what the scenario cannot go below; a
*deadline* walks it at the pessimistic pace and adds slack. All are on the stack's clock, which skips
whatever idle time is left before a deadline, so a generous deadline costs no waiting; `max_wait_seconds`
bounds the wall time a scenario may take instead (`harness.expect.engine`). On a LocalStack without stack
clocks, time is real and the deadlines are capped by `max_wait_seconds`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.model.platform import Platform
from harness.model.walk import OPTIMISTIC, PESSIMISTIC, Pace, Timing, walk_runs
from harness.scenario import Expectation
from harness.scenario import ScenarioDocument as Scenario
from harness.wire import lookback_count

# No new observation for this long is one of the signs that the system has settled.
QUIET_SECONDS = 1.0
DEADLINE_SLACK_SECONDS = 3.0
DEADLINE_SLACK_FRACTION = 0.25
ALARM_SLACK_SECONDS = 5.0


def slowest_run(scenario: Scenario, platform: Platform, pace: Pace) -> Timing:
    """The walk of the run that takes longest (faults can be armed for some runs only)."""
    return max(walk_runs(scenario, platform, pace), key=lambda timing: timing.done, default=Timing())


def first_error_run(scenario: Scenario, platform: Platform, pace: Pace) -> tuple[int, float] | None:
    """(run, seconds into that run) of the first failing attempt over all runs; None when none fails."""
    for run, timing in enumerate(walk_runs(scenario, platform, pace), start=1):
        if timing.first_error is not None:
            return run, timing.first_error
    return None


@dataclass(frozen=True)
class Deadline:
    """An expectation's deadline in seconds from the job's start, and where it came from."""

    seconds: float
    derived: float
    """What the stack's timings give (or within_seconds), before the cap."""
    cap: float
    virtual: bool = False
    """On a stack clock that skips idle time: the deadline is on that clock, not capped; the cap bounds
    the wall time instead (`harness.expect.engine`)."""

    @property
    def capped(self) -> bool:
        return not self.virtual and self.derived > self.cap

    def note(self) -> str:
        """Why the deadline is what it is, for a failure report; empty when nothing needs saying."""
        if not self.capped:
            return ""
        return (
            f"the deadline was capped at max_wait_seconds={self.cap:g} s (derived: {self.derived:,.0f} s); "
            "raise max_wait_seconds, give the expectation within_seconds, or shorten the stack's periods"
        )


def job_floor_seconds(scenario: Scenario, platform: Platform) -> float:
    """The part of the floor that is the job's own retry delays and timeouts."""
    return scenario.runs() * slowest_run(scenario, platform, OPTIMISTIC).done


def floor_seconds(scenario: Scenario, platform: Platform) -> float:
    """The time the scenario's own delays, timeouts and alarm periods make unavoidable.

    Counted from the job's start, taking the alarms to be created just before it (a fresh stack), so
    that CloudWatch evaluates them at one, two, ... evaluation intervals from then.
    """
    timing = slowest_run(scenario, platform, OPTIMISTIC)
    candidates = [job_floor_seconds(scenario, platform)]
    first_error = first_error_run(scenario, platform, OPTIMISTIC)
    trigger = 0.0
    if first_error is not None:
        trigger = (first_error[0] - 1) * timing.done + first_error[1]

    def alarm_floor(alarm: str, states: int) -> float:
        # CloudWatch sees the first error at its next evaluation; each further state costs an interval.
        interval = scenario.alarm_interval(alarm)
        cause = trigger if alarm == "job_failed" else 0.0
        return max(1, math.ceil(cause / interval - 1e-9)) * interval + (states - 1) * interval

    for expectation in scenario.expect:
        awaited = expectation.awaited_alarms(scenario)
        if awaited:
            candidates.append(min(alarm_floor(alarm, states) for alarm, states in awaited))
        if expectation.needs_whole_window:
            # What must never happen is only proved by watching its whole window.
            candidates.append(deadline(scenario, expectation, platform).seconds)
    return max(candidates)


def deadline(scenario: Scenario, expectation: Expectation, platform: Platform) -> Deadline:
    """How long after the job's start the expectation may take to hold, capped by max_wait_seconds."""
    if expectation.within_seconds is not None:
        derived = float(expectation.within_seconds)
    elif awaited := expectation.awaited_alarms(scenario):
        derived = max(alarm_deadline_seconds(scenario, platform, alarm, states) for alarm, states in awaited)
    else:
        derived = pipeline_deadline_seconds(scenario, platform)
    if platform.virtual_clock:
        return Deadline(derived, derived, scenario.max_wait_seconds, virtual=True)
    return Deadline(min(derived, scenario.max_wait_seconds), derived, scenario.max_wait_seconds)


def deadline_seconds(scenario: Scenario, expectation: Expectation, platform: Platform) -> float:
    return deadline(scenario, expectation, platform).seconds


def between_runs_seconds(scenario: Scenario, platform: Platform) -> float:
    """The longest wait before a later run: settling, a hand-off, and the alarm state it may wait for."""
    wait = QUIET_SECONDS + PESSIMISTIC.handoff
    job = getattr(scenario, "job", None)
    if job is not None and job.next_run_when is not None:
        alarm = job.next_run_when.alarm
        period, periods = scenario.alarm_timing(alarm)
        # An evaluation looks back several periods, so a state caused by earlier datapoints can outlast
        # them by that much, then the next evaluation changes it.
        wait += lookback_count(periods) * period + scenario.alarm_interval(alarm)
    return wait


def pipeline_busy_seconds(scenario: Scenario, platform: Platform) -> float:
    """The pessimistic time until every run's chain of attempts, dead letters and re-shards is over."""
    timing = slowest_run(scenario, platform, PESSIMISTIC)
    runs = scenario.runs()
    return runs * timing.done + max(0, runs - 1) * between_runs_seconds(scenario, platform)


def pipeline_deadline_seconds(scenario: Scenario, platform: Platform) -> float:
    """Until every run's chain of attempts, dead letters and re-shards is over and has gone quiet."""
    busy = pipeline_busy_seconds(scenario, platform)
    return busy * (1 + DEADLINE_SLACK_FRACTION) + QUIET_SECONDS + DEADLINE_SLACK_SECONDS


def alarm_deadline_seconds(scenario: Scenario, platform: Platform, alarm: str, transitions: int) -> float:
    """CloudWatch evaluates every interval from the alarm's creation, which may be up to an interval before
    or after its cause: a state change is seen within two intervals of its cause, one more per state."""
    interval = scenario.alarm_interval(alarm)
    trigger = 0.0
    if scenario.triggers():
        runs = scenario.runs()
        if alarm == "job_failed" and runs == 1:
            trigger = walk_runs(scenario, platform, PESSIMISTIC)[0].first_error or 0.0
        else:
            trigger = pipeline_busy_seconds(scenario, platform)
    # A state entered after another can wait for the datapoints behind the first to leave the look-back.
    period, periods = scenario.alarm_timing(alarm)
    lookback = lookback_count(periods) * period if transitions > 1 else 0.0
    return trigger + (transitions + 1) * interval + lookback + ALARM_SLACK_SECONDS


__all__ = [
    "QUIET_SECONDS",
    "Deadline",
    "alarm_deadline_seconds",
    "between_runs_seconds",
    "deadline",
    "deadline_seconds",
    "first_error_run",
    "floor_seconds",
    "job_floor_seconds",
    "pipeline_deadline_seconds",
    "slowest_run",
]
