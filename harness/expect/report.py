"""The result of evaluating a scenario: one outcome per expectation, and the timeline of what happened."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.scenario import Expectation
from harness.text import offset


@dataclass(frozen=True)
class Outcome:
    """The verdict on one expectation, with what was expected and what was observed, in words."""

    expectation: Expectation
    location: str
    """`file:line:col` of the expectation in its scenario file, or of the one setting its verdict is about
    (`Verdict.at`: a field no message carried)."""
    passed: bool
    expected: str
    observed: str
    deadline: float = 0.0
    """Seconds from the job's start by which it had to hold."""
    decided_at: float = 0.0
    """Seconds from the job's start when the verdict was reached."""
    note: str = ""
    """Why the verdict was reached then: settled, deadline passed, ..."""

    @property
    def kind(self) -> str:
        return self.expectation.kind

    def summary(self) -> str:
        """One line: where, what was expected, what was observed (a JUnit failure message, a log line)."""
        return f"{self.kind} at {self.location}: expected {self.expected}; observed {self.observed}"

    def render(self) -> str:
        status = "ok    " if self.passed else "FAILED"
        lines = [f"{status} {self.kind} at {self.location}"]
        if not self.passed:
            lines.append(f"  expected: {self.expected} (deadline {offset(self.deadline)})")
            observed = f"{self.observed} ({self.note})" if self.note else self.observed
            lines.append(f"  observed: {observed}")
        return "\n".join(lines)


@dataclass(frozen=True)
class Report:
    scenario: str
    outcomes: list[Outcome]
    timeline: list[str] = field(default_factory=list)
    """Events with times relative to the job's start, in order."""
    elapsed: float = 0.0
    """Seconds from the job's start until the last verdict."""
    pending: list[str] = field(default_factory=list)
    """What could still have happened when evaluation stopped; [] when the system had settled."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """The same events as data (`events.build_events`), for the HTML report and its JSON."""
    timing: str = ""
    """How time ran (the stack's clock) and the alarm periods in AWS's units (`timing_text`)."""
    wall_seconds: float = 0.0
    """Wall seconds the evaluation took, beside `elapsed` on the stack's clock."""

    @property
    def passed(self) -> bool:
        return all(outcome.passed for outcome in self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        return [outcome for outcome in self.outcomes if not outcome.passed]

    def render(self) -> str:
        """Plain text: a headline, every outcome (failures with expected/observed), then the timeline."""
        total = len(self.outcomes)
        took = f" (stack's clock; {self.wall_seconds:.1f} s of wall time)" if self.wall_seconds else ""
        if self.passed:
            headline = (f"scenario {self.scenario} passed: {total} of {total} expectations met by "
                        f"{offset(self.elapsed)}{took}")
        else:
            headline = (
                f"scenario {self.scenario} FAILED: {len(self.failures)} of {total} expectations not met "
                f"(evaluated until {offset(self.elapsed)}{took})"
            )
        lines = [headline] + ([f"time: {self.timing}"] if self.timing else []) + [""]
        lines += [outcome.render() for outcome in self.outcomes]
        if self.pending:
            lines += ["", "not settled when evaluation stopped:"] + [f"  {reason}" for reason in self.pending]
        if not self.passed:
            lines += ["", "timeline (from the job's start):"]
            lines += [f"  {event}" for event in self.timeline] or ["  (nothing observed)"]
        return "\n".join(lines)
