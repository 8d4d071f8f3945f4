"""`StackObservations` reads a tap only when the platform's count says something waits there, and then to
its end; a count is used once, so a read without a fresh count reads the tap."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from harness.model.platform import embedded
from harness.observe.live import StackObservations
from harness.records import ClockReading


@dataclass
class _Tap:
    queue_name: str
    waiting: list[str]
    drains: int = 0

    def drain(self) -> list[Any]:
        self.drains += 1
        fresh, self.waiting = self.waiting, []
        return [SimpleNamespace(subject=s, message="m", attribute=lambda name: None, received_at=1.0) for s in fresh]


@dataclass
class _Stack:
    tap: _Tap
    answers: list[tuple[list[str], dict[str, int]]] = field(default_factory=list)

    @property
    def taps(self) -> dict[str, _Tap]:
        return {"notifications": self.tap}

    def clock_state(self) -> dict[str, Any]:
        """As `GET /_harness/clock/<prefix>` answers: what keeps the clock from moving, and the taps' counts."""
        busy, waiting = self.answers.pop(0)
        return {"now": 1.0, "offset": 0.0, "history": [], "busy": busy, "timers": [], "waiting": waiting}


def test_a_tap_counted_empty_is_not_read_and_one_counted_full_is_read_to_its_end() -> None:
    tap = _Tap("p-tap-notifications", waiting=[])
    stack = _Stack(tap, answers=[([], {"p-tap-notifications": 0}), ([], {"p-tap-notifications": 2})])
    observations = StackObservations(stack, embedded())  # type: ignore[arg-type]
    assert observations.reading() == ClockReading(now=1.0, busy=[], wakeups=[])
    assert observations.messages("notifications") == []
    assert tap.drains == 0  # counted empty: not asked
    tap.waiting = ["JOB SUCCEEDED", "JOB FAILED"]
    observations.reading()
    assert [m.subject for m in observations.messages("notifications")] == ["JOB SUCCEEDED", "JOB FAILED"]
    assert tap.drains == 1


def test_a_count_is_used_once() -> None:
    """A message that came after the count was given is found by the next read that has no count for it."""
    tap = _Tap("p-tap-notifications", waiting=[])
    stack = _Stack(tap, answers=[([], {"p-tap-notifications": 0})])
    observations = StackObservations(stack, embedded())  # type: ignore[arg-type]
    observations.reading()
    observations.messages("notifications")
    tap.waiting = ["JOB FAILED"]
    assert [m.subject for m in observations.messages("notifications")] == ["JOB FAILED"]
