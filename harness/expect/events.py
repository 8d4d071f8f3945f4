"""The scenario's events as data: what `timeline.py` writes as text lines, as JSON-ready dicts to draw.

Each event has an `id` (unique within the report), a `type` (run, attempt, message, alarm, decision), a
`lane` (a function, a topic, or `alarm:<name>`) and `t`, seconds from the job's start. An attempt also
has `end` (for a killed attempt that left no end, `Snapshot.failed_at`: a crash when its retry or dead
letter says, a timeout at its Timeout), `timeout_at`,
`status` (ok, error, killed, timeout, running) and `log`: the function's log lines of that attempt, from
CloudWatch Logs, START to REPORT (empty when Lambda had not delivered them yet). A re-shard decision
names the first attempts of its children in `child_attempts`, the arrows of the fan-out.
"""

from __future__ import annotations

from typing import Any

from harness.records import epoch

from .snapshot import Snapshot, event_files, message_body

MAX_EVENTS = 2000
MAX_LOG_LINES = 200
MAX_LOG_CHARS = 2000


def build_events(snapshot: Snapshot) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for index, started in enumerate(snapshot.run_started_at, start=snapshot.first_run):
        events.append({"type": "run", "lane": "job", "t": snapshot.since_start(started), "run": index})
    first_attempt_of_shard: dict[tuple[str, str], int] = {}
    for attempt in snapshot.attempts:
        events.append(_attempt_event(snapshot, attempt))
        if attempt.shard_id is not None:
            first_attempt_of_shard.setdefault((attempt.function, attempt.shard_id), len(events) - 1)
    for topic in message_sources(snapshot):
        for message in snapshot.messages(topic):
            body = message_body(message)
            shard = body.get("shard_id") if isinstance(body, dict) else None
            events.append({
                "type": "message", "lane": topic, "t": snapshot.since_start(message.received_at),
                "topic": topic, "subject": message.subject, "shard_id": shard,
                "file_ids": event_files(body), "error_message": message.attributes.get("ErrorMessage"),
            })
    events += _alarm_events(snapshot)
    decisions: list[tuple[dict[str, Any], list[str]]] = []
    for decision in snapshot.decisions:
        children = [str(child.get("shard_id")) for child in decision.child_shards or [] if isinstance(child, dict)]
        event = {
            "type": "decision", "lane": "error_handler",
            "t": snapshot.since_start(epoch(getattr(decision, "decided_at", None), snapshot.started_at)),
            "action": decision.action, "reason": decision.reason, "detail": decision.detail,
            "shard_id": decision.shard_id, "file_ids": [str(f) for f in decision.file_ids or []],
            "child_shards": children,
        }
        events.append(event)
        decisions.append((event, children))
    order = sorted(range(len(events)), key=lambda i: (events[i]["t"], _RANK[events[i]["type"]]))
    ids = {index: f"ev-{position}" for position, index in enumerate(order)}
    for index, event in enumerate(events):
        event["id"] = ids[index]
    for event, children in decisions:
        event["child_attempts"] = [ids[first_attempt_of_shard[("worker", child)]] for child in children
                                   if ("worker", child) in first_attempt_of_shard]
    return [events[index] for index in order][:MAX_EVENTS]


_RANK = {"run": 0, "attempt": 1, "message": 2, "alarm": 4, "decision": 5}


def message_sources(snapshot: Snapshot) -> list[str]:
    """Every topic and queue of the scenario's stack whose messages are events."""
    return [*snapshot.scenario.topics(), *snapshot.scenario.queues()]


def _attempt_event(snapshot: Snapshot, attempt: Any) -> dict[str, Any]:
    status = snapshot.status(attempt)
    if status == "killed" and attempt.fault == "timeout":
        status = "timeout"
    timeout = snapshot.timeout_of(attempt.function)
    if attempt.ended_at is not None:
        end = attempt.ended_at
    elif status in ("killed", "timeout"):
        end = snapshot.failed_at(attempt)
    else:
        end = min(snapshot.now, attempt.started_at + timeout)
    return {
        "type": "attempt", "lane": attempt.function, "t": snapshot.since_start(attempt.started_at),
        "end": snapshot.since_start(end), "timeout_at": snapshot.since_start(attempt.started_at + timeout),
        "function": attempt.function, "request_id": attempt.request_id, "attempt": attempt.attempt,
        "shard_id": attempt.shard_id, "unit": attempt.unit, "file_ids": list(attempt.file_ids), "fault": attempt.fault,
        "status": status, "run": attempt.run,
        "log": _log(snapshot.log_lines.get((attempt.function, attempt.request_id, attempt.attempt), [])),
    }


def _log(lines: list[str]) -> list[str]:
    """An attempt's log lines, the first MAX_LOG_LINES of them, each cut at MAX_LOG_CHARS."""
    kept = [line if len(line) <= MAX_LOG_CHARS else line[:MAX_LOG_CHARS] + " [...]" for line in lines[:MAX_LOG_LINES]]
    if len(lines) > MAX_LOG_LINES:
        kept.append(f"[... {len(lines) - MAX_LOG_LINES} more lines: harness logs FUNCTION on a kept stack]")
    return kept


def _alarm_events(snapshot: Snapshot) -> list[dict[str, Any]]:
    events = []
    for alarm, transition, initial in snapshot.every_alarm_transition():
        events.append({
            "type": "alarm", "lane": f"alarm:{alarm}", "t": snapshot.since_start(transition.at), "alarm": alarm,
            "old_state": transition.old_state, "new_state": transition.new_state, "reason": transition.reason,
            "cause": transition.cause, "initial": initial,
        })
    return events
