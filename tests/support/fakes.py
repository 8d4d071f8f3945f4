"""In-memory observations on a fake clock, for testing expectations without a stack.

Each fact is scripted with the time it happens (seconds from the job's start) and becomes visible when the
clock gets there: an attempt shows as running from its start and gets its outcome at its end, a message
shows once received. So the engine's polling, settling and deadlines can be exercised instantly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.expect.engine import evaluate
from harness.expect.report import Report
from harness.localstack.executor import lambda_logs
from harness.model.platform import Platform
from harness.records import (
    Attempt,
    ClockReading,
    DecisionRecord,
    InvokeResult,
    LogLine,
    Message,
    QuarantineRecord,
    RetryRelease,
    alarm_transition,
)
from harness.scenario import Scenario, load_scenario

START = 1_700_000_000.0
CODE_RUNS = 0.1
"""How long a scripted attempt's code runs; the rest of a longer attempt (an injected timeout or latency, a
Timeout) is a wait on the stack's clock, as in the harness's LocalStack, which may then move it."""


class FakeClock:
    """The wall clock `evaluate` takes (`wall_clock=clock, sleep=clock.sleep`); the stack's clock of
    `FakeObservations` is this plus what its `advance_clock` skipped."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class _Scripted:
    attempt: Attempt
    ends_at: float | None
    final_outcome: str | None
    stops_at: float | None = None
    """When its code stops running: its end, or its Timeout for a killed attempt (whose end no ledger shows)."""


@dataclass
class FakeObservations:
    """Implements `harness.observe.Observations`; times given to `add_*` are seconds from `started_at`."""

    clock: FakeClock
    started_at: float = START
    runs: list[float] = field(default_factory=lambda: [0.0])
    first_run: int = 1
    alarm_prefix: str = "stack-"
    platform: Platform = field(default_factory=lambda: Platform("fake observations", virtual_clock=False))
    _attempts: list[_Scripted] = field(default_factory=list)
    _messages: list[Message] = field(default_factory=list)
    _decisions: list[DecisionRecord] = field(default_factory=list)
    _quarantine: list[QuarantineRecord] = field(default_factory=list)
    _rows: list[tuple[float, str, int]] = field(default_factory=list)
    _results: list[InvokeResult] = field(default_factory=list)
    _logs: list[LogLine] = field(default_factory=list)
    duplicates: int = 0
    clock_offset: float = 0.0
    """The stack's clock is the fake clock plus this: what `advance_clock` skipped."""
    platform_activity: Callable[[float], list[str]] | None = None
    """What the platform says it still does besides the scripted attempts' code, by the time from the start;
    given, the platform counts its work (also when its clock does not skip)."""
    advances: list[dict[str, Any]] = field(default_factory=list)
    """Each answer `advance_clock` gave, in order."""

    def _at(self, offset: float) -> float:
        return self.started_at + offset

    def _visible(self, moment: float) -> bool:
        return moment <= self.now

    @property
    def now(self) -> float:
        """The stack's clock."""
        return self.clock.now + self.clock_offset

    def reading(self) -> ClockReading:
        if self.platform_activity is None and not self.platform.virtual_clock:
            return ClockReading(now=self.now, busy=None)
        # As the harness's LocalStack counts a stack's work: its running attempts, what `platform_activity`
        # adds, and what it will wake up for (here: every scripted moment still ahead; an alarm's
        # notification is the alarm's wake-up).
        now = self.now
        busy = self._running(now)
        if self.platform_activity is not None:
            busy += self.platform_activity(now - self.started_at)
        alarm_moments = {m.received_at for m in self._messages if m.topic == "alarms"}
        wakeups = [{"due": moment, "kind": "alarm" if moment in alarm_moments else "wait", "what": "scripted"}
                   for moment in self._scripted_moments() if moment > now]
        return ClockReading(now=now, busy=busy, wakeups=wakeups)

    @staticmethod
    def _code_stops(scripted: _Scripted) -> float:
        return min(scripted.stops_at or float("inf"), scripted.attempt.started_at + CODE_RUNS)

    def _running(self, now: float) -> list[str]:
        return [f"{s.attempt.function} attempt {s.attempt.attempt} running" for s in self._attempts
                if s.attempt.started_at <= now < self._code_stops(s)]

    def _scripted_moments(self) -> list[float]:
        moments = [moment for s in self._attempts
                   for moment in (s.attempt.started_at, s.stops_at, self._code_stops(s)) if moment]
        moments += [m.received_at for m in self._messages] + [r.at for r in self._results]
        moments += [d.decided_at for d in self._decisions] + [moment for moment, _, _ in self._rows]
        return sorted(moments)

    def wait_idle(self, seconds: float) -> None:
        """As the harness's LocalStack answers: the fake clock sleeps until the running code stops, or `seconds`."""
        now = self.now
        stops = [self._code_stops(s) for s in self._attempts if s.attempt.started_at <= now < self._code_stops(s)]
        self.clock.sleep(min([seconds, *[moment - now for moment in stops]]))

    def advance_clock(self, until: float, *, stop_at_change: bool) -> dict[str, Any] | None:
        """As the harness's LocalStack does (`harness.localstack.clock.advance`), when the platform has a stack
        clock: refused while an attempt runs; else moved to the next scripted moment (what the platform would
        have woken up for), or to `until`."""
        if not self.platform.virtual_clock:
            return None
        now = self.now
        running = self._running(now)
        if running:
            answer: dict[str, Any] = {"busy": running}
            self.advances.append(answer)
            return answer
        target = min([moment for moment in self._scripted_moments() if now < moment <= until] + [until])
        changes = [t.at for t in (alarm_transition(m) for m in self._messages if m.topic == "alarms")
                   if t is not None and now < t.at <= target]
        self.clock_offset += max(0.0, target - now)
        answer = {"now": self.now, "offset": self.clock_offset, "fired": [], "changes": changes, "busy": []}
        self.advances.append(answer)
        return answer

    # The Observations protocol.

    @property
    def run_started_at(self) -> list[float]:
        return [self._at(run) for run in self.runs if self._visible(self._at(run))]

    def attempts(self) -> list[Attempt]:
        seen = []
        for scripted in self._attempts:
            if not self._visible(scripted.attempt.started_at):
                continue
            if scripted.ends_at is not None and self._visible(scripted.ends_at):
                seen.append(replace(scripted.attempt, outcome=scripted.final_outcome, ended_at=scripted.ends_at))
            else:
                seen.append(scripted.attempt)
        return seen

    def messages(self, topic: str) -> list[Message]:
        return [m for m in self._messages if m.topic == topic and self._visible(m.received_at)]

    def alarm_name(self, alarm: str) -> str:
        return f"{self.alarm_prefix}{alarm}"

    def rows_per_file(self) -> dict[str, int]:
        rows: dict[str, int] = {}
        for moment, file_id, count in self._rows:
            if self._visible(moment):
                rows[file_id] = rows.get(file_id, 0) + count
        return rows

    def duplicate_rows(self) -> int:
        return self.duplicates

    def decisions(self) -> list[Any]:
        return [d for d in self._decisions if self._visible(d.decided_at)]

    def quarantine(self) -> list[Any]:
        return [q for q in self._quarantine if self._visible(q.quarantined_at)]

    def results(self) -> list[InvokeResult]:
        return [result for result in self._results if self._visible(result.at)]

    def log_lines(self, function: str) -> list[LogLine]:
        return [line for line in self._logs if line.function == function and self._visible(line.timestamp)]

    # Scripting.

    def add_attempt(
        self,
        function: str,
        request_id: str,
        attempt: int,
        *,
        at: float,
        took: float | None = 0.05,
        outcome: str | None = "ok",
        fault: str | None = None,
        event: dict[str, Any] | None = None,
        shard_id: str | None = None,
        file_ids: list[str] | None = None,
        run: int = 1,
        released: tuple[float, float] | None = None,
    ) -> Attempt:
        """An attempt started at `at`; it ends `took` seconds later with `outcome` (None: killed, so its
        end never reaches the ledger; `took=None`: still running). `released`: for a retry, when the attempt
        before failed and when the platform released this one."""
        event = event or {}
        recorded = Attempt(
            function=function,
            request_id=request_id,
            attempt=attempt,
            shard_id=shard_id if shard_id is not None else event.get("shard_id"),
            file_ids=list(file_ids if file_ids is not None else event.get("file_ids", [])),
            event=event,
            fault=fault,
            outcome=None,
            started_at=self._at(at),
            ended_at=None,
            run=run,
            released=None if released is None else RetryRelease(self._at(released[0]), self._at(released[1])),
        )
        ends_at = None if took is None or outcome is None else self._at(at + took)
        self._attempts.append(_Scripted(recorded, ends_at, outcome, None if took is None else self._at(at + took)))
        if took is not None:
            self._log_attempt(recorded, took, outcome)
        return recorded

    def _log_attempt(self, attempt: Attempt, took: float, outcome: str | None) -> None:
        """The lines Lambda delivers when an attempt ends, in the executor's formats, one stream per attempt."""
        text = lambda_logs.start_line(attempt.request_id)
        text += f"[harness] attempt {attempt.attempt}, fault {attempt.fault}\n"
        if outcome is None:
            text += lambda_logs.timeout_line(attempt.request_id, took)
        text += lambda_logs.end_and_report(attempt.request_id, took * 1000, 128, 40, None,
                                           status="timeout" if outcome is None else None)
        stream = f"{attempt.function}-{attempt.request_id}-{attempt.attempt}"
        for number, line in enumerate(text.splitlines()):
            self._logs.append(LogLine(attempt.function, stream, attempt.started_at + took + number * 1e-6, line))

    def add_invocation(
        self,
        function: str,
        event: dict[str, Any],
        outcomes: list[str | None],
        *,
        at: float,
        request_id: str | None = None,
        fault: str | None = None,
        took: float = 0.05,
        timeout: float = 1.0,
        retry_delays: tuple[float, ...] = (1.5, 3.0),
    ) -> float:
        """One async invocation's attempts, as LocalStack spaces them: `outcomes` per attempt, "ok", "error",
        or None (killed at `timeout`). Failed attempts get `fault`. Returns when the last attempt ends."""
        request_id = request_id or f"{function[:3]}{len(self._attempts):05d}-0000-4000-8000-000000000000"
        now = at
        for number, outcome in enumerate(outcomes, start=1):
            duration = timeout if outcome is None else took
            self.add_attempt(
                function,
                request_id,
                number,
                at=now,
                took=duration,
                outcome=outcome,
                fault=None if outcome == "ok" else fault,
                event=event,
            )
            end = now + duration
            if number < len(outcomes):
                now = end + retry_delays[min(number, len(retry_delays)) - 1]
        return end

    def add_message(
        self,
        topic: str,
        body: Any,
        *,
        at: float,
        subject: str | None = None,
        attributes: dict[str, str] | None = None,
    ) -> Message:
        text = body if isinstance(body, str) else json.dumps(body, sort_keys=True)
        message = Message(topic, subject, text, dict(attributes or {}), self._at(at))
        self._messages.append(message)
        return message

    def add_notification(self, subject: str, body: dict[str, Any], *, at: float) -> Message:
        return self.add_message("notifications", {"status": subject, **body}, at=at, subject=subject)

    def add_dead_letter(
        self, event: dict[str, Any], *, at: float, error_message: str, error_code: str = "200",
        request_id: str | None = None,
    ) -> Message:
        attributes = {"RequestID": request_id or f"dlq-{len(self._messages)}", "ErrorCode": error_code,
                      "ErrorMessage": error_message}
        return self.add_message("dlq", event, at=at, attributes=attributes)

    def add_alarm(
        self,
        alarm: str,
        new_state: str,
        *,
        at: float,
        old_state: str = "INSUFFICIENT_DATA",
        reason: str = "Threshold Crossed",
        created: float | None = None,
        delivered_after: float = 0.05,
    ) -> Message:
        """A state change at `at`, notified `delivered_after` seconds later; `reason` is CloudWatch's
        NewStateReason, `created` the alarm's creation (AlarmConfigurationUpdatedTimestamp), both relative
        to the job's start."""
        body = {
            "AlarmName": self.alarm_name(alarm),
            "AlarmDescription": {"job_failed": "JOB FAILED", "job_not_run": "JOB NOT RUN"}.get(alarm, alarm),
            "NewStateValue": new_state,
            "OldStateValue": old_state,
            "NewStateReason": reason,
            "StateChangeTime": _cloudwatch_time(self._at(at)),
        }
        if created is not None:
            body["AlarmConfigurationUpdatedTimestamp"] = _cloudwatch_time(self._at(created))
        return self.add_message("alarms", body, at=at + delivered_after,
                                subject=f'{new_state}: "{self.alarm_name(alarm)}"')

    def add_decision(
        self,
        action: str,
        *,
        at: float,
        shard_id: str,
        file_ids: list[str],
        child_shards: list[dict[str, Any]] | None = None,
        job_id: str | None = None,
        reason: str = "",
        detail: str | None = None,
        error_message: str | None = None,
    ) -> DecisionRecord:
        record = DecisionRecord(
            id=len(self._decisions) + 1,
            message_id=f"m-{len(self._decisions) + 1}",
            job_id=job_id,
            shard_id=shard_id,
            reshard_depth=shard_id.count("."),
            action=action,
            reason=reason or action,
            detail=detail,
            file_ids=list(file_ids),
            child_shards=list(child_shards or []),
            error_message=error_message,
            error_code=None,
            dlq_request_id=None,
            handler_request_id=None,
            decided_at=self._at(at),
        )
        self._decisions.append(record)
        return record

    def add_result(
        self, run: int, body: Any, *, at: float, function_error: str | None = None, status: int = 200
    ) -> None:
        """The orchestrator's answer to the harness's invoke of run `run`."""
        self._results.append(InvokeResult(run, status, function_error, body, self._at(at)))

    def add_quarantine(self, file_id: str, *, at: float, job_id: str, shard_id: str | None = None) -> None:
        self._quarantine.append(
            QuarantineRecord(job_id, file_id, shard_id or file_id, None, "Task timed out after", None, self._at(at))
        )

    def add_rows(self, file_id: str, count: int, *, at: float) -> None:
        self._rows.append((self._at(at), file_id, count))


def _cloudwatch_time(moment: float) -> str:
    # CloudWatch's own spelling: milliseconds and a +0000 offset without a colon.
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def evaluate_scripted(
    scenario: Scenario, script: Callable[[FakeObservations], object], *, poll_interval: float = 0.1
) -> tuple[Report, FakeObservations, FakeClock]:
    """Script observations with `script`, then evaluate the scenario on them with a fake clock (instantly)."""
    clock = FakeClock()
    observations = FakeObservations(clock, started_at=clock.now)
    script(observations)
    report = evaluate(scenario, observations, wall_clock=clock, sleep=clock.sleep, poll_interval=poll_interval)
    return report, observations, clock


def scenario_from_yaml(text: str, directory: Path, name: str = "scenario.yaml") -> Scenario:
    """Write `text` as a scenario file and load it, so that locations name a real file and line."""
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return load_scenario(path)
