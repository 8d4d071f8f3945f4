"""`StackObservations`: `harness.observe.Observations` against a deployed stack.

Attempts come from the ledger, messages from the topics' taps, rows, decisions and quarantined files
from the stack's database, the orchestrator's answers from what the runner records as it invokes, and
log lines from CloudWatch Logs on the LocalStack. Every time is on the stack's clock: what the platform
recorded in wall time (the ledger, an SQS message's SentTimestamp, a decision's row, a log line) is turned
into it with the history of the clock's offset (`harness.wire.StackTime`) that each `reading` brings.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
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
    RetryRelease,
    epoch,
)
from harness.wire import StackTime

if TYPE_CHECKING:
    from harness.model.platform import Platform
    from harness.stack.template_stack import TemplateStack

# The message attributes kept: those Lambda sets on a dead letter.
_ATTRIBUTES = ("RequestID", "ErrorCode", "ErrorMessage")


@dataclass
class StackObservations:
    """What a scenario can see of its stack on a platform; the runner fills in the start times and invoke
    results."""

    stack: TemplateStack
    platform: Platform
    alarm_intervals: dict[str, float] = field(default_factory=dict)
    """Each alarm's evaluation interval (tells the evaluation at its creation in its history)."""
    started_at: float = 0.0
    run_started_at: list[float] = field(default_factory=list)
    first_run: int = 1
    invoke_results: list[InvokeResult] = field(default_factory=list)
    _seen: dict[str, list[Message]] = field(default_factory=dict)
    _waiting: dict[str, int] = field(default_factory=dict)
    """Messages in each tap queue when the platform last gave its count; each used once (`messages`)."""
    _released: list[dict[str, Any]] = field(default_factory=list)
    """The retries the platform released after a failure, as its last reading gave them."""
    time: StackTime = field(default_factory=StackTime)
    """Wall moments to the stack's clock, from the last reading."""

    def reading(self) -> ClockReading:
        state = self.stack.clock_state() if self.platform.virtual_clock else None
        if state is None:
            return ClockReading(now=time.time(), busy=None)
        self.time = StackTime.of(state)
        self._waiting = {str(k): int(v) for k, v in (state.get("waiting") or {}).items()}
        self._released = list(state.get("retries") or [])
        return ClockReading(now=float(state["now"]), busy=[str(b) for b in state["busy"]],
                            wakeups=list(state.get("timers") or []))

    def now(self) -> float:
        """The stack's clock now, without asking the platform (what the last reading's history gives)."""
        return self.time.at(time.time())

    def wait_idle(self, seconds: float) -> None:
        if self.platform.virtual_clock:
            self.stack.clock_state(idle_within=seconds)
        else:
            time.sleep(seconds)

    def advance_clock(self, until: float, *, stop_at_change: bool) -> dict[str, Any] | None:
        if not self.platform.virtual_clock:
            return None
        return self.stack.advance_clock(until, stop_at_change=stop_at_change)

    def results(self) -> list[InvokeResult]:
        return list(self.invoke_results)

    def attempts(self) -> list[Attempt]:
        found = self.stack.attempts()
        at = self.time.at
        # The n-th retry the platform released for a request ID is its attempt n + 1.
        releases: dict[tuple[str, int], RetryRelease] = {}
        retried: Counter[str] = Counter()
        for release in self._released:
            retried[release["request_id"]] += 1
            releases[(release["request_id"], 1 + retried[release["request_id"]])] = RetryRelease(
                failed_at=float(release["failed_at"]), released_at=float(release["released_at"]))
        return [dataclasses.replace(attempt, started_at=at(attempt.started_at),
                                    ended_at=None if attempt.ended_at is None else at(attempt.ended_at),
                                    released=releases.get((attempt.request_id, attempt.attempt)))
                for attempt in found]

    def messages(self, topic: str) -> list[Message]:
        """Every message of the topic so far. A tap the platform just counted empty is not asked (most
        polls: nothing new); any other is read to its end, so that once the platform has said it is idle, one
        read holds everything it delivered (a receive returns at most 10)."""
        seen = self._seen.setdefault(topic, [])
        tap = self.stack.taps[topic]
        if self._waiting.pop(tap.queue_name, None) == 0:
            return list(seen)
        for tapped in tap.drain():
            seen.append(Message(topic=topic, subject=tapped.subject, body=tapped.message,
                                attributes={k: v for k in _ATTRIBUTES if (v := tapped.attribute(k)) is not None},
                                received_at=self.time.at(tapped.received_at)))
        return list(seen)

    def alarm_name(self, alarm: str) -> str:
        return self.stack.alarm_names[alarm]

    def alarm_history(self, alarm: str) -> list[AlarmTransition]:
        return self.stack.alarm_history(alarm, self.alarm_intervals.get(alarm, 60.0))

    # The seed pipeline's database (a template of your own has none the harness reads).
    def rows_per_file(self) -> dict[str, int]:
        return self._db.rows_per_file() if self._db is not None else {}

    def duplicate_rows(self) -> int:
        return self._db.duplicate_rows() if self._db is not None else 0

    def decisions(self) -> list[DecisionRecord]:
        if self._db is None:
            return []
        return [dataclasses.replace(decision, decided_at=self.time.at(epoch(decision.decided_at, time.time())))
                for decision in self._db.decisions()]

    def quarantine(self) -> list[QuarantineRecord]:
        return self._db.quarantine() if self._db is not None else []

    @property
    def _db(self) -> Any:
        return getattr(self.stack, "db", None)

    def log_lines(self, function: str) -> list[LogLine]:
        client = self.stack.client("logs")
        group = f"/aws/lambda/{self.stack.function_names.get(function, function)}"
        try:
            pages = client.get_paginator("filter_log_events").paginate(logGroupName=group)
            return [LogLine(function=function, stream=str(event.get("logStreamName", "")),
                            timestamp=self.time.at(event["timestamp"] / 1000.0), message=str(event.get("message", "")))
                    for page in pages for event in page.get("events", [])]
        except client.exceptions.ResourceNotFoundException:
            return []  # the function never ran, so Lambda made no log group
