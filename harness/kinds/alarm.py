"""`alarm`: state transitions of a CloudWatch alarm, each proved by its cause and, when said, its time."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from harness.format import Loc, ScenarioModel, duplicates
from harness.format.catalog import AlarmState
from harness.records import AlarmTransition
from harness.text import duration_text, offset

from .base import ExpectationBase, Problems, Verdict, names_problems, raise_if

if TYPE_CHECKING:
    from harness.expect.snapshot import Snapshot

AlarmCauseOrAny = Literal["datapoints", "missing_data", "any"]
_UNITS = {"s": 1, "sec": 1, "second": 1, "seconds": 1, "min": 60, "minute": 60, "minutes": 60, "h": 3600,
          "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


def _seconds(value: Any) -> Any:
    """A duration as seconds: a number, or a text like `90 s`, `5 min`, `2 h`, `1 day`."""
    if isinstance(value, str):
        found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*", value)
        if not found or found.group(2) not in _UNITS:
            raise ValueError(f"give seconds, or a duration like 90 s, 5 min, 2 h, 1 day; got {value!r}")
        return float(found.group(1)) * _UNITS[found.group(2)]
    return value


_DURATION_TEXT = r"^\s*\d+(\.\d+)?\s*(" + "|".join(sorted(_UNITS, key=len, reverse=True)) + r")\s*$"
Duration = Annotated[float, BeforeValidator(_seconds), Field(ge=0), WithJsonSchema({"anyOf": [
    {"type": "number", "minimum": 0}, {"type": "string", "pattern": _DURATION_TEXT}]})]
AT_TOLERANCE_SECONDS = 5.0
"""How far from `at` a transition may be: CloudWatch evaluates on a grid from the alarm's creation, a few
seconds before the job starts on a fresh stack."""


class TransitionTime(ScenarioModel):
    """When a transition happens, on the stack's clock, from the job's start or from the transition before."""

    at: Duration | None = None
    """It happens this long after (within 5 s)."""
    after: Duration | None = None
    """It happens later than this."""
    not_before: Duration | None = None
    """It happens this long after, or later: never before."""
    not_after: Duration | None = None
    """It happens this long after, or sooner: never later (a page that must come before the next night)."""
    since: Literal["job", "previous"] = Field(default="job", alias="from")
    """`job` (the default): from the job's start; `previous`: from the transition listed before it."""

    def problem(self, moment: float, reference: float) -> str | None:
        """Why a transition at `moment` does not keep this timing (`reference`: the moment it counts from)."""
        elapsed = moment - reference
        where = "the job's start" if self.since == "job" else "the transition before"
        if self.at is not None and abs(elapsed - self.at) > AT_TOLERANCE_SECONDS:
            return f"{duration_text(elapsed)} after {where}, not {duration_text(self.at)}"
        if self.after is not None and elapsed <= self.after:
            return f"{duration_text(elapsed)} after {where}, not later than {duration_text(self.after)}"
        if self.not_before is not None and elapsed < self.not_before:
            return f"{duration_text(elapsed)} after {where}, before {duration_text(self.not_before)}"
        if self.not_after is not None and elapsed > self.not_after:
            return f"{duration_text(elapsed)} after {where}, later than {duration_text(self.not_after)}"
        return None

    def text(self) -> str:
        where = "the job's start" if self.since == "job" else "the transition before"
        parts = [f"{duration_text(self.at)}" for _ in [1] if self.at is not None]
        parts += [f"later than {duration_text(self.after)}" for _ in [1] if self.after is not None]
        parts += [f"no sooner than {duration_text(self.not_before)}" for _ in [1] if self.not_before is not None]
        parts += [f"no later than {duration_text(self.not_after)}" for _ in [1] if self.not_after is not None]
        return f"{' and '.join(parts)} after {where}"


class AlarmExpectation(ExpectationBase):
    """State transitions of a CloudWatch alarm, each proved by its cause and, when `when` says, its time.

    A transition counts when it happens after the job started (`since: job`, the default when a job
    runs) and for the stated cause (`because`, default `datapoints`: the metric's own values, not missing
    data treated as breaching). The evaluation at the alarm's creation is reported, never counted, unless
    `since: creation` (the default when no job runs, since then the stack is idle from creation on)."""

    kind: Literal["alarm"] = "alarm"
    alarm: str
    """job_not_run (Invocations < threshold) or job_failed (Errors >= threshold) of the seed pipeline (see
    stack.alarms), or an alarm's logical ID in your own template."""
    transitions: list[AlarmState] = Field(default=[], max_length=10)
    """The states the alarm enters, in order, like [ALARM] or [OK, ALARM] (others may come in between)."""
    because: AlarmCauseOrAny | list[AlarmCauseOrAny] = "datapoints"
    """Why the listed transitions must have happened: datapoints (the metric's values), missing_data (no
    datapoints, treated as TreatMissingData says), or any; one cause for all, or one per transition."""
    when: list[TransitionTime | None] = []
    """When each listed transition happens (one per transition, null for any time), like
    `[null, {not_before: 1 day}]`: `at`, `after`, `not_before` or `not_after` a duration from the job's start, or
    `from: previous` transition."""
    since: Literal["job", "creation"] | None = None
    """Count transitions from the job's start (job) or from the alarm's creation (creation). Omitted: job
    when a job runs, creation when none does."""
    never: list[AlarmState] = []
    """States the alarm must not enter (for any cause) from `since` until the deadline, like [ALARM]."""

    @model_validator(mode="after")
    def _check(self) -> AlarmExpectation:
        problems = alarm_states_problems(self.transitions, self.never)
        for field, values in (("because", self.because), ("when", self.when)):
            if isinstance(values, list) and values and len(values) != len(self.transitions):
                problems.append(((field,), f"give one {field} per transition: {len(self.transitions)} transition(s), "
                                           f"{len(values)} {field}"))
        raise_if(problems)
        return self

    def awaited_alarms(self, scenario: Any) -> list[tuple[str, int]]:
        return [(self.alarm, max(1, len(self.transitions)))]

    @property
    def monotone(self) -> bool:
        # An ordered subsequence of states stays one as states are appended, unless a `never` is watched.
        return not self.never

    @property
    def needs_whole_window(self) -> bool:
        return bool(self.never)

    def causes(self) -> list[str]:
        """The cause each listed transition needs (datapoints, missing_data or any)."""
        if isinstance(self.because, list):
            return list(self.because)
        return [self.because] * len(self.transitions)

    def times(self) -> list[TransitionTime | None]:
        return list(self.when) if self.when else [None] * len(self.transitions)

    def validate(self, scenario: Any, at: Loc) -> Problems:
        problems = names_problems(at, "alarm", self.alarm, scenario.alarms(), "CloudWatch alarm")
        if self.since == "job" and not scenario.triggers():
            problems.append(((*at, "since"), "no job runs, so there is no job start to count from: use "
                                             "`since: creation`"))
        return problems

    def report_lanes(self) -> set[tuple[str, str]]:
        return {("alarm", f"alarm:{self.alarm}")}

    def check(self, snapshot: Snapshot) -> Verdict:
        since = self.since or ("job" if snapshot.scenario.triggers() else "creation")
        transitions = snapshot.alarm_transitions(self.alarm)

        def counted(transition: AlarmTransition) -> bool:
            return since == "creation" or (not transition.initial and transition.at >= snapshot.started_at)

        counted_transitions = [t for t in transitions if counted(t)]
        found, timing = _matched(list(zip(self.transitions, self.causes(), self.times(), strict=True)),
                                 counted_transitions, snapshot.started_at)
        violations = [t for t in counted_transitions if t.new_state in self.never]
        expected = f"alarm {self.alarm} ({snapshot.alarm_name(self.alarm)}) to {self._expected_text()}, " + \
            ("after the job started" if since == "job" else "from its creation")
        observed = "; ".join(_transition_text(t, snapshot, counted(t)) for t in transitions)
        observed = f"entered {observed}" if transitions else f"no transition of {snapshot.alarm_name(self.alarm)}"
        if violations:
            observed = f"entered {violations[0].new_state}, which it must never enter; {observed}"
        elif timing:
            observed = f"{timing}; {observed}"
        elif not found:
            hint = _hint(self, transitions, counted, since)
            observed += f". {hint}" if hint else ""
        return Verdict(holds=found and not timing and not violations, expected=expected, observed=observed,
                       final=bool(violations or timing))

    def _expected_text(self) -> str:
        parts = []
        if self.transitions:
            steps = []
            for state, cause, when in zip(self.transitions, self.causes(), self.times(), strict=True):
                step = state if cause == "any" else f"{state} (because of {cause.replace('_', ' ')})"
                steps.append(step + (f" {when.text()}" if when else ""))
            parts.append(f"enter {' -> '.join(steps)}, in this order (others may come between)")
        if self.never:
            parts.append(f"never enter {' or '.join(self.never)}")
        return " and ".join(parts)


def alarm_states_problems(transitions: Sequence[str], never: Sequence[str]) -> Problems:
    problems: Problems = []
    if not transitions and not never:
        problems.append(((), "give transitions (states entered, in order), never (states not entered), or both"))
    for index in range(1, len(transitions)):
        if transitions[index] == transitions[index - 1]:
            problems.append((("transitions", index), f"an alarm already in {transitions[index]} cannot enter it again"))
    for index, state in enumerate(never):
        if state in transitions:
            problems.append((("never", index), f"{state} is both expected in transitions and never entered"))
    for index, repeated in duplicates(list(never)):
        problems.append((("never", index), f"{repeated} is listed twice"))
    return problems


def _matched(wanted: list[tuple[str, str, TransitionTime | None]], seen: list[AlarmTransition],
             started_at: float) -> tuple[bool, str]:
    """Whether the (state, cause) steps appear in order among the transitions (others may come between), and
    why the first of them that has a time is off it ('' when none is)."""
    remaining = iter(seen)
    previous = started_at
    for state, cause, when in wanted:
        step = next((t for t in remaining if t.new_state == state and cause in ("any", t.cause)), None)
        if step is None:
            return False, ""
        if when is not None:
            problem = when.problem(step.at, started_at if when.since == "job" else previous)
            if problem:
                return True, f"{state} entered {problem}"
        previous = step.at
    return True, ""


def _transition_text(transition: AlarmTransition, snapshot: Snapshot, counted: bool) -> str:
    text = f"{transition.new_state} at {offset(snapshot.since_start(transition.at))} " \
           f"({transition.cause.replace('_', ' ')}"
    if transition.initial:
        text += ", initial evaluation at creation"
    if not counted:
        text += ", not counted"
    return text + ")"


def _hint(expectation: AlarmExpectation, transitions: list[AlarmTransition], counted: Any, since: str) -> str:
    """How to read a state that was entered, but not in the way the expectation counts."""
    wanted: dict[str, str] = dict(zip(expectation.transitions, expectation.causes(), strict=True))
    other_cause = [t for t in transitions if counted(t) and wanted.get(t.new_state, t.cause) not in ("any", t.cause)]
    if other_cause:
        t = other_cause[0]
        return (f"{t.new_state} was entered because of {t.cause.replace('_', ' ')}, not "
                f"{wanted[t.new_state].replace('_', ' ')}: if that is what you mean, say `because: {t.cause}` (or "
                "one cause per transition, like [datapoints, missing_data]); alarm transitions count only their "
                "stated cause since harness 0.2, because missing data treated as breaching alarms on every idle period")
    uncounted = [t for t in transitions if not counted(t) and t.new_state in wanted]
    if uncounted and since == "job":
        return (f"{uncounted[0].new_state} was entered before the job started (the evaluation at creation), which is "
                "reported, not counted: an alarm already in a state cannot enter it again, so run a clean job first "
                "(job: {runs: 2, next_run_when: ...} with faults on run 2) or say `since: creation`")
    return ""
