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
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from .records import Attempt, DecisionRecord, InvokeResult, LogLine, Message, QuarantineRecord

if TYPE_CHECKING:
    from harness.model.platform import Platform


class Observations(Protocol):
    """What can be seen of one scenario's stack, as of now."""

    started_at: float
    """Epoch seconds when the (first) job run started."""
    run_started_at: list[float]
    """Start time of each run of the job (job.runs), in order."""
    platform: Platform
    """The timing of the LocalStack the stack runs on (its retry delay), for deadlines and settling."""
    clock_offset: float
    """Seconds the stack's clock is ahead of the wall clock: the idle time skipped so far
    (`advance_clock`). Alarm times are on the stack's clock; the pipeline's happened before any skip."""

    def advance_clock(self, seconds: float, *, stop_at_change: bool) -> dict[str, Any] | None:
        """Move the stack's clock forward over idle time, its alarms evaluated on the way
        (`harness.localstack.clock`); None where the platform has no such clock. The answer has `advanced`,
        `changes` and `notifications`, or `busy` with the reasons the stack is not idle."""
        ...

    def attempts(self) -> list[Attempt]: ...

    def activity(self) -> list[str] | None:
        """What the platform is still doing for the stack, in words, by its own count (an invocation running,
        a retry due, an event queued or being handled, a message on its way); [] when nothing; None when the
        platform cannot tell (then only a quiet window says the stack has settled)."""
        ...

    def messages(self, topic: str) -> list[Message]: ...

    def alarm_name(self, alarm: str) -> str: ...

    def rows_per_file(self) -> dict[str, int]: ...

    def duplicate_rows(self) -> int: ...

    def decisions(self) -> list[DecisionRecord]: ...

    def quarantine(self) -> list[QuarantineRecord]: ...

    def results(self) -> list[InvokeResult]: ...

    def log_lines(self, function: str) -> list[LogLine]:
        """The function's CloudWatch Logs lines so far (for the report; no expectation reads them)."""
        ...
