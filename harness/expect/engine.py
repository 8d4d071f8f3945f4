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
        self.outcome: Outcome | None = None

    def poll(self, snapshot: Snapshot, settled_since: float | None) -> None:
        verdict = check(self.expectation, snapshot)
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

    def now() -> float:
        return anchor_wall + (clock() - anchor_clock)

    started_at = observations.started_at
    trackers = [_Tracker(scenario, index, expectation, started_at, observations.platform)
                for index, expectation in enumerate(scenario.expect)]
    settling = Settling(scenario)
    settled_since: float | None = None
    while True:
        snapshot = Snapshot(scenario, observations, now())
        pending = settling.pending(snapshot)
        if pending:
            settled_since = None
        elif settled_since is None:
            settled_since = snapshot.now
        undecided = [tracker for tracker in trackers if tracker.outcome is None]
        for tracker in undecided:
            tracker.poll(snapshot, settled_since)
        undecided = [tracker for tracker in undecided if tracker.outcome is None]
        if not undecided:
            break
        next_deadline = min(tracker.deadline for tracker in undecided)
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


def timing_text(scenario: Scenario, platform: Platform) -> str:
    """The time scale and each alarm's period in AWS's seconds with the wall time it took here, like
    "1 min = 1 s, 1 day = 1440 s; alarm periods: job_not_run 60 s (1 s here), job_failed 60 s (1 s here)"."""
    periods = []
    for alarm in ALARMS:
        period = float(scenario.stack.alarm(alarm).period_seconds or 60)
        periods.append(f"{alarm} {period:g} s ({platform.alarm_seconds(period):g} s here)")
    return f"{platform.scale_text()}; alarm periods: {', '.join(periods)}"


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
