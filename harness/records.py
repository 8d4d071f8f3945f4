"""What observing a stack yields, record by record: ledger attempts, topic messages, the orchestrator's
answers, alarm transitions, and the error handler's decisions and quarantined files.

Plain frozen dataclasses with no dependency on the harness, so the live stack (`harness.observe.live`),
the database reads (`harness.stack.database`), the expectation engine and the tests' fakes all share them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class ClockReading:
    """The stack's clock as the platform gives it, read first in every poll (`harness.wire.ClockState`)."""

    now: float
    """The stack's clock, epoch seconds: the wall clock plus the idle time skipped so far."""
    busy: list[str] | None
    """What the platform still does for the stack, in words ([]: none of its code runs); None when the
    platform cannot tell (then only a quiet window says the stack has settled)."""
    wakeups: list[dict[str, Any]] = field(default_factory=list)
    """Its pending wake-ups, earliest first: `{due, kind, what}` (kind: retry, alarm, wait)."""

    @property
    def idle(self) -> bool:
        """The platform counts the stack's work and none of it runs: its clock may be moved."""
        return self.busy is not None and not self.busy

    def owed(self) -> list[dict[str, Any]]:
        """Wake-ups of the stack's own invocations (a retry, the end of a wait), not of its alarms' clock."""
        return [wakeup for wakeup in self.wakeups if wakeup.get("kind") != "alarm"]


@dataclass(frozen=True)
class Attempt:
    """One row of the attempt ledger (one per invocation attempt, recorded by the fault wrapper)."""

    function: str
    """Logical name: orchestrator, worker or error_handler."""
    request_id: str
    attempt: int
    """1, 2, 3: counted per request ID."""
    shard_id: str | None
    file_ids: list[str]
    event: dict[str, Any] | None
    """The invocation's event."""
    fault: str | None
    """Fault kind injected on this attempt; None if none."""
    outcome: str | None
    """ok or error; None when killed (timeout, out of memory) or still running."""
    started_at: float
    ended_at: float | None
    run: int = 1
    """The run of the job the request belongs to (see job.runs)."""
    released: RetryRelease | None = None
    """For a retry, when Lambda let it go, as the platform measured it; None for a first attempt, and where
    the platform does not tell (no stack clock)."""

    @property
    def unit(self) -> str:
        """What the attempt works on, for a timeline: `job <id>` for a job's event (the orchestrator's, whose
        ledger row carries the job ID), `shard <id>` for a shard's, or "" when it has neither."""
        if not self.shard_id:
            return ""
        event = self.event if isinstance(self.event, dict) else {}
        is_job = "shard_id" not in event and event.get("job_id") == self.shard_id
        return f"{'job' if is_job else 'shard'} {self.shard_id}"


@dataclass(frozen=True)
class RetryRelease:
    """When Lambda released a retry, on the stack's clock (`harness.wire.RetryRelease`): its delay ran out at
    `released_at`, counted from the failure of the attempt before at `failed_at`. The retry's handler starts
    after the platform took the event from its queue, so its ledger time is later by the platform's own
    latency, which a busy machine stretches."""

    failed_at: float
    released_at: float

    @property
    def waited(self) -> float:
        """The delay the platform applied (its wire record's `delay` is the one it was asked for)."""
        return self.released_at - self.failed_at


@dataclass(frozen=True)
class Message:
    """One message seen on a topic, through an SQS tap subscribed to it."""

    topic: str
    """notifications, dlq or alarms."""
    subject: str | None
    body: str
    """The SNS Message: for dlq the original event, for alarms CloudWatch's alarm JSON."""
    attributes: dict[str, str] = field(default_factory=dict)
    """SNS MessageAttributes (dlq: RequestID, ErrorCode, ErrorMessage)."""
    received_at: float = 0.0


@dataclass(frozen=True)
class InvokeResult:
    """What the harness's invoke of the orchestrator answered, for one run of the job."""

    run: int
    status: int
    function_error: str | None
    body: Any
    """The decoded JSON payload: the orchestrator's summary, or Lambda's error object."""
    at: float = 0.0


@dataclass(frozen=True)
class DecisionRecord:
    """One row of the decisions table: what the error handler decided about one dead letter."""

    id: int
    message_id: str
    job_id: str | None
    shard_id: str | None
    reshard_depth: int | None
    action: str
    reason: str
    detail: str | None
    file_ids: list[str] | None
    child_shards: list[dict[str, Any]]
    error_message: str | None
    error_code: str | None
    dlq_request_id: str | None
    handler_request_id: str | None
    decided_at: Any


@dataclass(frozen=True)
class QuarantineRecord:
    """One row of the quarantine table: a file the error handler gave up on."""

    job_id: str
    file_id: str
    shard_id: str | None
    reshard_depth: int | None
    error_message: str | None
    decision_id: int | None
    quarantined_at: Any


# How CloudWatch (and LocalStack) word a state entered for want of datapoints: "no datapoints were
# received for 1 period and 1 missing datapoint was treated as [Breaching]".
_MISSING_DATA_MARKERS = ("no datapoints were received", "missing datapoint")


@dataclass(frozen=True)
class AlarmTransition:
    """A state change of one alarm, read from its notification on the alarms topic."""

    alarm_name: str
    old_state: str | None
    new_state: str
    at: float
    reason: str = ""
    """NewStateReason, CloudWatch's own words."""
    initial: bool = False
    """Whether the evaluation CloudWatch makes at the alarm's creation caused it: a change from the state
    every alarm starts in (INSUFFICIENT_DATA) before its second evaluation."""

    @property
    def cause(self) -> str:
        """missing_data when no datapoint was there (TreatMissingData decided), else datapoints."""
        text = self.reason.lower()
        return "missing_data" if any(marker in text for marker in _MISSING_DATA_MARKERS) else "datapoints"


def parse_json(text: str) -> Any:
    """The JSON in `text`, or None when it is not JSON (a message body is whatever was published)."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def epoch(value: Any, default: float) -> float:
    """Epoch seconds from a number, a datetime or an ISO-8601 text; `default` when there is none."""
    if isinstance(value, bool) or value is None:
        return default
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        # CloudWatch writes StateChangeTime as 2026-11-03T10:00:10.123+0000, which Python >= 3.11 reads.
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return default
        # A time without an offset would be read as local time; CloudWatch's are UTC.
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    return default


def alarm_transition(message: Message, interval: float = 0.0) -> AlarmTransition | None:
    """The transition an alarm notification announces (`interval`: the alarm's evaluation interval, which
    tells the evaluation at its creation), or None if the message is not an alarm notification."""
    body = parse_json(message.body)
    if not isinstance(body, dict) or not isinstance(body.get("NewStateValue"), str):
        return None
    at = epoch(body.get("StateChangeTime"), message.received_at)
    configured = body.get("AlarmConfigurationUpdatedTimestamp")
    configured_at = None if configured is None else epoch(configured, message.received_at)
    return AlarmTransition(
        alarm_name=str(body.get("AlarmName", "")),
        old_state=body.get("OldStateValue"),
        new_state=body["NewStateValue"],
        at=at,
        reason=str(body.get("NewStateReason") or ""),
        initial=is_initial(body.get("OldStateValue"), at, configured_at, interval),
    )


def is_initial(old_state: str | None, at: float, configured_at: float | None, interval: float) -> bool:
    """Whether a transition at `at` is the evaluation at the alarm's creation: a change from the state every
    alarm starts in before the second evaluation, `interval` after the first at the earliest."""
    return configured_at is not None and old_state in (None, "INSUFFICIENT_DATA") and at < configured_at + interval


def event_files(event: Any) -> list[str]:
    """File IDs of a shard or job event, or of the shards inside an SNS event (a dead letter handed to the
    error handler); [] when it has none."""
    if isinstance(event, dict) and isinstance(event.get("file_ids"), list):
        return [str(file_id) for file_id in event["file_ids"]]
    if isinstance(event, dict) and isinstance(event.get("Records"), list):
        files: list[str] = []
        for record in event["Records"]:
            inner = record.get("Sns", {}).get("Message") if isinstance(record, dict) else None
            if isinstance(inner, str):
                files += event_files(parse_json(inner))
        return files
    return []


@dataclass(frozen=True)
class LogLine:
    """One line a function wrote to CloudWatch Logs (Lambda's START/END/REPORT lines included)."""

    function: str
    """Logical name: orchestrator, worker or error_handler."""
    stream: str
    """The log stream: one per execution environment, so one invocation's lines are together in one."""
    timestamp: float
    """Epoch seconds."""
    message: str


# Lambda opens every invocation's lines with this (harness/localstack/executor/lambda_logs.py writes AWS's format).
_START = "START RequestId: "


def lines_by_attempt(lines: list[LogLine]) -> dict[tuple[str, str, int], list[str]]:
    """Each attempt's log lines, keyed like the ledger: (function, request ID, attempt number).

    An async retry keeps its request ID, so the k-th invocation started with a request ID is its attempt k.
    Lines before a START in the same stream (INIT_START, the module's own output at import) belong to the
    invocation that START opens."""
    streams: dict[tuple[str, str], list[LogLine]] = {}
    for line in lines:
        streams.setdefault((line.function, line.stream), []).append(line)
    blocks: list[tuple[float, str, str, list[str]]] = []
    for (function, _stream), in_stream in streams.items():
        pending: list[str] = []
        current: list[str] | None = None
        for line in sorted(in_stream, key=lambda item: item.timestamp):
            text = line.message.rstrip("\n")
            if text.startswith(_START):
                request_id = text[len(_START):].split()[0] if text[len(_START):].split() else ""
                current = [*pending, text]
                pending = []
                blocks.append((line.timestamp, function, request_id, current))
            elif current is not None and not text.startswith("INIT_START"):
                current.append(text)
                if text.startswith("REPORT RequestId:"):
                    current = None
            else:
                pending.append(text)
    by_attempt: dict[tuple[str, str, int], list[str]] = {}
    counts: dict[tuple[str, str], int] = {}
    for _at, function, request_id, block in sorted(blocks, key=lambda item: item[0]):
        number = counts[(function, request_id)] = counts.get((function, request_id), 0) + 1
        by_attempt[(function, request_id, number)] = block
    return by_attempt
