"""Expectations: what must be observed after the faults, each with an optional deadline.

In a scenario file each expectation is a one-key mapping whose key names its kind, the way a Chaos
Toolkit probe or a botocore waiter acceptor reads: `- dlq: {count: 1, error_message: "boom"}`. The loader
turns that key into the `kind` field, so that the engine gets one typed model per kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Field, JsonValue, Tag, model_validator
from pydantic_core import PydanticCustomError

from .catalog import ALARMS, AlarmName, AlarmState, DeadLetteredFunction, FunctionName, TopicName
from .common import FileId, Loc, Regex, ScenarioModel, ScenarioProblems, duplicates


class ExpectationBase(ScenarioModel):
    """What every kind has, and the facts about its timing that the engine and the deadlines read.

    A kind that differs from the defaults (it waits for alarms, it holds for good once it holds, it is
    proved only by a whole window) says so here on its own model, and nowhere else.
    """

    within_seconds: float | None = Field(default=None, gt=0, le=3600)
    """Deadline from the start of the job. Omitted: derived from the stack's own timeouts and delays."""

    def awaited_alarms(self) -> list[tuple[AlarmName, int]]:
        """The alarms whose evaluations decide it, any one of them, each with the number of states it
        must enter: its deadline follows CloudWatch's evaluation clock. []: it waits for the pipeline."""
        return []

    @property
    def time_driven(self) -> bool:
        """Decided by the alarms' evaluation clock, not by the pipeline: an idle pipeline says nothing
        about whether it is done, so only its deadline can fail it."""
        return bool(self.awaited_alarms())

    @property
    def monotone(self) -> bool:
        """Once it holds, nothing that can still be observed makes it false, so it needs no settling."""
        return False

    @property
    def needs_whole_window(self) -> bool:
        """It can only pass at its deadline: something that must never happen, watched until then."""
        return False


def _count_problems(count: int | None, min_count: int | None) -> list[tuple[Loc, str]]:
    if count is not None and min_count is not None:
        return [(("min_count",), "give either count (exactly) or min_count (at least), not both")]
    if count is None and min_count is None:
        return [((), "missing required key 'count' (exactly this many) or 'min_count' (at least)")]
    return []


def alarm_states_problems(transitions: Sequence[str], never: Sequence[str]) -> list[tuple[Loc, str]]:
    """What is wrong with an alarm expectation's states to enter in order and states never to enter (the
    pipeline's alarms and a template's alike)."""
    problems: list[tuple[Loc, str]] = []
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


class AlarmStatesWatched:
    """Timing of an alarm expectation (`transitions` to enter in order, `never` to enter): an ordered
    subsequence of states stays one as states are appended, so it holds for good once it holds, unless a
    `never` must be watched until the deadline."""

    if TYPE_CHECKING:  # the subclass's field; declared here for the type checker only (not a schema field)
        never: Sequence[str]

    @property
    def monotone(self) -> bool:
        return not self.never

    @property
    def needs_whole_window(self) -> bool:
        return bool(self.never)


def _raise_if(problems: list[tuple[Loc, str]]) -> None:
    if problems:
        raise ScenarioProblems(problems)


class AttemptsExpectation(ExpectationBase):
    """How often a function was invoked, and how many attempts each invocation (request ID) got."""

    kind: Literal["attempts"] = "attempts"
    function: FunctionName
    """The function whose invocations are counted."""
    files: list[FileId] | None = Field(default=None, min_length=1)
    """Only invocations whose event holds at least one of these file IDs."""
    shard_size: int | None = Field(default=None, ge=1)
    """Only invocations whose shard holds exactly this many files."""
    invocations: int | None = Field(default=None, ge=0)
    """Exactly this many matching invocations (distinct request IDs); 0: the function never ran."""
    count: int | None = Field(default=None, ge=1)
    """Exactly this many attempts for every matching invocation (1 + retries)."""
    same_request_id: bool = False
    """true: also check that every attempt of an invocation carries the invocation's request ID."""
    min_spacing_seconds: float | None = Field(default=None, ge=0)
    """The retries of an invocation come at least this long after the attempt before them."""

    @model_validator(mode="after")
    def _check(self) -> AttemptsExpectation:
        problems: list[tuple[Loc, str]] = []
        if self.invocations is None and self.count is None:
            problems.append(((), "missing required key 'count' (attempts per invocation) or 'invocations'"))
        if self.invocations == 0:
            for key in ("count", "min_spacing_seconds"):
                if getattr(self, key) is not None:
                    problems.append(((key,), f"{key} says nothing when invocations is 0"))
            if self.same_request_id:
                problems.append((("same_request_id",), "same_request_id says nothing when invocations is 0"))
        _raise_if(problems)
        return self


class DlqExpectation(ExpectationBase):
    """Messages on a dead-letter topic: the original event with RequestID/ErrorCode/ErrorMessage."""

    kind: Literal["dlq"] = "dlq"
    function: DeadLetteredFunction = "worker"
    """Whose dead letters: the worker's (topic dlq, handled by the error handler) or the error handler's
    own (topic error_handler_dlq: dead letters the error handler failed on every attempt)."""
    count: int | None = Field(default=None, ge=0)
    """Exactly this many dead-lettered messages; 0: nothing is dead-lettered."""
    min_count: int | None = Field(default=None, ge=1)
    """At least this many dead-lettered messages."""
    files: list[FileId] | None = Field(default=None, min_length=1)
    """Only messages whose original event holds at least one of these file IDs."""
    error_message: Regex | None = None
    """Regular expression searched in every matching message's ErrorMessage attribute."""
    error_code: str | None = None
    """Exact ErrorCode attribute of every matching message ("200" for a function error)."""
    body_is_original_event: bool = False
    """true: every matching message's body equals the event of the invocation that failed."""

    @model_validator(mode="after")
    def _check(self) -> DlqExpectation:
        problems = _count_problems(self.count, self.min_count)
        if self.count == 0:
            for key in ("error_message", "error_code"):
                if getattr(self, key) is not None:
                    problems.append(((key,), f"{key} says nothing when count is 0"))
            if self.body_is_original_event:
                problems.append(
                    (("body_is_original_event",), "body_is_original_event says nothing when count is 0")
                )
        _raise_if(problems)
        return self


class SnsExpectation(ExpectationBase):
    """Messages published to a topic, selected by subject, run and body fields."""

    kind: Literal["sns"] = "sns"
    topic: TopicName
    """The topic: notifications (JOB SUCCEEDED / JOB FAILED), dlq, or alarms."""
    subject: str | None = None
    """Only messages with exactly this subject, like JOB SUCCEEDED."""
    run: int | None = Field(default=None, ge=1)
    """Only messages caused by this run of the job (1 is the first; see job.runs)."""
    fields: dict[str, JsonValue] = {}
    """Only messages whose JSON body has these values; a dotted key like `summary.files` reaches inside."""
    field_patterns: dict[str, Regex] = {}
    """Only messages whose body fields match these regular expressions (searched in the field's text)."""
    count: int | None = Field(default=None, ge=0)
    """Exactly this many matching messages; 0: none."""
    min_count: int | None = Field(default=None, ge=1)
    """At least this many matching messages."""
    totals: dict[str, float] = {}
    """Sums of numeric body fields over the matching messages, like `{rows_inserted: 200}`."""

    @model_validator(mode="after")
    def _check(self) -> SnsExpectation:
        problems = _count_problems(self.count, self.min_count)
        if self.count == 0 and self.totals:
            problems.append((("totals",), "totals say nothing when count is 0"))
        problems += _field_path_problems(self.fields, self.field_patterns, self.totals)
        _raise_if(problems)
        return self

    def awaited_alarms(self) -> list[tuple[AlarmName, int]]:
        # A message on the alarms topic comes from a state change of either alarm.
        return [(alarm, 1) for alarm in ALARMS] if self.topic == "alarms" else []

    @property
    def monotone(self) -> bool:
        # "At least N matching alarm messages" stays true as messages accumulate; exact counts, totals and
        # per-message conditions on the pipeline's topics do not.
        return self.topic == "alarms" and self.min_count is not None and not self.totals


AlarmCauseOrAny = Literal["datapoints", "missing_data", "any"]


class AlarmExpectation(AlarmStatesWatched, ExpectationBase):
    """State transitions of a CloudWatch alarm, each proved by its cause and its time.

    A transition counts when it happens after the job started (`since: job`, the default when a job
    runs) and for the stated cause (`because`, default `datapoints`: the metric's own values, not missing
    data treated as breaching). The evaluation at the alarm's creation is reported, never counted, unless
    `since: creation` (the default when no job runs, since then the stack is idle from creation on).
    """

    kind: Literal["alarm"] = "alarm"
    alarm: AlarmName
    """job_not_run (Invocations < threshold) or job_failed (Errors >= threshold); see stack.alarms."""
    transitions: list[AlarmState] = []
    """The states the alarm enters, in order, like [ALARM] or [OK, ALARM] (others may come in between)."""
    because: AlarmCauseOrAny | list[AlarmCauseOrAny] = "datapoints"
    """Why the listed transitions must have happened: datapoints (the metric's values), missing_data (no
    datapoints, treated as TreatMissingData says), or any; one cause for all, or a list with one per
    transition, like [datapoints, missing_data]."""
    since: Literal["job", "creation"] | None = None
    """Count transitions from the job's start (job) or from the alarm's creation (creation). Omitted: job
    when a job runs, creation when none does."""
    never: list[AlarmState] = []
    """States the alarm must not enter (for any cause) from `since` until the deadline, like [ALARM]."""

    @model_validator(mode="after")
    def _check(self) -> AlarmExpectation:
        problems = alarm_states_problems(self.transitions, self.never)
        if isinstance(self.because, list) and len(self.because) != len(self.transitions):
            problems.append(
                (
                    ("because",),
                    f"give one cause for all transitions, or one per transition: {len(self.transitions)} "
                    f"transition(s), {len(self.because)} cause(s)",
                )
            )
        _raise_if(problems)
        return self

    def awaited_alarms(self) -> list[tuple[AlarmName, int]]:
        return [(self.alarm, max(1, len(self.transitions)))]

    def causes(self) -> list[str]:
        """The cause each listed transition needs (datapoints, missing_data or any)."""
        if isinstance(self.because, list):
            return list(self.because)
        return [self.because] * len(self.transitions)


class ResultExpectation(ExpectationBase):
    """What the job's own invocation returned: the orchestrator's answer to the harness's invoke."""

    kind: Literal["result"] = "result"
    run: int | None = Field(default=None, ge=1)
    """Only this run of the job (1 is the first). Omitted: every run."""
    succeeded: bool | None = None
    """true: no FunctionError; false: the orchestrator failed (Lambda's FunctionError is set)."""
    status: int | None = Field(default=None, ge=100, le=599)
    """The invoke's HTTP status code (200 for a synchronous invoke, 202 for an asynchronous one)."""
    fields: dict[str, JsonValue] = {}
    """Values in the answer's JSON body, like `{shard_count: 4}` or `{errorType: ValueError}`."""
    field_patterns: dict[str, Regex] = {}
    """Regular expressions searched in the body's fields, like `{errorMessage: boom}`."""

    @model_validator(mode="after")
    def _check(self) -> ResultExpectation:
        problems: list[tuple[Loc, str]] = []
        if self.succeeded is None and self.status is None and not self.fields and not self.field_patterns:
            problems.append(((), "give at least one of succeeded, status, fields, field_patterns"))
        problems += _field_path_problems(self.fields, self.field_patterns)
        _raise_if(problems)
        return self


def _field_path_problems(*containers: dict[str, Any]) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    names = ("fields", "field_patterns", "totals")
    for name, container in zip(names, containers, strict=False):
        for key in container:
            if not key or any(not part for part in key.split(".")):
                problems.append(((name, key), f"{key!r} is not a field path like `rows_inserted` or `summary.files`"))
    return problems


class ReshardExpectation(ExpectationBase):
    """What the error handler did with dead-lettered timeouts: smaller shards, quarantined files."""

    kind: Literal["reshard"] = "reshard"
    reshards: int | None = Field(default=None, ge=0)
    """Exactly this many shards were split again; 0: the error handler re-sharded nothing."""
    shard_sizes_shrink: bool = False
    """true: every re-sharded shard is split into shards smaller than itself."""
    quarantined: list[FileId] | None = None
    """Exactly these files are quarantined and reported; []: none is."""

    @model_validator(mode="after")
    def _check(self) -> ReshardExpectation:
        problems: list[tuple[Loc, str]] = []
        if self.reshards is None and not self.shard_sizes_shrink and self.quarantined is None:
            problems.append(((), "give at least one of reshards, shard_sizes_shrink: true, quarantined"))
        if self.reshards == 0 and self.shard_sizes_shrink:
            problems.append((("shard_sizes_shrink",), "shard sizes cannot shrink when reshards is 0"))
        for index, file_id in duplicates(self.quarantined or []):
            problems.append((("quarantined", index), f"file {file_id!r} is listed twice"))
        _raise_if(problems)
        return self


def _loaded_files_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "keyword"
    if isinstance(value, list):
        return "files"
    return None


LoadedFiles = Annotated[
    Annotated[Literal["all", "all_but_poison", "none"], Tag("keyword")]
    | Annotated[list[FileId], Tag("files")],
    Discriminator(
        _loaded_files_tag,
        custom_error_type="loaded_files",
        custom_error_message="expected all, all_but_poison, none, or a list of file IDs",
    ),
]


class DatabaseExpectation(ExpectationBase):
    """Rows in PostgreSQL once everything has settled."""

    kind: Literal["database"] = "database"
    loaded_exactly_once: LoadedFiles
    """Files whose rows are each present exactly once (no duplicates); every other file of the job has no
    rows. `all_but_poison` means every file except those a fault targets with `files:`."""

    @model_validator(mode="after")
    def _check(self) -> DatabaseExpectation:
        if isinstance(self.loaded_exactly_once, list):
            _raise_if(
                [
                    (("loaded_exactly_once", index), f"file {file_id!r} is listed twice")
                    for index, file_id in duplicates(self.loaded_exactly_once)
                ]
            )
        return self


class KeyedUnion:
    """Marks a union whose tag is the item's only key in YAML (so the tag is part of the YAML path)."""


def _key_to_kind(value: Any) -> Any:
    """`{"dlq": {...}}` -> `{"kind": "dlq", ...}`; anything else is reported in the scenario's words."""
    if not isinstance(value, dict):
        raise PydanticCustomError(
            "expectation_shape",
            "an expectation is a mapping with one key naming its kind, like `- dlq: {count: 1}`",
        )
    if len(value) != 1:
        keys = ", ".join(str(key) for key in value) or "none"
        raise PydanticCustomError(
            "expectation_shape",
            "an expectation has exactly one key naming its kind, got {n}: {keys}; "
            "start a new `- ` item for each",
            {"n": len(value), "keys": keys},
        )
    ((key, settings),) = value.items()
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise PydanticCustomError(
            "expectation_shape",
            "`{key}:` takes a mapping of settings, got {got}",
            {"key": str(key), "got": repr(settings)},
        )
    if "kind" in settings:
        raise PydanticCustomError(
            "expectation_shape", "`kind` is not a setting: the item's key names its kind"
        )
    return {**settings, "kind": key}


Expectation = Annotated[
    AttemptsExpectation
    | DlqExpectation
    | SnsExpectation
    | AlarmExpectation
    | ReshardExpectation
    | DatabaseExpectation
    | ResultExpectation,
    Field(discriminator="kind"),
    BeforeValidator(_key_to_kind),
    KeyedUnion(),
]

EXPECTATION_KINDS: tuple[str, ...] = ("attempts", "dlq", "sns", "alarm", "reshard", "database", "result")
