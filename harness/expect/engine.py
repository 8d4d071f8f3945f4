"""The polling loop: check every expectation until each has a verdict, moving the stack's clock over idle time.

An expectation passes once it holds and the system has settled (nothing more can change an exact
count), or, for an ordered alarm sequence, as soon as it holds. It fails when its deadline passes without
it holding, or as soon as the pipeline has settled and it still does not hold (a time-driven expectation,
decided by the alarms' clock, waits for its deadline). At its deadline a holding expectation passes even if
the system never settled.

Everything is on the stack's clock (`harness.localstack.clock`). Whenever the platform says none of the
stack's code runs, the engine moves the clock to the next moment that matters: the platform's next wake-up
(a retry, the end of an injected wait, an alarm evaluation that can change a state), or the first moment at
which an undecided expectation is decided by time alone (its deadline). A retry 2 minutes away or a 1-day
alarm period costs no waiting; running code is never skipped. `max_wait_seconds` bounds the wall time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from harness.model.platform import Platform
from harness.observe import Observations
from harness.records import ClockReading
from harness.scenario import Expectation
from harness.scenario import ScenarioDocument as Scenario
from harness.text import offset

from .deadlines import deadline
from .events import build_events
from .report import Outcome, Report
from .settling import Settling
from .snapshot import Snapshot
from .timeline import build_timeline

# Where the platform does not count its own work for the stack, an idle pipeline must stay idle this long
# before an unmet expectation fails ahead of its deadline, so that a slow hand-off is not taken for one that
# never comes. Where it does, its count is the evidence, and no grace is needed.
FAIL_GRACE_SECONDS = 2.0
# While the stack runs code, the engine asks again after at most this long (the platform answers at once
# when the stack goes idle: `Observations.reading` may wait for that).
POLL_SECONDS = 0.1


class _Tracker:
    def __init__(self, scenario: Scenario, index: int, expectation: Expectation, started_at: float,
                 platform: Platform) -> None:
        self.expectation = expectation
        self.time_driven = expectation.time_driven(scenario)
        self.scenario, self.index = scenario, index
        self.location = scenario.location("expect", index)
        self.started_at = started_at
        self.limit = deadline(scenario, expectation, platform)
        self.deadline = started_at + self.limit.seconds
        self.max_wait_seconds = scenario.max_wait_seconds
        self.outcome: Outcome | None = None

    def poll(self, snapshot: Snapshot, settled_since: float | None, out_of_wall_time: bool = False,
             grace: float = FAIL_GRACE_SECONDS) -> None:
        verdict = self.expectation.check(snapshot)
        moment = snapshot.now
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
                         f"after max_wait_seconds={self.max_wait_seconds:g} s of wall time, at "
                         f"{offset(moment - self.started_at)} on the stack's clock (the stack kept running code)")
        elif (
            settled_since is not None
            and not self.time_driven
            and moment - settled_since >= grace
        ):
            self._decide(
                verdict,
                moment,
                False,
                f"settled since {offset(settled_since - self.started_at)}: nothing more was on its way",
            )

    def decides_by(self, settled_since: float | None, grace: float) -> float:
        """The moment on the stack's clock by which time alone decides it (its deadline, or the end of the
        grace after the system settled)."""
        if settled_since is not None and not self.time_driven and not self.expectation.needs_whole_window:
            return min(self.deadline, settled_since + grace)
        return self.deadline

    def _location(self, at: tuple[str | int, ...]) -> str:
        """Where the verdict points: the setting it is about (`Verdict.at`), else the expectation."""
        if not at:
            return self.location
        return self.scenario.location("expect", self.index, self.expectation.kind, *at)

    def _decide(self, verdict: Any, moment: float, passed: bool, note: str) -> None:
        self.outcome = Outcome(
            expectation=self.expectation,
            location=self._location(verdict.at),
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
    sleep: Callable[[float], None] = time.sleep,
    poll_interval: float = POLL_SECONDS,
    wall_clock: Callable[[], float] = time.monotonic,
) -> Report:
    """Poll `observations` until every expectation of `scenario` has a verdict; return the report.

    Deadlines count from `observations.started_at`, on the stack's clock, which the observations read
    (`Observations.reading`); `wall_clock` and `sleep` pace the polling and bound it by max_wait_seconds."""
    started_at = observations.started_at
    wall_started = wall_clock()
    trackers = [_Tracker(scenario, index, expectation, started_at, observations.platform)
                for index, expectation in enumerate(scenario.expect)]
    settling = Settling(scenario)
    settled_since: float | None = None
    while True:
        snapshot = Snapshot(scenario, observations)
        pending = settling.pending(snapshot)
        if pending:
            settled_since = None
        elif settled_since is None:
            settled_since = snapshot.now
        grace = 0.0 if snapshot.activity is not None else FAIL_GRACE_SECONDS
        out_of_wall_time = wall_clock() - wall_started >= scenario.max_wait_seconds
        undecided = [tracker for tracker in trackers if tracker.outcome is None]
        for tracker in undecided:
            tracker.poll(snapshot, settled_since, out_of_wall_time, grace)
        undecided = [tracker for tracker in undecided if tracker.outcome is None]
        if not undecided:
            break
        moment = min(tracker.decides_by(settled_since, grace) for tracker in undecided)
        if move_clock(observations, snapshot.clock, moment):
            continue
        pause(observations, snapshot.clock, sleep, poll_interval)
    outcomes = [tracker.outcome for tracker in trackers if tracker.outcome is not None]
    return Report(
        scenario=scenario.name,
        outcomes=outcomes,
        timeline=build_timeline(snapshot),
        elapsed=snapshot.now - started_at,
        pending=pending,
        events=build_events(snapshot),
        timing=timing_text(scenario, observations.platform),
        wall_seconds=wall_clock() - wall_started,
    )


def move_clock(observations: Observations, reading: ClockReading, until: float) -> bool:
    """Move an idle stack's clock towards `until`, from wake-up to wake-up, stopping at an alarm's state
    change or where its code runs again; whether it moved (or has something to show)."""
    if not reading.idle or until <= reading.now:
        return False
    answer = observations.advance_clock(until, stop_at_change=True)
    if not answer or "now" not in answer:
        return False  # no stack clock, or its code runs again already
    return bool(answer.get("fired")) or float(answer["now"]) > reading.now


def pause(observations: Observations, reading: ClockReading, sleep: Callable[[float], None],
          poll_interval: float) -> None:
    """Until the next poll: while the stack's code runs, until it stops (at most a poll interval), so that the
    clock moves on as soon as it may; otherwise a poll interval."""
    if reading.busy:
        observations.wait_idle(poll_interval)
    else:
        sleep(poll_interval)


def while_running[T](observations: Observations, call: Callable[[], T], *, sleep: Callable[[float], None] = time.sleep,
                     poll_interval: float = POLL_SECONDS) -> T:
    """`call()` (the harness's synchronous invoke of a function), with the stack's clock moved meanwhile to
    what the platform owes the invocation when none of its code runs: the function may wait on the clock
    (an injected timeout, a 900 s Timeout) while the caller waits for its answer. Only owed wake-ups: while
    the call is on its way to LocalStack, the stack is idle too, and its alarms must not move on before it."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-invoke") as pool:
        future = pool.submit(call)
        while True:
            try:
                return future.result(timeout=poll_interval)
            except concurrent.futures.TimeoutError:
                pass
            reading = observations.reading()
            owed = [float(wakeup["due"]) for wakeup in reading.owed()]
            if owed:
                move_clock(observations, reading, min(owed))


def wait_for_alarm(observations: Observations, condition: Callable[[], bool], *, until: float, what: str,
                   sleep: Callable[[float], None] = time.sleep, poll_interval: float = POLL_SECONDS,
                   wall_seconds: float = 120.0, wall_clock: Callable[[], float] = time.monotonic) -> None:
    """Until `condition()` holds (an alarm in a state), moving the idle stack's clock from one alarm state
    change to the next, up to `until` on its clock; raises `DeadlineExceeded` naming `what` past it."""
    from harness.waiting import DeadlineExceeded

    started = wall_clock()
    while not condition():
        reading = observations.reading()
        if reading.now >= until or wall_clock() - started >= wall_seconds:
            raise DeadlineExceeded(f"{what}: not by {offset(until - observations.started_at)} on the stack's clock")
        if not move_clock(observations, reading, until):
            pause(observations, reading, sleep, poll_interval)


def timing_text(scenario: Scenario, platform: Platform) -> str:
    """How time ran and each alarm's period in AWS's units, like "each stack runs on its own clock ...;
    alarm periods: job_not_run 1 day, job_failed 60 s"."""
    periods = [f"{alarm} {aws_duration(scenario.alarm_timing(alarm)[0])}" for alarm in scenario.alarms()]
    return f"{platform.describe()}" + (f"; alarm periods: {', '.join(periods)}" if periods else "")


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
    sleep: Callable[[float], None] = time.sleep,
    poll_interval: float = POLL_SECONDS,
    wall_clock: Callable[[], float] = time.monotonic,
) -> list[str]:
    """Wait until the runs started so far have settled (say, before submitting the next run), moving the
    stack's clock over idle time to what the platform still owes it (a retry, the end of a wait).

    Returns [] once settled, or what was still pending after `timeout` seconds of wall time."""
    started = wall_clock()
    settling = Settling(scenario, expect_all_runs=False)
    while True:
        snapshot = Snapshot(scenario, observations)
        pending = settling.pending(snapshot)
        if not pending or wall_clock() - started >= timeout:
            return pending
        owed = [float(wakeup["due"]) for wakeup in snapshot.clock.owed()]
        if owed and move_clock(observations, snapshot.clock, min(owed)):
            continue
        pause(observations, snapshot.clock, sleep, poll_interval)
