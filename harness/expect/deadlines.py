"""Deadlines and floors, derived from the scenario's own timeouts, retry delays and alarm periods.

Both come from one walk through what the pipeline will do with the scenario's faults (`walk.py`):
the *floor* walks it optimistically, what the scenario cannot go below; a *deadline* walks it
pessimistically and adds slack: long enough for a healthy run, and no longer, since a failing test waits
all of it. No deadline exceeds the scenario's `max_wait_seconds`: a derived deadline can be huge (a 1-day
alarm period), and a wrong expectation must then fail at the cap, saying so, instead of hanging.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.scenario import (
    ALARMS,
    AlarmExpectation,
    AlarmName,
    Expectation,
    Scenario,
    SnsExpectation,
)

from .walk import (
    ATTEMPT_SECONDS,
    HANDOFF_SECONDS,
    RETRY_BASE_DELAY_SECONDS,
    RETRY_LATENESS_SECONDS,
    Timing,
    first_error_run,
    simulate,
    slowest_run,
    split_evenly,
)

# No new observation for this long is one of the signs that the system has settled.
QUIET_SECONDS = 1.0
DEADLINE_SLACK_SECONDS = 3.0
DEADLINE_SLACK_FRACTION = 0.25
ALARM_SLACK_SECONDS = 5.0


@dataclass(frozen=True)
class Deadline:
    """An expectation's deadline in seconds from the job's start, and where it came from."""

    seconds: float
    derived: float
    """What the stack's timings give (or within_seconds), before the cap."""
    cap: float

    @property
    def capped(self) -> bool:
        return self.derived > self.cap

    def note(self) -> str:
        """Why the deadline is what it is, for a failure report; empty when nothing needs saying."""
        if not self.capped:
            return ""
        return (
            f"the deadline was capped at max_wait_seconds={self.cap:g} s (derived: {self.derived:,.0f} s); "
            "raise max_wait_seconds, give the expectation within_seconds, or shorten the stack's periods"
        )


def floor_seconds(scenario: Scenario) -> float:
    """The time the scenario's own delays, timeouts and alarm periods make unavoidable.

    Counted from the job's start, taking the alarms to be created just before it (a fresh stack), so
    that CloudWatch evaluates them at one, two, ... evaluation intervals from then.
    """
    timing = slowest_run(scenario, pessimistic=False)
    runs = scenario.job.runs if scenario.job else 0
    candidates = [runs * timing.done]
    first_error = first_error_run(scenario, pessimistic=False)
    for expectation in scenario.expect:
        if isinstance(expectation, AlarmExpectation):
            interval = scenario.stack.evaluation_interval(expectation.alarm)
            trigger = 0.0
            if expectation.alarm == "job_failed" and first_error is not None:
                trigger = (first_error[0] - 1) * timing.done + first_error[1]
            first = max(1, math.ceil(trigger / interval - 1e-9)) * interval
            candidates.append(first + max(0, len(expectation.transitions) - 1) * interval)
            if expectation.never:
                # A state that must never be entered is only proved by watching its whole window.
                candidates.append(deadline(scenario, expectation).seconds)
        elif isinstance(expectation, SnsExpectation) and expectation.topic == "alarms":
            candidates.append(min(scenario.stack.evaluation_interval(alarm) for alarm in ALARMS))
    return max(candidates)


def deadline(scenario: Scenario, expectation: Expectation) -> Deadline:
    """How long after the job's start the expectation may take to hold, capped by max_wait_seconds."""
    if expectation.within_seconds is not None:
        derived = float(expectation.within_seconds)
    elif isinstance(expectation, AlarmExpectation):
        derived = alarm_deadline_seconds(scenario, expectation.alarm, max(1, len(expectation.transitions)))
    elif isinstance(expectation, SnsExpectation) and expectation.topic == "alarms":
        derived = max(alarm_deadline_seconds(scenario, alarm, 1) for alarm in ALARMS)
    else:
        derived = pipeline_deadline_seconds(scenario)
    return Deadline(min(derived, scenario.max_wait_seconds), derived, scenario.max_wait_seconds)


def deadline_seconds(scenario: Scenario, expectation: Expectation) -> float:
    return deadline(scenario, expectation).seconds


def between_runs_seconds(scenario: Scenario) -> float:
    """The longest wait before a later run: settling, a hand-off, and the alarm state it may wait for."""
    wait = QUIET_SECONDS + HANDOFF_SECONDS
    job = scenario.job
    if job is not None and job.next_run_when is not None:
        alarm = job.next_run_when.alarm
        settings = scenario.stack.alarm(alarm)
        # LocalStack looks back EvaluationPeriods + 2 periods, so a state caused by earlier datapoints can
        # outlast them by that much, then the next evaluation changes it.
        wait += (settings.evaluation_periods + 2) * float(settings.period_seconds or 0) + \
            scenario.stack.evaluation_interval(alarm)
    return wait


def pipeline_busy_seconds(scenario: Scenario) -> float:
    """The pessimistic time until every run's chain of attempts, dead letters and re-shards is over."""
    timing = slowest_run(scenario, pessimistic=True)
    runs = scenario.job.runs if scenario.job else 0
    return runs * timing.done + max(0, runs - 1) * between_runs_seconds(scenario)


def pipeline_deadline_seconds(scenario: Scenario) -> float:
    """Until every run's chain of attempts, dead letters and re-shards is over and has gone quiet."""
    return pipeline_busy_seconds(scenario) * (1 + DEADLINE_SLACK_FRACTION) + QUIET_SECONDS + DEADLINE_SLACK_SECONDS


def alarm_deadline_seconds(scenario: Scenario, alarm: AlarmName, transitions: int) -> float:
    """CloudWatch evaluates every interval from the alarm's creation, which may be up to an interval before
    or after its cause: a state change is seen within two intervals of its cause, one more per state."""
    interval = scenario.stack.evaluation_interval(alarm)
    trigger = 0.0
    if scenario.job is not None:
        runs = scenario.job.runs
        if alarm == "job_failed" and runs == 1:
            trigger = simulate(scenario, pessimistic=True).first_error or 0.0
        else:
            trigger = pipeline_busy_seconds(scenario)
    return trigger + (transitions + 1) * interval + ALARM_SLACK_SECONDS


__all__ = [
    "ATTEMPT_SECONDS",
    "HANDOFF_SECONDS",
    "QUIET_SECONDS",
    "RETRY_BASE_DELAY_SECONDS",
    "RETRY_LATENESS_SECONDS",
    "Deadline",
    "Timing",
    "alarm_deadline_seconds",
    "deadline",
    "deadline_seconds",
    "floor_seconds",
    "pipeline_deadline_seconds",
    "simulate",
    "split_evenly",
]
