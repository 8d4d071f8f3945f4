"""Template scenarios: faults and expectations on *any* SAM or CloudFormation template, by logical ID.

A scenario file with a top-level `template:` is one of these (the seed pipeline's scenarios have `stack:`
and `job:` instead). It names the template and its parameters, one invocation of one of its functions,
the faults to inject (the kinds that need no knowledge of the code), and expectations that hold on any
template: `attempts`, `dlq` (the function's own DeadLetterConfig target, SNS or SQS), `sns` (a topic),
`sqs` (a queue: a dead-letter queue, an OnFailure or OnSuccess destination, any queue the code writes
to), `alarm` (a CloudWatch alarm's state changes) and `result`. What belongs to the seed pipeline
(`reshard`, `database`, files and runs of a job) is refused here, saying so.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, JsonValue, model_validator
from pydantic_core import PydanticCustomError

from harness.faults import plan

from .catalog import DEFAULT_MAX_WAIT_SECONDS, AlarmState
from .common import Loc, ScenarioModel, Slug, SourceLocated, Text
from .expectations import (
    AlarmStatesWatched,
    ExpectationBase,
    KeyedUnion,
    _count_problems,
    _key_to_kind,
    _raise_if,
    alarm_states_problems,
)
from .faults import AttemptNumber, ExceptionSpec

_LOGICAL_ID = re.compile(r"^[A-Za-z0-9]{1,255}$")


def _logical_id(value: str) -> str:
    if not _LOGICAL_ID.match(value):
        raise ValueError(f"must be a logical ID of the template (letters and digits), got {value!r}")
    return value


LogicalId = Annotated[str, BeforeValidator(lambda v: _logical_id(v) if isinstance(v, str) else v)]

# Fault kinds that need no knowledge of the function's code; the seed pipeline's others (bad_table,
# bad_field, db_unreachable, fail_after_commit with its database) are refused with that reason.
TemplateFaultKind = Literal["timeout", "exception", "crash", "out_of_memory", "import_error", "missing_handler",
                            "bad_input"]
PIPELINE_ONLY_FAULTS = ("bad_table", "bad_field", "db_unreachable", "fail_after_commit")
PIPELINE_ONLY_EXPECTATIONS = ("reshard", "database")


class Invoke(ScenarioModel):
    """The one invocation the scenario makes."""

    function: LogicalId
    """The function's logical ID in the template."""
    event: JsonValue = {}
    """The event it is given (any JSON)."""
    invocation: Literal["sync", "event"] = "event"
    """event (asynchronous: status 202, retried by Lambda, then dead-lettered) or sync (RequestResponse)."""


class TemplateFault(ScenarioModel):
    """A fault in one of the template's functions. The same kinds and targeting as the pipeline's faults,
    without files and runs (a template's events have no files, and a template scenario invokes once)."""

    function: LogicalId
    """The function's logical ID in the template."""
    kind: TemplateFaultKind
    """timeout, exception, crash, out_of_memory, import_error, missing_handler or bad_input."""
    attempts: list[AttemptNumber] | None = Field(default=None, min_length=1)
    """Only these attempt numbers (1 is the first try). Omitted: every attempt."""
    probability: float | None = Field(default=None, ge=0, le=1)
    """Chance that a matching attempt gets the fault; needs `seed`."""
    seed: int | None = None
    """Seed of the draws made for `probability`."""
    exception: ExceptionSpec = ExceptionSpec()
    """kind exception: what is raised (default RuntimeError("injected fault"))."""
    exit_status: int = Field(default=1, ge=0, le=255)
    """kind crash: the runtime process's exit status."""
    missing_module: str = "missing_module"
    """kind import_error: the module the handler's import does not find."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_pipeline_kinds(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") in PIPELINE_ONLY_FAULTS:
            raise PydanticCustomError(
                "pipeline_only", "fault kind {kind!r} needs the seed pipeline's database and code; a template "
                "scenario can inject timeout, exception, crash, out_of_memory, import_error, missing_handler "
                "or bad_input", {"kind": data["kind"]})
        return data

    @model_validator(mode="after")
    def _check(self) -> TemplateFault:
        problems: list[tuple[Loc, str]] = []
        if (self.probability is None) != (self.seed is None):
            problems.append((("probability" if self.seed is None else "seed",),
                             "probability and seed go together, so that a run can be repeated"))
        for key, kind in (("exception", "exception"), ("exit_status", "crash"), ("missing_module", "import_error")):
            if key in self.model_fields_set and self.kind != kind:
                problems.append(((key,), f"`{key}` is for kind {kind}, not {self.kind}"))
        _raise_if(problems)
        return self

    def targets_attempt(self, attempt: int) -> bool:
        return plan.targets(self.attempts, attempt)


class TemplateExpectationBase(ExpectationBase):
    """Kinds of a template scenario; `within_seconds` (default: derived from the function's Timeout and
    retries as deployed) caps how long each waits."""


class TemplateAttempts(TemplateExpectationBase):
    """How many invocations (request IDs) a function got, and how many attempts each."""

    kind: Literal["attempts"]
    function: LogicalId
    """The function's logical ID."""
    invocations: int | None = Field(default=None, ge=0)
    """Exactly this many distinct request IDs."""
    attempts_each: int | None = Field(default=None, ge=1, le=3)
    """Every invocation got exactly this many attempts (1 + its retries)."""

    @model_validator(mode="after")
    def _check(self) -> TemplateAttempts:
        _raise_if([((), "give invocations, attempts_each or both")]
                  if self.invocations is None and self.attempts_each is None else [])
        return self


class TemplateMessages(TemplateExpectationBase):
    count: int | None = Field(default=None, ge=0)
    """Exactly this many messages."""
    min_count: int | None = Field(default=None, ge=0)
    """At least this many."""
    fields: dict[str, JsonValue] = {}
    """Top-level fields of each counted message's JSON body that must have these values."""

    @model_validator(mode="after")
    def _check_counts(self) -> TemplateMessages:
        _raise_if(_count_problems(self.count, self.min_count))
        return self

    @property
    def monotone(self) -> bool:
        return self.min_count is not None


class TemplateSqs(TemplateMessages):
    """Messages on a queue of the template: a dead-letter queue, an OnFailure or OnSuccess destination,
    or a queue the code writes to. The harness reads (and deletes) them: the stack is the scenario's own."""

    kind: Literal["sqs"]
    queue: LogicalId
    """The queue's logical ID."""


class TemplateSns(TemplateMessages):
    """Messages published to a topic of the template (tapped from the moment it exists)."""

    kind: Literal["sns"]
    topic: LogicalId
    """The topic's logical ID."""
    subject: str | None = None
    """Only messages with this Subject."""


class TemplateDlq(TemplateMessages):
    """Dead letters of a function: the events Lambda gave up on, on its DeadLetterConfig target (an SNS
    topic or an SQS queue), each the original event."""

    kind: Literal["dlq"]
    function: LogicalId
    """The function's logical ID."""


class TemplateAlarm(AlarmStatesWatched, TemplateExpectationBase):
    """State changes of a CloudWatch alarm of the template, from its history since it was created."""

    kind: Literal["alarm"]
    alarm: LogicalId
    """The alarm's logical ID."""
    transitions: list[AlarmState] = Field(default=[], max_length=10)
    """States it must enter, in this order (others may come between)."""
    never: list[AlarmState] = []
    """States it must not enter at all, watched until the deadline."""

    @model_validator(mode="after")
    def _check(self) -> TemplateAlarm:
        _raise_if(alarm_states_problems(list(self.transitions), list(self.never)))
        return self


class TemplateResult(TemplateExpectationBase):
    """The invoke's answer."""

    kind: Literal["result"]
    status: int | None = None
    """HTTP status: 202 for an event invocation, 200 for a sync one."""
    function_error: Literal["Unhandled"] | None | Literal["none"] = None
    """sync: `Unhandled` when the function failed, `none` when it must not have."""
    body_fields: dict[str, JsonValue] = {}
    """sync: top-level fields of the decoded answer that must have these values."""

    @property
    def monotone(self) -> bool:
        return True


def _template_key_to_kind(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in PIPELINE_ONLY_EXPECTATIONS:
        kind = next(iter(value))
        raise PydanticCustomError(
            "pipeline_only", "`{kind}` expectations belong to the seed pipeline (its {what}); a template "
            "scenario can expect attempts, dlq, sns, sqs, alarm and result",
            {"kind": kind, "what": {"reshard": "error handler's re-sharding", "database": "PostgreSQL rows"}[kind]})
    return _key_to_kind(value)


TemplateExpectation = Annotated[
    TemplateAttempts | TemplateSqs | TemplateSns | TemplateDlq | TemplateAlarm | TemplateResult,
    Field(discriminator="kind"),
    BeforeValidator(_template_key_to_kind),
    KeyedUnion(),
]


class TemplateScenario(SourceLocated):
    """Run one invocation of a function of your own template with faults injected, and check the effects."""

    name: Slug
    """Unique name, a slug."""
    description: Text
    """What happens and why."""
    template: str
    """The SAM or CloudFormation template, relative to this file."""
    parameters: dict[str, str | int | float | bool] = {}
    """Template parameters by name."""
    invoke: Invoke
    """The invocation the scenario makes."""
    faults: list[TemplateFault] = []
    """Faults to inject, by the function's logical ID."""
    expect: list[TemplateExpectation] = Field(min_length=1)
    """What must be observed, each a one-key mapping naming its kind."""
    max_wait_seconds: float = Field(default=DEFAULT_MAX_WAIT_SECONDS, gt=0, le=3600)
    """No expectation waits longer than this from the invocation."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_pipeline_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("stack", "job"):
                if key in data:
                    raise PydanticCustomError(
                        "pipeline_only", "`{key}` belongs to the seed pipeline's scenarios; a template scenario "
                        "has template, parameters and invoke", {"key": key})
        return data

    def logical_ids(self) -> list[tuple[Loc, str]]:
        """Every logical ID the scenario names, with its place (checked against the template before deploy)."""
        named: list[tuple[Loc, str]] = [(("invoke", "function"), self.invoke.function)]
        named += [(("faults", i, "function"), fault.function) for i, fault in enumerate(self.faults)]
        for i, expectation in enumerate(self.expect):
            for field in ("function", "queue", "topic", "alarm"):
                value = getattr(expectation, field, None)
                if value is not None:
                    named.append((("expect", i, expectation.kind, field), value))
        return named


def is_template_document(data: Any) -> bool:
    """A scenario document for a template of your own (it names `template:` at its top level)."""
    return isinstance(data, dict) and "template" in data
