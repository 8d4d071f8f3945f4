"""`dlq`, `sns` and `alarm`: messages seen on the topics, and the alarm states they announce."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from harness.observe.records import AlarmTransition, Message
from harness.scenario import AlarmExpectation, DlqExpectation, SnsExpectation
from harness.scenario.catalog import DEAD_LETTER_TOPICS

from ..snapshot import Snapshot, event_files, message_body
from ..text import files_text, listing, offset, plural, value_text
from .fields import field_text, field_value, is_missing, json_equal, number
from .verdict import Verdict, count_holds, count_text


def check_dlq(expectation: DlqExpectation, snapshot: Snapshot) -> Verdict:
    wanted_files = set(expectation.files or [])
    selected = [
        message
        for message in snapshot.messages(DEAD_LETTER_TOPICS[expectation.function])
        if not wanted_files or set(event_files(message_body(message))) & wanted_files
    ]
    problems: list[str] = []
    if not count_holds(len(selected), expectation.count, expectation.min_count):
        wanted = count_text(expectation.count, expectation.min_count)
        problems.append(f"{plural(len(selected), 'message')}, expected {wanted}")
    for message in selected:
        problems += _dead_letter_problems(expectation, message, snapshot)
    described = [_dead_letter_text(message) for message in selected]
    observed = f"{plural(len(selected), 'message')}" + (f": {listing(described)}" if described else "")
    if problems:
        observed = f"{listing(problems)}; seen: {observed}"
    return Verdict(holds=not problems, expected=_dlq_expected(expectation), observed=observed)


def _dead_letter_problems(expectation: DlqExpectation, message: Message, snapshot: Snapshot) -> list[str]:
    problems: list[str] = []
    body = message_body(message)
    where = files_text(event_files(body)) if event_files(body) else value_text(message.body, 60)
    error_message = message.attributes.get("ErrorMessage")
    if expectation.error_message is not None and not re.search(expectation.error_message, error_message or ""):
        problems.append(
            f"{where}: ErrorMessage {value_text(error_message)} does not match /{expectation.error_message}/"
        )
    error_code = message.attributes.get("ErrorCode")
    if expectation.error_code is not None and error_code != expectation.error_code:
        problems.append(f"{where}: ErrorCode {value_text(error_code)}, expected {expectation.error_code!r}")
    if expectation.body_is_original_event:
        function = expectation.function
        files = set(event_files(body))
        events = [
            attempt.event
            for attempt in snapshot.attempts
            if attempt.function == function and set(attempt.file_ids) == files
        ]
        if not events:
            problems.append(f"{where}: no {function} attempt had these files, so the body is no event of it")
        elif not any(json_equal(body, event) for event in events):
            problems.append(
                f"{where}: body {value_text(message.body)} differs from the {function}'s event "
                f"{value_text(events[0])}"
            )
    return problems


def _dead_letter_text(message: Message) -> str:
    files = event_files(message_body(message))
    error = message.attributes.get("ErrorMessage")
    code = message.attributes.get("ErrorCode")
    what = files_text(files) if files else "body " + value_text(message.body, 60)
    return f"{what} ErrorMessage={value_text(error, 90)} ErrorCode={value_text(code)}"


def _dlq_expected(expectation: DlqExpectation) -> str:
    text = f"{count_text(expectation.count, expectation.min_count)} dead-lettered messages"
    if expectation.function != "worker":
        text += f" of the {expectation.function}"
    if expectation.files:
        text += f" holding any of {files_text(expectation.files)}"
    conditions = []
    if expectation.error_message is not None:
        conditions.append(f"ErrorMessage matching /{expectation.error_message}/")
    if expectation.error_code is not None:
        conditions.append(f"ErrorCode {expectation.error_code!r}")
    if expectation.body_is_original_event:
        conditions.append(f"the {expectation.function}'s original event as body")
    return text + (", each with " + ", ".join(conditions) if conditions else "")


def check_sns(expectation: SnsExpectation, snapshot: Snapshot) -> Verdict:
    messages = snapshot.messages(expectation.topic)
    matching: list[tuple[Message, Any]] = []
    near_misses: list[str] = []
    for message in messages:
        body = message_body(message)
        why_not = _mismatch(expectation, message, body, snapshot)
        if why_not is None:
            matching.append((message, body))
        elif not why_not.startswith(("subject ", "run ")):
            near_misses.append(f"{_message_text(message, body)}: {why_not}")
    problems: list[str] = []
    if not count_holds(len(matching), expectation.count, expectation.min_count):
        problems.append(f"{len(matching)} matching, expected {count_text(expectation.count, expectation.min_count)}")
    totals_text = []
    for path, wanted in expectation.totals.items():
        total, bad = _total(matching, path)
        totals_text.append(f"{path}={total:g}")
        if bad:
            problems.append(f"{path} is not a number in {plural(bad, 'matching message')}")
        elif abs(total - wanted) > 1e-9:
            problems.append(f"total {path}={total:g}, expected {wanted:g}")
    observed = f"{len(matching)} matching of {plural(len(messages), 'message')} on {expectation.topic}"
    if totals_text:
        observed += f" (totals {', '.join(totals_text)})"
    if problems:
        subjects = Counter(message.subject or "(no subject)" for message in messages)
        seen = ", ".join(f"{count} x {subject}" for subject, count in subjects.most_common())
        observed = f"{listing(problems)}; seen: {observed}" + (f"; subjects: {seen}" if seen else "")
        if near_misses:
            observed += f"; not matching: {listing(near_misses, 3)}"
    return Verdict(holds=not problems, expected=_sns_expected(expectation), observed=observed)


def _mismatch(expectation: SnsExpectation, message: Message, body: Any, snapshot: Snapshot) -> str | None:
    """Why a message is not selected; None when it is. Subject and run come first so that a report can
    tell "another kind of message" from "the right kind with a wrong field"."""
    if expectation.subject is not None and message.subject != expectation.subject:
        return f"subject {message.subject!r}"
    if expectation.run is not None and snapshot.run_of(message.received_at) != expectation.run:
        return f"run {snapshot.run_of(message.received_at)}"
    for path, wanted in expectation.fields.items():
        value = field_value(body, path)
        if is_missing(value):
            return f"no field {path}"
        if not json_equal(value, wanted):
            return f"{path}={value_text(value, 80)}, not {value_text(wanted, 80)}"
    for path, pattern in expectation.field_patterns.items():
        value = field_value(body, path)
        if is_missing(value):
            return f"no field {path}"
        if not re.search(pattern, field_text(value)):
            return f"{path}={value_text(value, 80)} does not match /{pattern}/"
    return None


def _total(matching: list[tuple[Message, Any]], path: str) -> tuple[float, int]:
    total, bad = 0.0, 0
    for _, body in matching:
        value = number(field_value(body, path))
        if value is None:
            bad += 1
        else:
            total += value
    return total, bad


def _message_text(message: Message, body: Any) -> str:
    shard = field_value(body, "shard_id")
    return f"{message.subject or '(no subject)'}" + ("" if is_missing(shard) else f" shard {shard}")


def _sns_expected(expectation: SnsExpectation) -> str:
    text = f"{count_text(expectation.count, expectation.min_count)} messages on {expectation.topic}"
    if expectation.subject is not None:
        text += f" with subject {expectation.subject!r}"
    if expectation.run is not None:
        text += f" from run {expectation.run}"
    conditions = [f"{path}={value_text(value, 80)}" for path, value in expectation.fields.items()]
    conditions += [f"{path} matching /{pattern}/" for path, pattern in expectation.field_patterns.items()]
    if conditions:
        text += " where " + ", ".join(conditions)
    if expectation.totals:
        text += "; totals " + ", ".join(f"{path}={value:g}" for path, value in expectation.totals.items())
    return text


def check_alarm(expectation: AlarmExpectation, snapshot: Snapshot) -> Verdict:
    scenario = snapshot.scenario
    name = snapshot.observations.alarm_name(expectation.alarm)
    interval = scenario.stack.evaluation_interval(expectation.alarm)
    since = expectation.since or ("job" if scenario.job is not None else "creation")
    transitions = snapshot.alarm_transitions(expectation.alarm)

    def counted(transition: AlarmTransition) -> bool:
        if since == "creation":
            return True
        return not transition.is_initial(interval) and transition.at >= snapshot.started_at

    counted_transitions = [t for t in transitions if counted(t)]
    holds = _is_subsequence(list(zip(expectation.transitions, expectation.causes(), strict=True)), counted_transitions)
    violations = [t for t in transitions if counted(t) and t.new_state in expectation.never]
    parts = []
    if expectation.transitions:
        steps = [
            state if cause == "any" else f"{state} (because of {cause.replace('_', ' ')})"
            for state, cause in zip(expectation.transitions, expectation.causes(), strict=True)
        ]
        parts.append(f"enter {' -> '.join(steps)}, in this order (others may come between)")
    if expectation.never:
        parts.append(f"never enter {' or '.join(expectation.never)}")
    window = "after the job started" if since == "job" else "from its creation"
    expected = f"alarm {expectation.alarm} ({name}) to {' and '.join(parts)}, {window}"
    observed = "; ".join(_transition_text(t, snapshot, counted(t), interval) for t in transitions)
    observed = f"entered {observed}" if transitions else f"no transition of {name} on the alarms topic"
    if violations:
        first = violations[0]
        observed = f"entered {first.new_state}, which it must never enter; {observed}"
    elif not holds:
        hint = _alarm_hint(expectation, transitions, counted, since)
        if hint:
            observed += f". {hint}"
    return Verdict(holds=holds and not violations, expected=expected, observed=observed, final=bool(violations))


def _transition_text(transition: AlarmTransition, snapshot: Snapshot, counted: bool, interval: float) -> str:
    when = offset(snapshot.since_start(transition.at))
    cause = transition.cause.replace("_", " ")
    text = f"{transition.new_state} at {when} ({cause}"
    if transition.is_initial(interval):
        text += ", initial evaluation at creation"
    if not counted:
        text += ", not counted"
    return text + ")"


def _alarm_hint(expectation: AlarmExpectation, transitions: list[AlarmTransition], counted: Any, since: str) -> str:
    """How to read a state that was entered, but not in the way the expectation counts."""
    wanted: dict[str, str] = dict(zip(expectation.transitions, expectation.causes(), strict=True))
    other_cause = [
        t for t in transitions if counted(t) and wanted.get(t.new_state, t.cause) not in ("any", t.cause)
    ]
    if other_cause:
        t = other_cause[0]
        return (
            f"{t.new_state} was entered because of {t.cause.replace('_', ' ')}, "
            f"not {wanted[t.new_state].replace('_', ' ')}: if that is what you mean, say `because: {t.cause}` "
            "(or one cause per transition, like [datapoints, missing_data]); alarm transitions count only their "
            "stated cause since harness 0.2, because missing data treated as breaching alarms on every idle period"
        )
    uncounted = [t for t in transitions if not counted(t) and t.new_state in wanted]
    if uncounted and since == "job":
        return (
            f"{uncounted[0].new_state} was entered before the job started (the evaluation at creation), which is "
            "reported, not counted: an alarm already in a state cannot enter it again, so run a clean job first "
            "(job: {runs: 2, next_run_when: ...} with faults on run 2) or say `since: creation`"
        )
    return ""


def _is_subsequence(wanted: list[tuple[str, str]], seen: list[AlarmTransition]) -> bool:
    """Whether the (state, cause) steps appear in order among the transitions (others may come between)."""
    remaining = iter(seen)
    return all(
        any(t.new_state == state and cause in ("any", t.cause) for t in remaining) for state, cause in wanted
    )
