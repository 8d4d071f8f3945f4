"""Faults: what to break, in which function, for which invocations. One table, `KINDS`, one row per kind.

A row says everything the harness needs to know of a kind: its settings (a model, chosen by `kind:`, so that
a setting that only makes sense for one kind is refused on the others), its failure class, where it strikes
in the function, whether it needs the seed pipeline, and how the walk of the pipeline times an attempt that
gets it. What a kind does inside the Lambda is the fault wrapper's (`harness/faults/lambda_wrapper.py`);
the rest of the harness reads this table: the validator, the walk, the plan the wrapper gets, the
strategies, the schema. The union of models (`Fault`) is derived from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Union, get_args

from pydantic import Field, model_validator

from harness.faults import plan

from .catalog import ATTEMPTS_LIMIT, NIGHTS_LIMIT
from .common import FileId, Loc, PythonName, ScenarioModel, ScenarioProblems, SqlName, Text, duplicates

if TYPE_CHECKING:
    from collections.abc import Sequence

AttemptNumber = Annotated[int, Field(ge=1, le=ATTEMPTS_LIMIT)]
RunNumber = Annotated[int, Field(ge=1, le=NIGHTS_LIMIT)]

FailureClass = Literal["platform", "logical", "programmatic", "transient"]
# Exception types the worker takes for transient (Python's connection and timeout errors, as a network
# client raises them); every other exception from its own code is programmatic.
TRANSIENT_EXCEPTIONS = frozenset({
    "ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "ConnectionAbortedError",
    "BrokenPipeError", "TimeoutError",
})
REQUEST_ERROR = "RequestId: 00000000-0000-4000-8000-000000000000 Error:"
"""How the platform's error messages start in the model (Lambda's request IDs are UUIDs)."""
# The seed pipeline's functions that read a file (the worker's reader is where per-file faults strike).
INJECTION_POINTS: dict[str, str] = {"worker": "rows_for_file"}
# A database that refuses connections: nothing listens on port 1 of the loopback, so a connection is
# refused at once, as a database that is down refuses it (pg8000 raises InterfaceError: transient).
UNREACHABLE_DATABASE_URL = "postgresql://postgres@127.0.0.1:1/unreachable"


class FaultBase(ScenarioModel):
    """Targeting shared by every fault. An invocation gets the fault only if it matches every filter given."""

    function: str
    """The deployed function that gets the fault: a seed-pipeline function (orchestrator, worker,
    error_handler) or a function's logical ID in your own template."""
    files: list[FileId] | None = Field(default=None, min_length=1)
    """Poison files: only invocations whose event holds at least one of these file IDs. Omitted: all."""
    attempts: list[AttemptNumber] | None = Field(default=None, min_length=1)
    """Only these attempt numbers (1 is the first try, 2 and 3 the retries). Omitted: every attempt."""
    min_shard_size: int | None = Field(default=None, ge=1)
    """Only invocations whose shard holds at least this many files (a shard that is too big)."""
    runs: list[RunNumber] | None = Field(default=None, min_length=1)
    """Only invocations caused by these runs of the job (see job.runs; 1 is the first). Omitted: every run."""
    probability: float | None = Field(default=None, ge=0, le=1)
    """Chance that a matching attempt gets the fault; needs `seed` so that a run can be repeated."""
    seed: int | None = None
    """Seed of the random draws made for `probability`."""

    PIPELINE_ONLY_TARGETING: ClassVar[tuple[str, ...]] = ("files", "min_shard_size", "runs")
    """Targeting by the seed pipeline's files, shards and job runs (a template's events have none)."""

    @model_validator(mode="after")
    def _check_targeting(self) -> FaultBase:
        problems: list[tuple[Loc, str]] = []
        if self.probability is not None and self.seed is None:
            problems.append((("probability",), "a probability needs a seed, so that a run can be repeated"))
        if self.seed is not None and self.probability is None:
            problems.append((("seed",), "a seed is only used with a probability"))
        for field in ("files", "attempts", "runs"):
            for index, value in duplicates([str(item) for item in getattr(self, field) or []]):
                problems.append(((field, index), f"{field[:-1]} {value!r} is listed twice"))
        if problems:
            raise ScenarioProblems(problems)
        return self

    def targets_attempt(self, attempt: int) -> bool:
        """Whether the fault may fire on this attempt number (before file, shard and chance filters)."""
        return plan.targets(self.attempts, attempt)

    @property
    def row(self) -> FaultKind:
        return KINDS[self.kind]  # type: ignore[attr-defined]

    def plan_entry(self) -> dict[str, Any]:
        """What the kind adds to the wrapper's plan entry (`fault_plan`)."""
        return {}

    def error_message(self, timeout_s: float, memory_mb: int = 128) -> str:
        """The error message the platform or the function's code gives for an attempt it fails (the model
        of the pipeline writes it where the stack would: a dead letter's ErrorMessage, a JOB FAILED)."""
        return "injected fault"

    def error_type(self) -> str:
        """The errorType of a failed synchronous invoke's answer."""
        return "Error"


class ExceptionSpec(ScenarioModel):
    """The exception the handler raises."""

    type: PythonName = "RuntimeError"
    """Class name of the exception, like ValueError or KeyError."""
    message: Text = "injected fault"
    """Its message, which appears in JOB FAILED and in the DLQ's ErrorMessage."""


class TimeoutFault(FaultBase):
    """The invocation outlives the function's timeout, so the runtime kills it (`Task timed out after`)."""

    kind: Literal["timeout"]

    def error_message(self, timeout_s: float, memory_mb: int = 128) -> str:
        return f"{REQUEST_ERROR} Task timed out after {timeout_s:.2f} seconds"


class LatencyFault(FaultBase):
    """The invocation waits this long, then goes on as it would have: a slow dependency, as AWS FIS's
    `invocation-add-delay` and failure-lambda's `latency` inject. A delay past the function's Timeout is a
    timeout."""

    kind: Literal["latency"]
    seconds: float = Field(gt=0, le=86_400)
    """How long the invocation waits (on the stack's clock), before its handler runs or at the file it
    strikes."""

    def plan_entry(self) -> dict[str, Any]:
        return {"seconds": self.seconds}

    def error_message(self, timeout_s: float, memory_mb: int = 128) -> str:
        return f"{REQUEST_ERROR} Task timed out after {timeout_s:.2f} seconds"


class _RaisingFault(FaultBase):
    """A fault whose attempt fails with an exception the function raises (`exception`)."""

    exception: ExceptionSpec

    def plan_entry(self) -> dict[str, Any]:
        return {"exception": {"type": self.exception.type, "message": self.exception.message}}

    def error_message(self, timeout_s: float, memory_mb: int = 128) -> str:
        return self.exception.message

    def error_type(self) -> str:
        return self.exception.type


class ExceptionFault(_RaisingFault):
    """The handler raises an exception."""

    kind: Literal["exception"]
    exception: ExceptionSpec = ExceptionSpec()
    """Which exception; RuntimeError('injected fault') when omitted."""


class BadTableFault(FaultBase):
    """The function is configured with a table name that does not exist, so the database errors."""

    kind: Literal["bad_table"]
    wrong_name: SqlName = "no_such_table"
    """The table name the function is given in place of its real one."""

    def error_message(self, timeout_s: float, memory_mb: int = 128) -> str:
        return f'relation "stack.{self.wrong_name}" does not exist'


class BadFieldFault(FaultBase):
    """The function is configured with a column name that does not exist, so the database errors."""

    kind: Literal["bad_field"]
    wrong_name: SqlName = "no_such_column"
    """The column name the function is given in place of its real one."""

    def error_message(self, timeout_s: float, memory_mb: int = 128) -> str:
        return f'column "{self.wrong_name}" of relation "rows" does not exist'


class OutOfMemoryFault(FaultBase):
    """The invocation allocates past the function's memory size, so the runtime is killed."""

    kind: Literal["out_of_memory"]

    def error_message(self, timeout_s: float, memory_mb: int = 128) -> str:
        return f"{REQUEST_ERROR} {plan.out_of_memory_error(memory_mb)[1]}"

    def error_type(self) -> str:
        return plan.OUT_OF_MEMORY_ERROR_TYPE


class FailAfterCommitFault(_RaisingFault):
    """The function does all its work (rows committed, messages published, children invoked), then fails.

    Lambda retries the event, so the retry meets work that is already done: what makes a pipeline
    idempotent (UNIQUE keys, a decision keyed by message ID) is exercised."""

    kind: Literal["fail_after_commit"]
    exception: ExceptionSpec = ExceptionSpec(message="failed after commit")
    """The exception raised once the function's handler has returned."""


class CrashFault(FaultBase):
    """The runtime process exits in the middle of the invocation (Runtime.ExitError)."""

    kind: Literal["crash"]
    exit_status: int = Field(default=1, ge=0, le=255)
    """The exit status: 0 gives AWS's "Runtime exited without providing a reason", N "exit status N"."""

    def plan_entry(self) -> dict[str, Any]:
        return {"exit_status": self.exit_status}

    def error_message(self, timeout_s: float, memory_mb: int = 128) -> str:
        if self.exit_status == 0:
            return f"{REQUEST_ERROR} Runtime exited without providing a reason"
        return f"{REQUEST_ERROR} Runtime exited with error: exit status {self.exit_status}"

    def error_type(self) -> str:
        return "Runtime.ExitError"


class BadInputFault(FaultBase):
    """The function is handed a malformed event instead of its own, so it cannot process its input."""

    kind: Literal["bad_input"]

    def error_message(self, timeout_s: float, memory_mb: int = 128) -> str:
        return "invalid event: field 'job_id' is missing"


class DbUnreachableFault(FaultBase):
    """The database refuses connections on the targeted attempts (a transient error), then recovers."""

    kind: Literal["db_unreachable"]

    def error_message(self, timeout_s: float, memory_mb: int = 128) -> str:
        return "Can't create a connection to host 127.0.0.1 and port 1"


class _DeploymentFault(FaultBase):
    """A broken deployment strikes every invocation: it cannot target files, attempts, shards or chance."""

    @model_validator(mode="after")
    def _check_untargeted(self) -> _DeploymentFault:
        problems: list[tuple[Loc, str]] = [
            ((key,), f"a deployment error strikes every invocation of the function, so {key} cannot narrow it "
                     "(runs can: a deploy that breaks between runs)")
            for key in ("files", "attempts", "min_shard_size", "probability")
            if getattr(self, key) is not None
        ]
        if problems:
            raise ScenarioProblems(problems)
        return self


class ImportErrorFault(_DeploymentFault):
    """The handler's module cannot be imported (Runtime.ImportModuleError), as when a dependency is missing
    from the deployment package."""

    kind: Literal["import_error"]
    missing_module: PythonName = "missing_module"
    """The module the error says is missing: `No module named '<missing_module>'`."""

    def plan_entry(self) -> dict[str, Any]:
        return {"missing_module": self.missing_module}

    def error_message(self, timeout_s: float, memory_mb: int = 128) -> str:
        return f"Unable to import module 'handler': No module named '{self.missing_module}'"


class MissingHandlerFault(_DeploymentFault):
    """The configured handler function does not exist in its module (Runtime.HandlerNotFound)."""

    kind: Literal["missing_handler"]

    def error_message(self, timeout_s: float, memory_mb: int = 128) -> str:
        return "Handler 'handler' missing on module 'handler'"


Strikes = Literal["inside", "before", "config", "input", "after_work", "deployment"]
Lasts = Literal["timeout", "fails_fast", "crashes", "out_of_memory", "works", "delay"]


@dataclass(frozen=True)
class FaultKind:
    """One row of the table: a fault kind and all that the harness knows of it."""

    model: type[FaultBase]
    failure_class: FailureClass
    """platform (the runtime or Lambda fails the attempt), logical, programmatic or transient (errors the
    function's own code sees: the worker reports or raises them by its error policy). An exception fault is
    transient or programmatic by its exception's type (`failure_class`)."""
    strikes: Strikes
    """inside (in the worker's file reader where it has one, else before the handler), before (before the
    handler runs), config (a setting is wrong: the code meets the consequences), input (the event is
    replaced), after_work (once the handler returned), deployment (the handler cannot be loaded)."""
    lasts: Lasts
    """How long an attempt that gets it takes, for the walk: its Timeout, a fast failure, a crash (no end in
    the ledger), out of memory, its whole work, or its delay and then its work."""
    pipeline_only: bool = False
    """It needs the seed pipeline's database or code (refused on a template of your own)."""
    overrides: dict[str, str] | None = None
    """config: the variable it sets wrong, per seed-pipeline function that has one."""
    not_there: str = ""
    """config: why a function that uses the database but has no such setting is refused (`{function}` and
    `{kind}` filled in); empty when every database function has one."""


_TABLE = (
    FaultKind(TimeoutFault, "platform", "inside", "timeout"),
    FaultKind(LatencyFault, "platform", "inside", "delay"),
    FaultKind(ExceptionFault, "programmatic", "inside", "fails_fast"),
    FaultKind(OutOfMemoryFault, "platform", "inside", "out_of_memory"),
    FaultKind(CrashFault, "platform", "inside", "crashes"),
    FaultKind(BadInputFault, "programmatic", "input", "fails_fast"),
    FaultKind(ImportErrorFault, "platform", "deployment", "fails_fast"),
    FaultKind(MissingHandlerFault, "platform", "deployment", "fails_fast"),
    FaultKind(FailAfterCommitFault, "platform", "after_work", "works", pipeline_only=True),
    FaultKind(BadTableFault, "logical", "config", "fails_fast", pipeline_only=True,
              overrides={"worker": "ROWS_TABLE", "error_handler": "DECISIONS_TABLE"}),
    # The error handler's INSERTs spell their columns; its one column setting (FILES_ID_COLUMN) is only read,
    # and only before a quarantine, so a wrong one would strike some decisions, not all.
    FaultKind(BadFieldFault, "logical", "config", "fails_fast", pipeline_only=True,
              overrides={"worker": "ROWS_VALUE_COLUMN"},
              not_there="{function} has no setting for a column it writes (its SQL spells its columns), so {kind} "
                        "has nothing to break there; kind: bad_table gives it a wrong table name"),
    FaultKind(DbUnreachableFault, "transient", "config", "fails_fast", pipeline_only=True,
              overrides={"worker": "DATABASE_URL", "error_handler": "DATABASE_URL"}),
)
KINDS: dict[str, FaultKind] = {get_args(row.model.model_fields["kind"].annotation)[0]: row for row in _TABLE}
"""Kind name (its model's `kind` literal) -> its row."""
FAULT_KINDS: tuple[str, ...] = tuple(KINDS)

if TYPE_CHECKING:
    Fault = FaultBase
else:
    Fault = Annotated[Union[tuple(row.model for row in _TABLE)], Field(discriminator="kind")]  # noqa: UP007
    """Any fault, its model chosen by `kind:` (the union of the table's models)."""


def failure_class(fault: FaultBase) -> FailureClass:
    if isinstance(fault, ExceptionFault) and fault.exception.type in TRANSIENT_EXCEPTIONS:
        return "transient"
    return fault.row.failure_class


def fault_plan(faults: Sequence[FaultBase], function: str) -> list[dict[str, Any]]:
    """The JSON-ready plan the fault wrapper gets for one function (first match wins per attempt, but a broken
    deployment that targets the run fails init, before any attempt: `harness.faults.plan.pick`)."""
    entries = []
    for fault in faults:
        if fault.function != function:
            continue
        row = fault.row
        entry: dict[str, Any] = {
            "kind": fault.kind,  # type: ignore[attr-defined]
            "files": list(fault.files or []), "attempts": list(fault.attempts or []),
            "min_shard_size": fault.min_shard_size, "runs": list(fault.runs or []),
            "probability": fault.probability, "seed": fault.seed, **fault.plan_entry(),
        }
        if row.strikes == "inside" and function in INJECTION_POINTS:
            entry["inject_at"] = INJECTION_POINTS[function]
        if row.strikes == "after_work":
            entry["after_work"] = True
        if row.strikes == "deployment":
            entry["at_init"] = True  # the runtime's init fails: it wins over the other entries (plan.init_fault)
        if row.overrides and function in row.overrides:
            wrong = UNREACHABLE_DATABASE_URL if fault.kind == "db_unreachable" else fault.wrong_name  # type: ignore[attr-defined]
            entry["overrides"] = {row.overrides[function]: wrong}
        entries.append(entry)
    return entries
