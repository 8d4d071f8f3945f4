"""`attempts`: how often a function was invoked, and how many attempts each invocation (request ID) got."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, Field, model_validator

from harness.format import FileId, Loc
from harness.text import files_text, listing, plural, request_text

from .base import ExpectationBase, Problems, Verdict, names_problems, raise_if

if TYPE_CHECKING:
    from harness.expect.snapshot import Snapshot
    from harness.records import Attempt


class AttemptsExpectation(ExpectationBase):
    """How often a function was invoked, and how many attempts each invocation (request ID) got."""

    PIPELINE_ONLY = ("files", "shard_size")
    kind: Literal["attempts"] = "attempts"
    function: str
    """The function whose invocations are counted: orchestrator, worker or error_handler, or a function's
    logical ID in your own template."""
    files: list[FileId] | None = Field(default=None, min_length=1)
    """Only invocations whose event holds at least one of these file IDs (the seed pipeline's)."""
    shard_size: int | None = Field(default=None, ge=1)
    """Only invocations whose shard holds exactly this many files (the seed pipeline's)."""
    invocations: int | None = Field(default=None, ge=0)
    """Exactly this many matching invocations (distinct request IDs); 0: the function never ran."""
    count: int | None = Field(default=None, ge=1, validation_alias=AliasChoices("count", "attempts_each"))
    """Exactly this many attempts for every matching invocation (1 + retries); also spelt `attempts_each`."""
    same_request_id: bool | None = None
    """true: every retry of an invocation carries the invocation's request ID (no event was invoked again
    under a new one in the same run); false: some event was (a retry with a new request ID). Omitted: not
    checked."""
    min_spacing_seconds: float | None = Field(default=None, ge=0)
    """The retries of an invocation come at least this long after the attempt before them."""
    retry_delays_seconds: list[float] | None = Field(default=None, min_length=1, max_length=2)
    """Lambda releases retry n this long after attempt n failed (AWS: 60 and 120), on the stack's clock, within
    0.1 s (`RELEASE_TOLERANCE_S`); where the platform does not say when it released it, the retry's handler
    starts that long after, within 0.5 s (`DELAY_TOLERANCE_S`)."""

    @model_validator(mode="after")
    def _check(self) -> AttemptsExpectation:
        problems: list[tuple[Loc, str]] = []
        if self.invocations is None and self.count is None:
            problems.append(((), "missing required key 'count' (attempts per invocation) or 'invocations'"))
        if self.invocations == 0:
            for key in ("count", "min_spacing_seconds", "same_request_id", "retry_delays_seconds"):
                if getattr(self, key) is not None:
                    problems.append(((key,), f"{key} says nothing when invocations is 0"))
        raise_if(problems)
        return self

    def validate(self, scenario: Any, at: Loc) -> Problems:
        problems = names_problems(at, "function", self.function, scenario.functions(), "function")
        if problems:
            return problems
        limit = scenario.max_attempts(self.function)
        if self.count is not None and self.count > limit:
            problems.append(((*at, "count"), f"at most {limit} attempts can happen (1 + max_retry_attempts="
                                             f"{limit - 1}), got {self.count}"))
        elif self.count is not None and self.count > 1 and scenario.only_faults_fail:
            failing = self.count - 1
            if not any(fault.targets_attempt(failing) and scenario.fails_invocation(fault)
                       for fault in scenario.faults_for(self.function)):
                problems.append(((*at, "count"), f"{self.count} attempts need attempt {failing} to fail, but no "
                                                 f"fault on {self.function} fails it"
                                                 + scenario.reported_instead(self.function)))
        if not scenario.triggers() and (self.invocations or self.count):
            problems.append(((*at, "count" if self.count else "invocations"),
                             f"no job runs, so {self.function} never runs"))
        if self.retry_delays_seconds and 1 + len(self.retry_delays_seconds) > limit:
            problems.append(((*at, "retry_delays_seconds"), f"{len(self.retry_delays_seconds)} retries cannot "
                             f"happen: at most {limit} attempts (1 + max_retry_attempts={limit - 1})"))
        problems += scenario.unknown_files((*at, "files"), self.files)
        job_shard = scenario.job.shard_size if getattr(scenario, "job", None) else None
        if job_shard and self.shard_size and self.shard_size > job_shard:
            problems.append(((*at, "shard_size"), f"no shard holds {self.shard_size} files: the job's shard_size is "
                                                  f"{job_shard}"))
        return problems

    def report_lanes(self) -> set[tuple[str, str]]:
        return {("attempt", self.function)}

    def check(self, snapshot: Snapshot) -> Verdict:
        groups = {request_id: group for request_id, group in snapshot.requests(self.function).items()
                  if self._selected(group[0])}
        problems: list[str] = []
        if self.invocations is not None and len(groups) != self.invocations:
            problems.append(f"{plural(len(groups), 'invocation')}, expected {self.invocations}")
        if self.invocations is None and not groups:
            # "every invocation has 3 attempts" is vacuously true of none, which no scenario means.
            problems.append("no matching invocation")
        if self.count is not None:
            problems += [f"{request_text(request_id)} got {plural(len(group), 'attempt')}, expected {self.count}"
                         for request_id, group in groups.items() if len(group) != self.count]
        if self.same_request_id is not None:
            problems += _request_id_problems(groups, snapshot, self.same_request_id)
        if self.min_spacing_seconds is not None:
            problems += _spacing_problems(groups, self.min_spacing_seconds)
        if self.retry_delays_seconds is not None:
            problems += _delay_problems(groups, snapshot, self.retry_delays_seconds)
        observed = _describe(groups, snapshot)
        if problems:
            observed = f"{listing(problems)}; seen: {observed}"
        return Verdict(holds=not problems, expected=self._expected(), observed=observed)

    def _selected(self, attempt: Attempt) -> bool:
        if self.files and not set(attempt.file_ids) & set(self.files):
            return False
        return self.shard_size is None or len(attempt.file_ids) == self.shard_size

    def _expected(self) -> str:
        selection = []
        if self.files:
            selection.append(f"holding any of {files_text(self.files)}")
        if self.shard_size is not None:
            selection.append(f"with {plural(self.shard_size, 'file')}")
        subject = " ".join([f"{self.function} invocations", *selection])
        parts = [f"exactly {self.invocations} {subject}" if self.invocations is not None else
                 f"at least one of the {subject}"]
        if self.count is not None:
            parts.append(f"each with exactly {plural(self.count, 'attempt')}")
        if self.same_request_id is True:
            parts.append("every retry under its invocation's request ID")
        if self.same_request_id is False:
            parts.append("an event invoked again under a new request ID")
        if self.min_spacing_seconds is not None:
            parts.append(f"attempts at least {self.min_spacing_seconds:g} s apart")
        if self.retry_delays_seconds is not None:
            delays = " and ".join(f"{delay:g} s" for delay in self.retry_delays_seconds)
            parts.append(f"retries {delays} after the failure before them (within {RELEASE_TOLERANCE_S:g} s)")
        return ", ".join(parts)


def _request_id_problems(groups: dict[str, list[Attempt]], snapshot: Snapshot, same: bool) -> list[str]:
    problems: list[str] = []
    for request_id, group in groups.items():
        numbers = [attempt.attempt for attempt in group]
        if numbers != list(range(1, len(group) + 1)):
            problems.append(f"{request_text(request_id)} has attempt numbers {numbers}")
    # A retry that came with a new request ID shows up as a second request with the same event in the same run
    # (a later run may legitimately send the same event again).
    first_request: dict[tuple[int, str], str] = {}
    again: list[str] = []
    for request_id, group in groups.items():
        first = group[0]
        key = (snapshot.run_of(first.started_at), json.dumps(first.event, sort_keys=True, default=str))
        if key in first_request:
            shard = first.shard_id or files_text(first.file_ids)
            again.append(f"{request_text(first_request[key])} and {request_text(request_id)} carry the same event "
                         f"(shard {shard}): a retry got a new request ID")
        else:
            first_request[key] = request_id
    if same:
        return problems + again
    return problems + ([] if again else ["every event was invoked under one request ID"])


RELEASE_TOLERANCE_S = 0.1
"""How far from its stated delay Lambda may release a retry, on the stack's clock, where the platform tells when
it did (`harness.records.RetryRelease`): the delay runs from the failure the executor saw to the moment the
retry goes back to the function's queue, so a busy machine does not stretch it."""

DELAY_TOLERANCE_S = 0.5
"""The same where the platform does not tell: the delay is then read from the ledger, which records an attempt
when its handler is entered, after the platform's own latency (its poller, a new execution environment): 0.02
to 0.15 s on a quiet machine, and up to 1.6 s with 8 scenarios at once on 2 cores."""


def _delay_problems(groups: dict[str, list[Attempt]], snapshot: Snapshot, delays: list[float]) -> list[str]:
    problems: list[str] = []
    for request_id, group in groups.items():
        for before, after, delay in zip(group, group[1:], delays, strict=False):
            if after.released is not None:
                gap, tolerance, verb = after.released.waited, RELEASE_TOLERANCE_S, "was released"
            else:
                gap, tolerance, verb = after.started_at - snapshot.failed_at(before), DELAY_TOLERANCE_S, "started"
            if abs(gap - delay) > tolerance:
                problems.append(f"{request_text(request_id)} attempt {after.attempt} {verb} {gap:.2f} s after "
                                f"attempt {before.attempt} failed, expected {delay:g} s")
        if len(group) < 1 + len(delays):
            problems.append(f"{request_text(request_id)} got {plural(len(group), 'attempt')}: no retry to time "
                            f"after attempt {len(group)}")
    return problems


def _spacing_problems(groups: dict[str, list[Attempt]], minimum: float) -> list[str]:
    problems: list[str] = []
    for request_id, group in groups.items():
        for before, after in zip(group, group[1:], strict=False):
            gap = after.started_at - before.started_at
            if gap < minimum:
                problems.append(f"{request_text(request_id)} attempt {after.attempt} started {gap:.2f} s after "
                                f"attempt {before.attempt}, expected at least {minimum:g} s")
    return problems


def _describe(groups: dict[str, list[Attempt]], snapshot: Snapshot) -> str:
    if not groups:
        return "no invocation"
    described = []
    for request_id, group in groups.items():
        first = group[0]
        where = f"shard {first.shard_id} " if first.shard_id else ""
        files = f"{files_text(first.file_ids)}: " if first.file_ids else ""
        outcomes = ", ".join(f"{a.fault} {snapshot.status(a)}" if a.fault else snapshot.status(a) for a in group)
        described.append(f"{request_text(request_id)} {where}{files}{plural(len(group), 'attempt')} ({outcomes})")
    return f"{plural(len(groups), 'invocation')}: {listing(described)}"
