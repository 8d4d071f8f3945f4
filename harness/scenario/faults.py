"""Faults: what to break, in which function, for which invocations.

Each kind is its own model, chosen by `kind:`, so that a setting that only makes sense for one kind
(`exception:` for `kind: exception`) is rejected on the others and the engine gets typed objects.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from harness.faults import plan

from .catalog import ATTEMPTS_LIMIT, RUNS_LIMIT, FunctionName
from .common import FileId, Loc, PythonName, ScenarioModel, ScenarioProblems, SqlName, Text, duplicates

AttemptNumber = Annotated[int, Field(ge=1, le=ATTEMPTS_LIMIT)]
RunNumber = Annotated[int, Field(ge=1, le=RUNS_LIMIT)]


class FaultBase(ScenarioModel):
    """Targeting shared by every fault. An invocation gets the fault only if it matches every filter given."""

    function: FunctionName
    """The deployed function that gets the fault."""
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

    @model_validator(mode="after")
    def _check_targeting(self) -> FaultBase:
        problems: list[tuple[Loc, str]] = []
        if self.probability is not None and self.seed is None:
            problems.append((("probability",), "a probability needs a seed, so that a run can be repeated"))
        if self.seed is not None and self.probability is None:
            problems.append((("seed",), "a seed is only used with a probability"))
        for index, file_id in duplicates(self.files or []):
            problems.append((("files", index), f"file {file_id!r} is listed twice"))
        for index, attempt in duplicates([str(number) for number in self.attempts or []]):
            problems.append((("attempts", index), f"attempt {attempt} is listed twice"))
        for index, run in duplicates([str(number) for number in self.runs or []]):
            problems.append((("runs", index), f"run {run} is listed twice"))
        if problems:
            raise ScenarioProblems(problems)
        return self

    def targets_attempt(self, attempt: int) -> bool:
        """Whether the fault may fire on this attempt number (before file, shard and chance filters)."""
        return plan.targets(self.attempts, attempt)

    def targets_run(self, run: int) -> bool:
        """Whether the fault is armed during this run of the job."""
        return plan.targets(self.runs, run)


class TimeoutFault(FaultBase):
    """The invocation outlives the function's timeout, so the runtime kills it (`Task timed out after`)."""

    kind: Literal["timeout"]


class ExceptionSpec(ScenarioModel):
    """The exception the handler raises."""

    type: PythonName = "RuntimeError"
    """Class name of the exception, like ValueError or KeyError."""
    message: Text = "injected fault"
    """Its message, which appears in JOB FAILED and in the DLQ's ErrorMessage."""


class ExceptionFault(FaultBase):
    """The handler raises an exception."""

    kind: Literal["exception"]
    exception: ExceptionSpec = ExceptionSpec()
    """Which exception; RuntimeError('injected fault') when omitted."""


class BadTableFault(FaultBase):
    """The function is configured with a table name that does not exist, so the database errors."""

    kind: Literal["bad_table"]
    wrong_name: SqlName = "no_such_table"
    """The table name the function is given in place of its real one."""


class BadFieldFault(FaultBase):
    """The function is configured with a column name that does not exist, so the database errors."""

    kind: Literal["bad_field"]
    wrong_name: SqlName = "no_such_column"
    """The column name the function is given in place of its real one."""


class OutOfMemoryFault(FaultBase):
    """The invocation allocates past the function's memory size, so the runtime is killed."""

    kind: Literal["out_of_memory"]


class FailAfterCommitFault(FaultBase):
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


class BadInputFault(FaultBase):
    """The function is handed a malformed event instead of its own, so it cannot process its input."""

    kind: Literal["bad_input"]


class DbUnreachableFault(FaultBase):
    """The database refuses connections on the targeted attempts (a transient error), then recovers."""

    kind: Literal["db_unreachable"]


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


class MissingHandlerFault(_DeploymentFault):
    """The configured handler function does not exist in its module (Runtime.HandlerNotFound)."""

    kind: Literal["missing_handler"]


Fault = Annotated[
    TimeoutFault
    | ExceptionFault
    | BadTableFault
    | BadFieldFault
    | OutOfMemoryFault
    | FailAfterCommitFault
    | CrashFault
    | BadInputFault
    | DbUnreachableFault
    | ImportErrorFault
    | MissingHandlerFault,
    Field(discriminator="kind"),
]
