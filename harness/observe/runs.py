"""Runs of the job made by hand, and a view of the observations that holds only one of them.

`harness up --scenario` deploys a stack and a person triggers its job, as often as they like; `harness check`
then judges the scenario on what happened. No harness marked those runs, so they are read back from the
ledger: each run is one invocation (one request ID, its retries included) of the function the job
triggers, and starts with that request's first attempt (`hand_runs`).

`OneRun` shows the observations of one of those runs: a request (all its attempts) belongs to the latest run
that started before its first attempt; a message, a decision or a log line to the latest run that started
before it arrived. Runs that overlap (one triggered while the previous one still had work on its way, say a
retry 60 s ahead) cannot be told apart that way: `overlaps` says where that happened. What the database
holds is the stack's, whichever run wrote it, and alarm transitions are kept from the alarm's creation on
(the alarm kind tells those before the run's start by itself).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.records import (
    AlarmTransition,
    Attempt,
    ClockReading,
    DecisionRecord,
    InvokeResult,
    LogLine,
    Message,
    QuarantineRecord,
    epoch,
)

if TYPE_CHECKING:
    from harness.model.platform import Platform
    from harness.observe import Observations

__all__ = ["OneRun", "hand_runs", "overlaps", "runs_text"]


def _requests(attempts: list[Attempt]) -> dict[tuple[str, str], list[Attempt]]:
    """Attempts by (function, request ID), each group in the order its attempts started."""
    groups: dict[tuple[str, str], list[Attempt]] = {}
    for attempt in sorted(attempts, key=lambda a: (a.started_at, a.attempt)):
        groups.setdefault((attempt.function, attempt.request_id), []).append(attempt)
    return groups


def hand_runs(attempts: list[Attempt], function: str) -> list[float]:
    """When each run of the job started, in order: the first attempt of each request of `function` (the
    function the job's trigger invokes)."""
    return sorted(group[0].started_at for (name, _), group in _requests(attempts).items() if name == function)


def runs_text(starts: list[float]) -> str:
    """Like "run 1 at +0.0 s, run 2 at +35.2 s": each run's start from the first run's."""
    return ", ".join(f"run {number} at {start - starts[0]:+.1f} s" for number, start in enumerate(starts, 1))


def overlaps(attempts: list[Attempt], starts: list[float]) -> list[str]:
    """Where a run's own work went on after the next run had started (its retries, or a request still
    running), in words; [] when every run was over before the next began."""
    found = []
    for (function, _), group in _requests(attempts).items():
        run = _run_index(group[0].started_at, starts)
        if run + 1 >= len(starts):
            continue
        later = starts[run + 1]
        crossing = next((a for a in group if a.started_at >= later or (a.ended_at or a.started_at) > later), None)
        if crossing is not None:
            found.append(f"{function} attempt {crossing.attempt} of run {run + 1} at "
                         f"{crossing.started_at - starts[0]:+.1f} s, after run {run + 2} started at "
                         f"{later - starts[0]:+.1f} s")
    return found


def _run_index(moment: float, starts: list[float]) -> int:
    """The 0-based index of the latest run that started at or before `moment` (0 before the first)."""
    return max([index for index, start in enumerate(starts) if start <= moment], default=0)


@dataclass
class OneRun:
    """`harness.observe.Observations` of run `number` (1-based) of the runs that started at `starts`; every
    other method passes through to `observations`. `cumulative_topics` are read from the stack's start
    (the alarms' notifications: an alarm's state carries over from one run to the next)."""

    observations: Observations
    starts: list[float]
    number: int
    cumulative_topics: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not 1 <= self.number <= len(self.starts):
            raise ValueError(f"run {self.number} of {len(self.starts)}")
        self.started_at = self.starts[self.number - 1]
        self.run_started_at = [self.started_at]
        self.first_run = self.number
        # Run 1 holds everything before it too (the deploy, the alarms' evaluations at their creation).
        self._from = -math.inf if self.number == 1 else self.started_at
        self._until = self.starts[self.number] if self.number < len(self.starts) else math.inf

    def _holds(self, moment: float, *, cumulative: bool = False) -> bool:
        return (cumulative or moment >= self._from) and moment < self._until

    @property
    def platform(self) -> Platform:
        return self.observations.platform

    def reading(self) -> ClockReading:
        return self.observations.reading()

    def advance_clock(self, until: float, *, stop_at_change: bool) -> dict[str, Any] | None:
        return self.observations.advance_clock(until, stop_at_change=stop_at_change)

    def wait_idle(self, seconds: float) -> None:
        self.observations.wait_idle(seconds)

    def attempts(self) -> list[Attempt]:
        groups = _requests(self.observations.attempts()).values()
        return [attempt for group in groups if self._holds(group[0].started_at) for attempt in group]

    def messages(self, topic: str) -> list[Message]:
        cumulative = topic in self.cumulative_topics
        return [m for m in self.observations.messages(topic) if self._holds(m.received_at, cumulative=cumulative)]

    def alarm_name(self, alarm: str) -> str:
        return self.observations.alarm_name(alarm)

    def alarm_history(self, alarm: str) -> list[AlarmTransition]:
        return [t for t in self.observations.alarm_history(alarm) if self._holds(t.at, cumulative=True)]

    def rows_per_file(self) -> dict[str, int]:
        return self.observations.rows_per_file()

    def duplicate_rows(self) -> int:
        return self.observations.duplicate_rows()

    def decisions(self) -> list[DecisionRecord]:
        return [d for d in self.observations.decisions() if self._holds(epoch(d.decided_at, self.started_at))]

    def quarantine(self) -> list[QuarantineRecord]:
        # A quarantined file belongs to the run whose decision put it there.
        decided = {decision.id for decision in self.decisions()}
        return [q for q in self.observations.quarantine() if q.decision_id is None or q.decision_id in decided]

    def results(self) -> list[InvokeResult]:
        return self.observations.results()

    def log_lines(self, function: str) -> list[LogLine]:
        return [line for line in self.observations.log_lines(function) if self._holds(line.timestamp)]
