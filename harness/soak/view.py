"""One night's part of the soak's stack, as `harness.observe.Observations`: the expectation engine checks a night
with the same code and the same reads as a scenario, on the one stack every night shares.

What belongs to the night: the attempts of its run of the job (the fault wrapper's ledger records the run of
each request), the messages and alarm transitions from its start on, the rows of its files, its job's
decisions and quarantined files (the engine's snapshot already keeps those of its job ID), its answer from the
orchestrator. Runs never overlap: the soak starts a night once the one before has settled.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
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
)

if TYPE_CHECKING:
    from harness.model.platform import Platform
    from harness.observe.live import StackObservations

    from .nights import Night


@dataclass
class NightView:
    """The stack's observations from `started_at` on, for the night's run, as run 1 of its own job."""

    base: StackObservations
    night: Night
    started_at: float
    run_started_at: list[float] = field(default_factory=list)
    first_run: int = 1
    """The night is run 1 of its own job, as its replay file has it."""

    def __post_init__(self) -> None:
        self.run_started_at = [self.started_at]

    @property
    def platform(self) -> Platform:
        return self.base.platform

    def reading(self) -> ClockReading:
        return self.base.reading()

    def advance_clock(self, until: float, *, stop_at_change: bool) -> dict[str, Any] | None:
        return self.base.advance_clock(until, stop_at_change=stop_at_change)

    def wait_idle(self, seconds: float) -> None:
        self.base.wait_idle(seconds)

    def attempts(self) -> list[Attempt]:
        run = self.night.run
        return [dataclasses.replace(attempt, run=1) for attempt in self.base.attempts() if attempt.run == run]

    def messages(self, topic: str) -> list[Message]:
        return [message for message in self.base.messages(topic) if message.received_at >= self.started_at]

    def alarm_name(self, alarm: str) -> str:
        return self.base.alarm_name(alarm)

    def alarm_history(self, alarm: str) -> list[AlarmTransition]:
        return [transition for transition in self.base.alarm_history(alarm) if transition.at >= self.started_at]

    def rows_per_file(self) -> dict[str, int]:
        files = set(self.night.file_ids)
        return {file_id: count for file_id, count in self.base.rows_per_file().items() if file_id in files}

    def duplicate_rows(self) -> int:
        return self.base.duplicate_rows()

    def decisions(self) -> list[DecisionRecord]:
        return self.base.decisions()

    def quarantine(self) -> list[QuarantineRecord]:
        return self.base.quarantine()

    def results(self) -> list[InvokeResult]:
        return [dataclasses.replace(result, run=1) for result in self.base.results() if result.run == self.night.run]

    def log_lines(self, function: str) -> list[LogLine]:
        """None: the engine reads log lines only for a report's timeline, and a month of them would be read
        again every night (the soak's page shows its own timeline; a night's replay file shows the lines)."""
        return []
