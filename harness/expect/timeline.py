"""The scenario's timeline: every observed event, in order, relative to the job's start.

A failure report ends with it, so a person can see the chain an injected fault set off (attempts and
their faults, dead letters, notifications, alarm transitions, the error handler's decisions) next to
the expectation that did not hold.
"""

from __future__ import annotations

from typing import Any

from harness.kinds.fields import field_value, is_missing
from harness.records import epoch
from harness.text import files_text, request_text, value_text

from .snapshot import Snapshot, event_files, message_body

MAX_EVENTS = 200


def build_timeline(snapshot: Snapshot) -> list[str]:
    events: list[tuple[float, int, str]] = []
    for index, started in enumerate(snapshot.run_started_at, start=snapshot.first_run):
        events.append((started, 0, f"run {index} of the job submitted"))
    for attempt in snapshot.attempts:
        status = snapshot.status(attempt)
        took = f" after {attempt.ended_at - attempt.started_at:.2f} s" if attempt.ended_at is not None else ""
        fault = f"fault {attempt.fault}" if attempt.fault else "no fault"
        shard = f" {attempt.unit}" if attempt.unit else ""
        events.append(
            (
                attempt.started_at,
                1,
                f"{attempt.function} attempt {attempt.attempt} ({request_text(attempt.request_id)}){shard} "
                f"{files_text(attempt.file_ids)}: {fault}, {status}{took}",
            )
        )
    scenario = snapshot.scenario
    dead_letters = {source for function in scenario.functions()
                    if (source := scenario.dead_letter_source(function)) is not None}
    for topic in sorted(dead_letters):
        for message in snapshot.messages(topic):
            body = message_body(message)
            what = files_text(event_files(body)) if event_files(body) else value_text(message.body, 60)
            error = message.attributes.get("ErrorMessage")
            events.append((message.received_at, 2, f"{topic}: {what} ErrorMessage={value_text(error, 100)}"))
    others = [source for source in [*scenario.topics(), *scenario.queues()]
              if source not in dead_letters and not scenario.alarms_notifying(source)]
    for source in others:
        for message in snapshot.messages(source):
            text = _notification_text(message.subject, message_body(message))
            events.append((message.received_at, 3, f"{source}: {text}"))
    events += _alarm_events(snapshot)
    for decision in snapshot.decisions:
        decided = epoch(getattr(decision, "decided_at", None), snapshot.started_at)
        events.append((decided, 5, f"error handler: {_decision_text(decision)}"))
    events.sort(key=lambda event: (event[0], event[1]))
    lines = [f"{snapshot.since_start(moment):+8.2f} s  {text}" for moment, _, text in events[:MAX_EVENTS]]
    if len(events) > MAX_EVENTS:
        lines.append(f"... and {len(events) - MAX_EVENTS} more events")
    return lines


def _field(body: Any, path: str) -> Any:
    value = field_value(body, path)
    return None if is_missing(value) else value


def _notification_text(subject: str | None, body: Any) -> str:
    shard = _field(body, "shard_id")
    text = f"{subject or '(no subject)'}" + (f" shard {shard}" if shard is not None else "")
    if subject is None and shard is None:
        return value_text(body, 100)
    if subject == "JOB SUCCEEDED":
        stats = [f"{key}={_field(body, key)}" for key in ("files", "files_inserted", "rows_inserted")]
        return f"{text} ({', '.join(stats)})"
    reason = _field(body, "reason")
    error = _field(body, "error_message")
    details = [f"reason={reason}"] if reason else []
    if _field(body, "error_type"):
        details.append(f"{_field(body, 'error_type')}: {value_text(error, 100)}")
    return f"{text} ({', '.join(details)})" if details else text


def _alarm_events(snapshot: Snapshot) -> list[tuple[float, int, str]]:
    events = []
    for alarm, transition, initial in snapshot.every_alarm_transition():
        cause = transition.cause.replace("_", " ")
        if initial:
            cause += ", initial evaluation at creation"
        events.append(
            (transition.at, 4, f"alarm {alarm}: {transition.old_state} -> {transition.new_state} ({cause})")
        )
    return events


def _decision_text(decision: Any) -> str:
    files = [str(file_id) for file_id in decision.file_ids or []]
    text = f"{decision.action} shard {decision.shard_id} {files_text(files)}"
    children = [
        f"{child.get('shard_id')} ({len(child.get('file_ids') or [])})"
        for child in decision.child_shards or []
        if isinstance(child, dict)
    ]
    if children:
        text += " into " + ", ".join(children)
    return f"{text} ({decision.detail})" if decision.detail else text
