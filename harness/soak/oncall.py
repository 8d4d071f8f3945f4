"""The on-call view of a soak: every message a person would have received, on the night it came, each marked a
true or a false alarm; and the invariants over the whole soak.

What reaches a person: JOB FAILED on the notifications topic (from the worker or the error handler), each
alarm's notifications on the alarms topic (ALARM pages someone; OK says it is over), and dead letters the
error handler could not handle (its own dead-letter topic). JOB SUCCEEDED is counted as information.

A message belongs to the night whose scheduled time came last before it (night 0: before the first night).
- JOB FAILED is true on a night that drew a fault, false on a night without one.
- JOB NOT RUN entering ALARM is true on a night the job was skipped, false otherwise.
- JOB FAILED (the alarm) entering ALARM is true when errors were counted (CloudWatch's reason cites
  datapoints), false when missing data was treated as breaching: the design's own false alarm on every idle
  period (`scenarios/job-failed-idle-false-alarm.yaml`).
- A dead letter kept by the error handler is always true: something failed and nothing handled it.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.records import Message, alarm_transition, parse_json
from harness.reproduce import write_scenario

from .run import NightResult, SoakRun


@dataclass(frozen=True)
class Received:
    """One message a person received."""

    night: int
    kind: str
    """job_failed, job_succeeded, job_not_run_alarm, job_not_run_ok, job_failed_alarm, job_failed_ok,
    error_handler_dead_letter."""
    at: float
    true_alarm: bool | None
    """True or false alarm; None for information (JOB SUCCEEDED, an alarm's OK)."""
    why: str


@dataclass(frozen=True)
class Invariant:
    name: str
    held: bool
    detail: str = ""
    nights: list[int] = field(default_factory=list)
    """The nights that broke it."""


def night_of(run: SoakRun, at: float) -> int:
    """The night whose scheduled time came last at or before `at` (0: before the first)."""
    starts = [result.night.at for result in run.nights]
    return bisect.bisect_right(starts, at)


def received(run: SoakRun, alarm_names: dict[str, str]) -> list[Received]:
    """Every message a person received over the soak, in order, each marked."""
    by_number = {result.night.number: result for result in run.nights}
    found: list[Received] = []
    for message in run.messages.get("notifications", []):
        found.append(_notification(run, message, by_number))
    alarms = {name: alarm for alarm, name in alarm_names.items()}
    for message in run.messages.get("alarms", []):
        item = _alarm(run, message, alarms, by_number)
        if item is not None:
            found.append(item)
    for message in run.messages.get("error_handler_dlq", []):
        found.append(Received(night_of(run, message.received_at), "error_handler_dead_letter", message.received_at,
                              True, "a dead letter the error handler could not handle"))
    return sorted(found, key=lambda item: item.at)


def _notification(run: SoakRun, message: Message, nights: dict[int, NightResult]) -> Received:
    number = night_of(run, message.received_at)
    if message.subject != "JOB FAILED":
        return Received(number, "job_succeeded", message.received_at, None, "information")
    kinds = nights[number].night.kinds if number in nights else []
    body = parse_json(message.body)
    reason = body.get("reason", "") if isinstance(body, dict) else ""
    why = f"the night drew {', '.join(kinds)}" if kinds else "the night drew no fault"
    return Received(number, "job_failed", message.received_at, bool(kinds), f"{why} ({reason or 'no reason'})")


def _alarm(run: SoakRun, message: Message, alarms: dict[str, str],
           nights: dict[int, NightResult]) -> Received | None:
    transition = alarm_transition(message)
    if transition is None or transition.alarm_name not in alarms:
        return None
    alarm = alarms[transition.alarm_name]
    number = night_of(run, transition.at)
    if number == 0 and transition.new_state == "ALARM":
        return _at_deploy(run, alarm, transition.at)
    if transition.new_state != "ALARM":
        return Received(number, f"{alarm}_{transition.new_state.lower()}", transition.at, None, "information")
    if alarm == "job_not_run":
        skipped = number in nights and not nights[number].night.runs
        why = "the job was skipped that night" if skipped else "the job ran that night"
        return Received(number, "job_not_run_alarm", transition.at, skipped, why)
    counted = transition.cause == "datapoints"
    why = "errors were counted" if counted else "no datapoint: missing data treated as breaching"
    return Received(number, f"{alarm}_alarm", transition.at, counted, why)


def _at_deploy(run: SoakRun, alarm: str, at: float) -> Received:
    """An alarm's first evaluation, at its creation (the deploy), before any job ran: missing data treated as
    breaching. A false alarm, unless it is JOB NOT RUN and the first night is skipped: the alarm is still in
    ALARM then, so it is the page a person has for that night (it does not notify again)."""
    why = "the alarm's first evaluation, at its creation (the deploy), before any job ran: missing data treated as "
    why += "breaching"
    if alarm == "job_not_run" and run.nights and not run.nights[0].night.runs:
        return Received(0, "job_not_run_alarm", at, True, why + "; still in ALARM on night 1, which is skipped")
    return Received(0, f"{alarm}_alarm", at, False, why)


def invariants(run: SoakRun, messages: list[Received]) -> list[Invariant]:
    """The invariants over the soak: each night's checks (no file lost or loaded twice, quarantines reported,
    one alert per failure, as the model predicts), one decision per dead letter, and JOB NOT RUN on exactly
    the nights the job was skipped (once per streak of skipped nights: an alarm in ALARM does not notify
    again)."""
    checked = [result for result in run.nights if result.night.runs]
    broken = [result.night.number for result in checked if not result.passed]
    decisions = [result.night.number for result in checked if result.dead_letters != result.decisions]
    expected = _first_skipped(run)
    # Night 0 is the deploy: its alarm stands for night 1 when that night is skipped (still in ALARM then).
    fired = sorted({max(item.night, 1) if item.true_alarm else item.night for item in messages
                    if item.kind == "job_not_run_alarm"} - {0})
    return [
        Invariant("every file loaded once, or quarantined and reported, or reported; the alerts the model predicts",
                  not broken, _nights_text(broken), broken),
        Invariant("one decision per dead letter", not decisions,
                  "; ".join(f"night {r.night.number}: {r.dead_letters} dead letter(s), {r.decisions} decision(s)"
                            for r in checked if r.night.number in decisions), decisions),
        Invariant("JOB NOT RUN exactly on skipped nights", fired == expected, _not_run_text(fired, expected),
                  sorted(set(fired) ^ set(expected))),
    ]


def silent_night_replays(run: SoakRun, messages: list[Received], folder: Path | None = None) -> dict[int, Path]:
    """For each skipped night that JOB NOT RUN did not page, a scenario file that replays it: the last night
    that ran before it, alone, with the night's own checks and its promise, JOB NOT RUN entering ALARM before
    the night after the skipped one; by night, each also on its night's result (`replay`)."""
    fired = {max(item.night, 1) if item.true_alarm else item.night for item in messages
             if item.kind == "job_not_run_alarm"}
    written: dict[int, Path] = {}
    for number in _first_skipped(run):
        before = [result for result in run.nights[:number - 1] if result.night.runs]
        if number in fired or not before:
            continue
        last, skipped = before[-1].night, run.nights[number - 1]
        document = last.scenario_document(run.soak)
        document["name"] = f"{run.soak.name}-n{number:03d}-not-run"
        document["description"] = (f"{skipped.night.label} of the soak {run.soak.name} was skipped and no JOB NOT "
                                   f"RUN paged anyone before the next night. This is {last.label}, the last that ran "
                                   "before it, alone; then no job runs.")
        days = round((skipped.night.at - last.at) / 86_400) + 1
        document["expect"] = [*document["expect"], {"alarm": {
            "alarm": "job_not_run", "transitions": ["OK", "ALARM"], "because": ["datapoints", "missing_data"],
            "when": [None, {"not_after": days * 86_400}]}}]
        comment = f"{skipped.night.label} of the soak {run.soak.name}: skipped, and JOB NOT RUN stayed silent."
        written[number] = skipped.replay = write_scenario(document, folder, comment=comment)
    return written


def _not_run_text(fired: list[int], expected: list[int]) -> str:
    silent = [night for night in expected if night not in fired]
    false = [night for night in fired if night not in expected]
    parts = []
    if silent:
        parts.append(f"no JOB NOT RUN for the skipped night(s) {', '.join(map(str, silent))}: CloudWatch evaluates the "
                     "most recent datapoints in a range of several periods (AWS: 'evaluation range'; LocalStack: "
                     "N + max(N/3, 2) periods), so a run in that range keeps the alarm OK. A period shorter than the "
                     "time between runs lets a missed run show (docs/aws-parity.md)")
    if false:
        parts.append(f"JOB NOT RUN on night(s) {', '.join(map(str, false))}, when the job ran")
    return "; ".join(parts)


def _first_skipped(run: SoakRun) -> list[int]:
    firsts, previous_ran = [], True
    for result in run.nights:
        if not result.night.runs and previous_ran:
            firsts.append(result.night.number)
        previous_ran = result.night.runs
    return firsts


def _nights_text(numbers: list[int]) -> str:
    return f"broken on night(s) {', '.join(map(str, numbers))}" if numbers else ""


def totals(messages: list[Received]) -> dict[str, dict[str, int]]:
    """Per kind of message: how many, how many true and how many false alarms."""
    counts: dict[str, Counter[str]] = {}
    for item in messages:
        mark = "information" if item.true_alarm is None else ("true" if item.true_alarm else "false")
        counts.setdefault(item.kind, Counter())[mark] += 1
    return {kind: {"total": sum(counter.values()), **counter} for kind, counter in sorted(counts.items())}


def as_json(run: SoakRun, messages: list[Received], checks: list[Invariant]) -> dict[str, Any]:
    """The soak's outcome as JSON: nights, messages, totals, invariants."""
    return {
        "soak": run.soak.name,
        "file": run.soak.source_file,
        "seed": run.soak.seed,
        "wall_seconds": round(run.wall_seconds, 2),
        "deploy_seconds": round(run.deploy_seconds, 2),
        "error": run.error,
        "before_first_night": [_item_json(item) for item in messages if item.night == 0],
        "nights": [_night_json(result, messages) for result in run.nights],
        "totals": totals(messages),
        "invariants": [{"name": check.name, "held": check.held, "detail": check.detail, "nights": check.nights}
                       for check in checks],
    }


def _night_json(result: NightResult, messages: list[Received]) -> dict[str, Any]:
    night = result.night
    return {
        "night": night.number, "date": night.date.isoformat(), "ran": night.runs, "job_id": night.job_id,
        "files": len(night.file_ids), "faults": night.kinds, "passed": result.passed,
        "loaded": result.loaded, "quarantined": result.quarantined,
        "dead_letters": result.dead_letters, "decisions": result.decisions,
        "failure": None if result.passed else result.failure_text(),
        "replay": str(result.replay) if result.replay else None,
        "stack_seconds": round(result.ran_until - result.started_at, 1),
        "wall_seconds": round(result.wall_seconds, 2),
        "received": [_item_json(item) for item in messages if item.night == night.number],
    }


def _item_json(item: Received) -> dict[str, Any]:
    return {"kind": item.kind, "at": item.at, "true_alarm": item.true_alarm, "why": item.why}
