"""One poll's view of the observations: each source read at most once, and derived views built on it.

Every check and the settling rules of one poll read the same snapshot, so they agree with each other,
and a source no pending expectation needs (say the rows table) is not queried at all. It serves either
profile: names are the scenario's logical names (the pipeline's `worker`, a template's `OrderHandlerFunction`).
"""

from __future__ import annotations

import bisect
from functools import cached_property
from typing import Any

from harness.model.platform import Platform
from harness.observe import Observations
from harness.records import (
    AlarmTransition,
    Attempt,
    ClockReading,
    InvokeResult,
    Message,
    alarm_transition,
    event_files,
    lines_by_attempt,
    parse_json,
)
from harness.scenario import ScenarioDocument

# A killed attempt leaves no end in the ledger; past its timeout plus this grace it is taken for dead.
KILL_GRACE_SECONDS = 2.0


class Snapshot:
    def __init__(self, scenario: ScenarioDocument, observations: Observations,
                 reading: ClockReading | None = None) -> None:
        self.scenario = scenario
        self.observations = observations
        # The platform's clock and count are read before any other source: whatever it finished before it
        # said it was idle (a ledger row, a tap message) is then in this snapshot's reads, which come after.
        self.clock = reading if reading is not None else observations.reading()
        self.now = self.clock.now
        """The stack's clock at this poll, epoch seconds; every time of the observations is on it."""
        self._messages: dict[str, list[Message]] = {}
        self._alarm_transitions: dict[str, list[AlarmTransition]] = {}

    @property
    def started_at(self) -> float:
        return self.observations.started_at

    @property
    def platform(self) -> Platform:
        """The timing of the LocalStack the observations come from (its retry delay)."""
        return self.observations.platform

    @property
    def activity(self) -> list[str] | None:
        """What the platform says it is still doing for the stack; None when it cannot tell."""
        return self.clock.busy

    @cached_property
    def run_started_at(self) -> list[float]:
        return list(self.observations.run_started_at)

    @property
    def first_run(self) -> int:
        """The job's number for the run starting at `run_started_at[0]` (a check of one run made by hand)."""
        return self.observations.first_run

    @cached_property
    def attempts(self) -> list[Attempt]:
        return sorted(self.observations.attempts(), key=lambda a: (a.started_at, a.request_id, a.attempt))

    def messages(self, topic: str) -> list[Message]:
        if topic not in self._messages:
            self._messages[topic] = sorted(self.observations.messages(topic), key=lambda m: m.received_at)
        return self._messages[topic]

    @cached_property
    def log_lines(self) -> dict[tuple[str, str, int], list[str]]:
        """Each attempt's function log lines, by (function, request ID, attempt): for the report only."""
        return lines_by_attempt([line for function in self.scenario.functions()
                                 for line in self.observations.log_lines(function)])

    @cached_property
    def decisions(self) -> list[Any]:
        # The decisions and quarantine tables outlive a scenario when a stack is reused, so only this
        # job's rows count (a decision about an event that was not a valid shard has no job ID: keep it).
        if not self.scenario.is_pipeline:
            return []
        job_id = self.scenario.job_id()  # type: ignore[attr-defined]
        return [d for d in self.observations.decisions() if getattr(d, "job_id", None) in (job_id, None)]

    @cached_property
    def quarantine(self) -> list[Any]:
        if not self.scenario.is_pipeline:
            return []
        job_id = self.scenario.job_id()  # type: ignore[attr-defined]
        return [q for q in self.observations.quarantine() if getattr(q, "job_id", None) in (job_id, None)]

    @cached_property
    def results(self) -> list[InvokeResult]:
        return list(self.observations.results())

    @cached_property
    def rows_per_file(self) -> dict[str, int]:
        return dict(self.observations.rows_per_file())

    @cached_property
    def duplicate_rows(self) -> int:
        return int(self.observations.duplicate_rows())

    # Derived views.

    def requests(self, function: str) -> dict[str, list[Attempt]]:
        """Attempts of `function` grouped by request ID, each group in attempt order, groups by first start."""
        groups: dict[str, list[Attempt]] = {}
        for attempt in self.attempts:
            if attempt.function == function:
                groups.setdefault(attempt.request_id, []).append(attempt)
        for group in groups.values():
            group.sort(key=lambda a: (a.attempt, a.started_at))
        return groups

    @cached_property
    def _last_attempt(self) -> dict[tuple[str, str], int]:
        last: dict[tuple[str, str], int] = {}
        for attempt in self.attempts:
            key = (attempt.function, attempt.request_id)
            last[key] = max(last.get(key, 0), attempt.attempt)
        return last

    def timeout_of(self, function: str) -> float:
        return self.scenario.timeout_of(function)

    def dead_letters(self, function: str) -> list[Message]:
        """The messages on the function's dead-letter target ([] when it has none)."""
        source = self.scenario.dead_letter_source(function)
        return self.messages(source) if source is not None else []

    def alarm_name(self, alarm: str) -> str:
        return self.observations.alarm_name(alarm)

    def status(self, attempt: Attempt) -> str:
        """ok, error, killed (no outcome, but a retry followed or its time ran out) or running."""
        if attempt.outcome is not None:
            return attempt.outcome
        if self._last_attempt.get((attempt.function, attempt.request_id), 0) > attempt.attempt:
            return "killed"
        if self.now >= attempt.started_at + self.timeout_of(attempt.function) + KILL_GRACE_SECONDS:
            return "killed"
        if self._dead_lettered_since(attempt):
            return "killed"
        return "running"

    def _dead_lettered_since(self, attempt: Attempt) -> bool:
        # A dead letter of the attempt's event proves its last attempt is over, well before the grace.
        return self._dead_letter_since(attempt) is not None

    def _dead_letter_since(self, attempt: Attempt) -> Message | None:
        """The first dead letter of the attempt's event received after it started."""
        files = set(attempt.file_ids)
        return next((message for message in self.dead_letters(attempt.function)
                     if message.received_at >= attempt.started_at
                     and (set(event_files(parse_json(message.body))) == files if files
                          else parse_json(message.body) == attempt.event)), None)

    def failed_at(self, attempt: Attempt) -> float:
        """When a failed attempt ended. A killed attempt leaves no end in the ledger. A timeout ended at its
        Timeout. A crash (out of memory, an exit) ended sooner, and what followed it says when: Lambda
        started its retry the retry delay after the failure (on time here: `harness.localstack.retries`), or,
        after the last attempt, sent its event to the dead-letter topic. Without either, its timeout."""
        if attempt.ended_at is not None:
            return attempt.ended_at
        timed_out = attempt.started_at + self.timeout_of(attempt.function)
        following = self._attempts_by_number.get((attempt.function, attempt.request_id, attempt.attempt + 1))
        if following is not None:
            followed = following.started_at - self.platform.retry_delay(attempt.attempt)
        elif letter := self._dead_letter_since(attempt):
            followed = letter.received_at
        else:
            return timed_out
        return max(attempt.started_at, min(timed_out, followed))

    @cached_property
    def _attempts_by_number(self) -> dict[tuple[str, str, int], Attempt]:
        return {(a.function, a.request_id, a.attempt): a for a in self.attempts}

    def alarm_transitions(self, alarm: str) -> list[AlarmTransition]:
        """Transitions of one alarm (its logical name, like job_failed), in the order CloudWatch made them: from
        its notifications on a topic of the stack when it notifies one, else from its history."""
        if alarm not in self._alarm_transitions:
            name, interval = self.alarm_name(alarm), self.scenario.alarm_interval(alarm)
            topics = [topic for topic in self.scenario.topics() if alarm in self.scenario.alarms_notifying(topic)]
            if topics:
                found = [alarm_transition(message, interval) for message in self.messages(topics[0])]
                transitions = [t for t in found if t is not None and t.alarm_name == name]
            else:
                transitions = list(self.observations.alarm_history(alarm))
            self._alarm_transitions[alarm] = sorted(transitions, key=lambda t: t.at)
        return self._alarm_transitions[alarm]

    def every_alarm_transition(self) -> list[tuple[str, AlarmTransition, bool]]:
        """Every transition of the stack's alarms as (alarm's logical name, the transition, whether it is the
        evaluation at the alarm's creation), in time order."""
        found = [(alarm, t, t.initial) for alarm in self.scenario.alarms() for t in self.alarm_transitions(alarm)]
        return sorted(found, key=lambda item: item[1].at)

    def run_of(self, moment: float) -> int:
        """The run (1-based) whose start last precedes `moment`; 1 before the first run started."""
        return max(1, bisect.bisect_right(self.run_started_at, moment))

    def since_start(self, moment: float) -> float:
        return moment - self.started_at



def message_body(message: Message) -> Any:
    return parse_json(message.body)


__all__ = ["KILL_GRACE_SECONDS", "Snapshot", "event_files", "message_body"]
