"""`attempts`: how often a function was invoked, and how many attempts each invocation got."""

from __future__ import annotations

import json

from harness.observe.records import Attempt
from harness.scenario import AttemptsExpectation

from ..snapshot import Snapshot
from ..text import files_text, listing, plural, request_text
from .verdict import Verdict


def check_attempts(expectation: AttemptsExpectation, snapshot: Snapshot) -> Verdict:
    groups = {
        request_id: group
        for request_id, group in snapshot.requests(expectation.function).items()
        if _selected(group[0], expectation)
    }
    problems: list[str] = []
    if expectation.invocations is not None and len(groups) != expectation.invocations:
        problems.append(f"{plural(len(groups), 'invocation')}, expected {expectation.invocations}")
    if expectation.invocations is None and not groups:
        # "every invocation has 3 attempts" is vacuously true of none, which no scenario means.
        problems.append("no matching invocation")
    if expectation.count is not None:
        problems += [
            f"{request_text(request_id)} got {plural(len(group), 'attempt')}, expected {expectation.count}"
            for request_id, group in groups.items()
            if len(group) != expectation.count
        ]
    if expectation.same_request_id:
        problems += _request_id_problems(groups, snapshot)
    if expectation.min_spacing_seconds is not None:
        problems += _spacing_problems(groups, expectation.min_spacing_seconds)
    observed = _describe(groups, snapshot)
    if problems:
        observed = f"{listing(problems)}; seen: {observed}"
    return Verdict(holds=not problems, expected=_expected(expectation), observed=observed)


def _selected(attempt: Attempt, expectation: AttemptsExpectation) -> bool:
    if expectation.files and not set(attempt.file_ids) & set(expectation.files):
        return False
    return expectation.shard_size is None or len(attempt.file_ids) == expectation.shard_size


def _request_id_problems(groups: dict[str, list[Attempt]], snapshot: Snapshot) -> list[str]:
    problems: list[str] = []
    for request_id, group in groups.items():
        numbers = [attempt.attempt for attempt in group]
        if numbers != list(range(1, len(group) + 1)):
            problems.append(f"{request_text(request_id)} has attempt numbers {numbers}")
    # A retry that came with a new request ID shows up as a second request with the same event in
    # the same run (a later run may legitimately send the same event again).
    first_request: dict[tuple[int, str], str] = {}
    for request_id, group in groups.items():
        first = group[0]
        key = (snapshot.run_of(first.started_at), json.dumps(first.event, sort_keys=True, default=str))
        if key in first_request:
            shard = first.shard_id or files_text(first.file_ids)
            problems.append(
                f"{request_text(first_request[key])} and {request_text(request_id)} carry the same event "
                f"(shard {shard}): a retry got a new request ID"
            )
        else:
            first_request[key] = request_id
    return problems


def _spacing_problems(groups: dict[str, list[Attempt]], minimum: float) -> list[str]:
    problems: list[str] = []
    for request_id, group in groups.items():
        for before, after in zip(group, group[1:], strict=False):
            gap = after.started_at - before.started_at
            if gap < minimum:
                problems.append(
                    f"{request_text(request_id)} attempt {after.attempt} started {gap:.2f} s after "
                    f"attempt {before.attempt}, expected at least {minimum:g} s"
                )
    return problems


def _describe(groups: dict[str, list[Attempt]], snapshot: Snapshot) -> str:
    if not groups:
        return "no invocation"
    described = []
    for request_id, group in groups.items():
        first = group[0]
        where = f"shard {first.shard_id} " if first.shard_id else ""
        outcomes = ", ".join(_attempt_text(attempt, snapshot) for attempt in group)
        described.append(
            f"{request_text(request_id)} {where}{files_text(first.file_ids)}: "
            f"{plural(len(group), 'attempt')} ({outcomes})"
        )
    return f"{plural(len(groups), 'invocation')}: {listing(described)}"


def _attempt_text(attempt: Attempt, snapshot: Snapshot) -> str:
    status = snapshot.status(attempt)
    return f"{attempt.fault} {status}" if attempt.fault else status


def _expected(expectation: AttemptsExpectation) -> str:
    selection = []
    if expectation.files:
        selection.append(f"holding any of {files_text(expectation.files)}")
    if expectation.shard_size is not None:
        selection.append(f"with {plural(expectation.shard_size, 'file')}")
    subject = " ".join([f"{expectation.function} invocations", *selection])
    parts = []
    if expectation.invocations is not None:
        parts.append(f"exactly {expectation.invocations} {subject}")
    else:
        parts.append(f"at least one of the {subject}")
    if expectation.count is not None:
        parts.append(f"each with exactly {plural(expectation.count, 'attempt')}")
    if expectation.same_request_id:
        parts.append("every retry under its invocation's request ID")
    if expectation.min_spacing_seconds is not None:
        parts.append(f"attempts at least {expectation.min_spacing_seconds:g} s apart")
    return ", ".join(parts)
