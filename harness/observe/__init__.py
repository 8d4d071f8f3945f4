"""Observing a stack: what the expectation engine reads, and where each part of it comes from.

`Observations` below is the interface the observing side offers the engine (`harness.expect`). Every
method returns what is known *now*, so the engine can poll it. The parts:

- `records`: the record types observing yields (ledger attempts, topic messages, invoke results, alarm
  transitions, decisions and quarantined files) and how an alarm notification is read.
- `taps`: SQS queues subscribed to the stack's topics, which see every message published.
- `ledger`: the attempt ledger's tables (written in Lambda by `harness/faults/lambda_wrapper.py`) and
  the reading of them.
- `live`: `StackObservations`, the implementation against a deployed stack; `tests.support.fakes` has
  an in-memory one.
- `runs`: the runs of a job triggered by hand, read back from the ledger, and `OneRun`, the view of one
  of them that `harness check --job N` judges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

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


class Observations(Protocol):
    """What can be seen of one scenario's stack, as of now."""

    started_at: float
    """When the (first) job run started, on the stack's clock (epoch seconds), as every time here is."""
    run_started_at: list[float]
    """Start time of each run of the job (job.runs), in order."""
    first_run: int
    """The number of the run that starts at `run_started_at[0]`: 1, unless `harness check --job N` chose
    a later run of the job made by hand (`harness.observe.runs.OneRun`)."""
    platform: Platform
    """The LocalStack the stack runs on, for reports."""

    def reading(self) -> ClockReading:
        """The stack's clock now, what the platform still does for the stack, and its pending wake-ups; read
        before anything else in a poll, so that what the platform finished before it said so is in the reads
        that follow. Where the platform has no stack clock: the wall clock, and `busy` None."""
        ...

    def advance_clock(self, until: float, *, stop_at_change: bool) -> dict[str, Any] | None:
        """Move the idle stack's clock from wake-up to wake-up up to `until` (`harness.wire.Advance`, or
        `{"busy": [...]}`); None where the platform has no stack clock."""
        ...

    def wait_idle(self, seconds: float) -> None:
        """Return once none of the stack's code runs, or after `seconds` (of wall time): where the platform
        counts the stack's work, the next poll comes as soon as the clock may move."""
        ...

    def attempts(self) -> list[Attempt]: ...

    def messages(self, topic: str) -> list[Message]: ...

    def alarm_name(self, alarm: str) -> str: ...

    def alarm_history(self, alarm: str) -> list[AlarmTransition]:
        """The alarm's state changes from CloudWatch's history (for an alarm that notifies no tapped topic)."""
        ...

    def rows_per_file(self) -> dict[str, int]: ...

    def duplicate_rows(self) -> int: ...

    def decisions(self) -> list[DecisionRecord]: ...

    def quarantine(self) -> list[QuarantineRecord]: ...

    def results(self) -> list[InvokeResult]: ...

    def log_lines(self, function: str) -> list[LogLine]:
        """The function's CloudWatch Logs lines so far (for the report; no expectation reads them)."""
        ...
