"""The polling loop: check every expectation until each has a verdict.

An expectation passes once it holds and the system has settled (nothing more can change an exact
count), or, for an ordered alarm sequence, as soon as it holds. It fails when its deadline passes without
it holding, or earlier when the pipeline has stayed settled for a while and it still does not hold. At
its deadline a holding expectation passes even if the system never settled: waiting longer than the
semantics need is what deadlines are there to prevent.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from harness.model.platform import Platform
from harness.observe import Observations
from harness.scenario import ALARMS, Expectation, Scenario

from .checks import Verdict, check
from .deadlines import deadline
from .events import build_events
from .report import Outcome, Report
from .settling import Settling
from .snapshot import Snapshot
from .text import offset
from .timeline import build_timeline

# An idle pipeline must stay idle this long before an unmet expectation fails ahead of its deadline,
# so a hand-off that is merely slow (a loaded machine) is not mistaken for one that never comes.
FAIL_GRACE_SECONDS = 2.0


class _Tracker:
    def __init__(self, scenario: Scenario, index: int, expectation: Expectation, started_at: float,
                 platform: Platform) -> None:
        self.expectation = expectation
        self.location = scenario.location("expect", index)
        self.started_at = started_at
        self.limit = deadline(scenario, expectation, platform)
        self.deadline = started_at + self.limit.seconds
        # On a stack clock, the deadline is on that clock, and max_wait_seconds bounds the wall time.
        self.real_deadline = started_at + scenario.max_wait_seconds
        self.outcome: Outcome | None = None

    def poll(self, snapshot: Snapshot, settled_since: float | None, real_now: float | None = None) -> None:
        verdict = check(self.expectation, snapshot)
        moment = snapshot.now
        out_of_wall_time = real_now is not None and real_now >= self.real_deadline
        if verdict.holds and self.expectation.needs_whole_window:
            if moment >= self.deadline:
                self._decide(verdict, moment, True, "")
        elif verdict.holds:
            if settled_since is not None:
                self._decide(verdict, moment, True, "")
            elif self.expectation.monotone:
                self._decide(verdict, moment, True, "")
            elif moment >= self.deadline:
                self._decide(verdict, moment, True, "held at the deadline; the system had not settled")
        elif verdict.final:
            self._decide(verdict, moment, False, f"at {offset(moment - self.started_at)}; nothing can undo it")
        elif moment >= self.deadline:
            note = f"at the deadline, {offset(moment - self.started_at)}"
            if self.limit.capped:
                note += f"; {self.limit.note()}"
            self._decide(verdict, moment, False, note)
        elif out_of_wall_time:
            self._decide(verdict, moment, False,
                         f"after max_wait_seconds={self.real_deadline - self.started_at:g} s of wall time, at "
                         f"{offset(moment - self.started_at)} on the stack's clock (the stack never stayed idle "
                         "long enough for its clock to be moved on)")
        elif (
            settled_since is not None
            and not self.expectation.time_driven
            and moment - settled_since >= FAIL_GRACE_SECONDS
        ):
            self._decide(
                verdict,
                moment,
                False,
                f"settled since {offset(settled_since - self.started_at)}: nothing more was on its way",
            )

    def _decide(self, verdict: Verdict, moment: float, passed: bool, note: str) -> None:
        self.outcome = Outcome(
            expectation=self.expectation,
            location=self.location,
            passed=passed,
            expected=verdict.expected,
            observed=verdict.observed,
            deadline=self.deadline - self.started_at,
            decided_at=moment - self.started_at,
            note=note,
        )


def evaluate(
    scenario: Scenario,
    observations: Observations,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll_interval: float = 0.1,
    wall_clock: Callable[[], float] = time.time,
) -> Report:
    """Poll `observations` until every expectation of `scenario` has a verdict; return the report.

    Deadlines count from `observations.started_at` (epoch seconds). `wall_clock` is read once, to place
    `clock` (which drives the waiting) on the observations' epoch time scale.
    """
    anchor_wall, anchor_clock = wall_clock(), clock()

    def real_now() -> float:
        return anchor_wall + (clock() - anchor_clock)

    def now() -> float:
        """The stack's clock: the wall clock plus the idle time skipped (`Observations.advance_clock`)."""
        return real_now() + observations.clock_offset

    started_at = observations.started_at
    trackers = [_Tracker(scenario, index, expectation, started_at, observations.platform)
                for index, expectation in enumerate(scenario.expect)]
    settling = Settling(scenario)
    settled_since: float | None = None
    skip = _Skipping(observations)
    while True:
        snapshot = Snapshot(scenario, observations, now())
        pending = settling.pending(snapshot)
        if pending:
            settled_since = None
        elif settled_since is None:
            settled_since = snapshot.now
        undecided = [tracker for tracker in trackers if tracker.outcome is None]
        if skip.delivering(snapshot, real_now()):
            sleep(poll_interval)  # no verdict before the alarm notifications of a skip have arrived
            continue
        for tracker in undecided:
            tracker.poll(snapshot, settled_since, real_now())
        undecided = [tracker for tracker in undecided if tracker.outcome is None]
        if not undecided:
            break
        next_deadline = min(tracker.deadline for tracker in undecided)
        if skip.advance(undecided, snapshot, settled_since, next_deadline, real_now()):
            continue
        sleep(max(0.0, min(poll_interval, next_deadline - now())))
    outcomes = [tracker.outcome for tracker in trackers if tracker.outcome is not None]
    return Report(
        scenario=scenario.name,
        outcomes=outcomes,
        timeline=build_timeline(snapshot),
        elapsed=snapshot.now - started_at,
        pending=pending,
        events=build_events(snapshot),
        timing=timing_text(scenario, observations.platform),
    )


# Idle time shorter than this is waited out on the wall clock rather than skipped.
MIN_SKIP_SECONDS = 1.0
# The alarm notifications of a skip normally arrive within milliseconds; past this, verdicts go ahead
# without them (a missing notification then shows as what it is).
SKIP_DELIVERY_SECONDS = 5.0


class _Skipping:
    """Moves the stack's clock over idle time while only alarm evaluations can decide what is left.

    It skips when the pipeline has settled (the settling rules' evidence), every undecided expectation is
    decided by the alarms' clock, and the next deadline is more than `MIN_SKIP_SECONDS` away; it stops at
    each alarm state change, so an expectation is decided at the moment that decides it. The stack's
    LocalStack refuses a skip while it still does anything for the stack (`harness.localstack.clock.busy`).
    """

    def __init__(self, observations: Observations) -> None:
        self.observations = observations
        self.awaited_messages: int | None = None
        self.deliver_by = 0.0

    def delivering(self, snapshot: Snapshot, real_now: float) -> bool:
        if self.awaited_messages is None:
            return False
        if len(snapshot.messages("alarms")) >= self.awaited_messages or real_now >= self.deliver_by:
            self.awaited_messages = None
            return False
        return True

    def advance(self, undecided: list[_Tracker], snapshot: Snapshot, settled_since: float | None,
                next_deadline: float, real_now: float) -> bool:
        """Skip towards `next_deadline` when nothing but the alarms' clock can decide; whether it moved."""
        if settled_since is None or not all(t.expectation.time_driven for t in undecided):
            return False
        seconds = next_deadline - snapshot.now
        if seconds <= MIN_SKIP_SECONDS:
            return False
        answer = self.observations.advance_clock(seconds, stop_at_change=True)
        if not answer or answer.get("busy"):
            return False
        if answer.get("notifications"):
            self.awaited_messages = len(snapshot.messages("alarms")) + int(answer["notifications"])
            self.deliver_by = real_now + SKIP_DELIVERY_SECONDS
        return float(answer.get("advanced", 0.0)) > 0


def timing_text(scenario: Scenario, platform: Platform) -> str:
    """The time scale and each alarm's period in AWS's seconds with the wall time it took here, like
    "1 min = 1 s, 1 day = 1440 s; alarm periods: job_not_run 60 s (1 s here), job_failed 60 s (1 s here)"."""
    periods = []
    for alarm in ALARMS:
        period = float(scenario.stack.alarm(alarm).period_seconds or 60)
        periods.append(f"{alarm} {aws_duration(period)} ({platform.alarm_seconds(period):g} s here)")
    clock = f"; {platform.clock_text()}" if platform.clock_text() else ""
    return f"{platform.scale_text()}{clock}; alarm periods: {', '.join(periods)}"


def aws_duration(seconds: float) -> str:
    """A duration in AWS's units as a person states it: "60 s", "5 min", "1 day", "36 h"."""
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0 and (unit != "min" or seconds > 60):
            count = int(seconds // size)
            return f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''}"
    return f"{seconds:g} s"


def wait_until_settled(
    scenario: Scenario,
    observations: Observations,
    *,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    poll_interval: float = 0.1,
    wall_clock: Callable[[], float] = time.time,
) -> list[str]:
    """Wait until the runs started so far have settled (say, before submitting the next run).

    Returns [] once settled, or what was still pending when `timeout` seconds had passed.
    """
    anchor_wall, anchor_clock = wall_clock(), clock()
    settling = Settling(scenario, expect_all_runs=False)
    while True:
        elapsed = clock() - anchor_clock
        pending = settling.pending(Snapshot(scenario, observations, anchor_wall + elapsed))
        if not pending or elapsed >= timeout:
            return pending
        sleep(max(0.0, min(poll_interval, timeout - elapsed)))
