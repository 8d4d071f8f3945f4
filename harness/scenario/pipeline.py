"""The seed pipeline's profile: a scenario that deploys `lambdas/template.yaml` with its stack settings, runs
a job on it (one or more runs of the orchestrator), and may expect what only the pipeline has (`reshard`,
`database`, files and runs).

Its settings default to the template's own (`harness.format.pipeline_template`): a scenario states AWS's
numbers, and leaving one out means what the team deploys.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from harness.format import FileId, Loc, ScenarioModel, ScenarioProblems, Slug, duplicates
from harness.format.catalog import (
    ALARMS,
    DEAD_LETTER_TOPICS,
    FUNCTIONS,
    MAX_RETRY_ATTEMPTS_LIMIT,
    RUNS_LIMIT,
    TOPICS,
    AlarmName,
    AlarmState,
    ErrorAction,
    FunctionName,
    TreatMissingData,
    is_valid_alarm_period,
)
from harness.format.pipeline_template import TEMPLATE as PIPELINE_TEMPLATE
from harness.format.pipeline_template import default

from .document import Problems, ScenarioDocument

# The template's logical IDs' prefixes for its per-function and per-alarm parameters.
FUNCTION_PARAMETERS: dict[str, str] = {"orchestrator": "Orchestrator", "worker": "Worker",
                                       "error_handler": "ErrorHandler"}
ALARM_PARAMETERS: dict[str, str] = {"job_not_run": "JobNotRun", "job_failed": "JobFailed"}


class FunctionSettings(ScenarioModel):
    """Lambda settings of one function. Omitted: the template's defaults (lambdas/template.yaml)."""

    timeout_seconds: int | None = Field(default=None, ge=1, le=900)
    """Timeout: an invocation still running after this is killed (`Task timed out after`). Omitted: the
    template's (orchestrator 60 s, worker 900 s, error handler 60 s)."""
    memory_mb: int | None = Field(default=None, ge=128, le=10240)
    """MemorySize: an invocation that grows past it is killed. Omitted: the template's (128 MB)."""
    max_retry_attempts: int | None = Field(default=None, ge=0, le=MAX_RETRY_ATTEMPTS_LIMIT)
    """MaximumRetryAttempts for asynchronous invocation (0..2): an event gets 1 + this many attempts.
    Omitted: the template's (2)."""

    @property
    def max_attempts(self) -> int:
        return 1 + (self.max_retry_attempts if self.max_retry_attempts is not None else 2)

    def resolved(self, function: str) -> FunctionSettings:
        """These settings with every omitted one taken from the template's defaults for `function`."""
        prefix = FUNCTION_PARAMETERS[function]
        defaults = {"timeout_seconds": f"{prefix}Timeout", "memory_mb": f"{prefix}MemorySize",
                    "max_retry_attempts": f"{prefix}MaxRetryAttempts"}
        return self.model_copy(update={key: int(default(parameter)) for key, parameter in defaults.items()
                                       if getattr(self, key) is None})


class ErrorPolicy(ScenarioModel):
    """What the worker does with an error its own code sees, per failure class: `report` (one JOB FAILED,
    the invocation ends normally: no retry, no dead letter) or `raise` (Lambda retries and dead-letters,
    and the error handler reports). Defaults are the seed design's."""

    logical: ErrorAction = default("OnErrorLogical")
    """A wrong table or field name, bad data (PostgreSQL SQLSTATE classes 42, 22)."""
    programmatic: ErrorAction = default("OnErrorProgrammatic")
    """An exception from the function's own code."""
    transient: ErrorAction = default("OnErrorTransient")
    """A refused or lost connection, SQLSTATE classes 08, 40, 53, 57, throttling."""

    def action(self, failure_class: str) -> str:
        return str(getattr(self, failure_class))

    def as_env(self) -> dict[str, str]:
        return {"ON_ERROR_LOGICAL": self.logical, "ON_ERROR_PROGRAMMATIC": self.programmatic,
                "ON_ERROR_TRANSIENT": self.transient}


class WorkerSettings(FunctionSettings):
    """The worker's Lambda settings and its error policy."""

    on_error: ErrorPolicy = ErrorPolicy()
    """Per failure class, report or raise (see scenarios/README.md, "Failure classes")."""


class AlarmSettings(ScenarioModel):
    """One alarm's design. Omitted: the template's defaults, the seed design's (JOB NOT RUN over 1 day, JOB
    FAILED over 60 s; threshold 1, one period, missing data breaching)."""

    period_seconds: int | None = None
    """Period: 10, 30 or a multiple of 60 seconds. Omitted: the stack's alarm_period_seconds, else the
    template's (job_not_run 86400, job_failed 60)."""
    evaluation_periods: int | None = Field(default=None, ge=1, le=10)
    """EvaluationPeriods: how many periods are evaluated (all must breach to alarm)."""
    threshold: float | None = Field(default=None, ge=0)
    """job_not_run: ALARM when Invocations < threshold; job_failed: ALARM when Errors >= threshold."""
    treat_missing_data: TreatMissingData | None = None
    """TreatMissingData: breaching (the seed design: an idle period alarms), notBreaching, missing, ignore."""

    def resolved(self, alarm: str, period_seconds: int | None = None) -> AlarmSettings:
        """These settings with every omitted one taken from `period_seconds` (the stack's shorthand) or the
        template's defaults for `alarm`."""
        prefix = ALARM_PARAMETERS[alarm]
        return self.model_copy(update={
            "period_seconds": self.period_seconds or period_seconds or int(default(f"{prefix}Period")),
            "evaluation_periods": self.evaluation_periods or int(default(f"{prefix}EvaluationPeriods")),
            "threshold": self.threshold if self.threshold is not None else float(default(f"{prefix}Threshold")),
            "treat_missing_data": self.treat_missing_data or default(f"{prefix}TreatMissingData"),
        })

    @field_validator("period_seconds")
    @classmethod
    def _check_period(cls, value: int | None) -> int | None:
        if value is not None and not is_valid_alarm_period(value):
            raise ValueError(f"an alarm period must be 10, 30 or a multiple of 60 seconds, got {value}")
        return value


class AlarmsSettings(ScenarioModel):
    """The two alarms of the seed design."""

    job_not_run: AlarmSettings = AlarmSettings()
    """JOB NOT RUN: the orchestrator's Invocations below the threshold in the period."""
    job_failed: AlarmSettings = AlarmSettings()
    """JOB FAILED: the worker's Errors at or above the threshold in the period."""


class StackSettings(ScenarioModel):
    """How the seed pipeline is deployed for this scenario. Every key is optional."""

    template: str | None = None
    """A SAM or CloudFormation template of the pipeline to deploy instead of lambdas/template.yaml, relative
    to this file: your own copy, say, with its outputs named as lambdas/template.yaml names them.
    `harness run --template` overrides it."""
    parameters: dict[str, str | int | float | bool] = {}
    """More template parameters, by name. The ones the keys below set (timeouts, retries, alarms, ...) are
    set through those keys, so that deadlines follow them."""

    orchestrator: FunctionSettings = FunctionSettings()
    worker: WorkerSettings = WorkerSettings()
    error_handler: FunctionSettings = FunctionSettings()
    max_shard_size: int = Field(default=default("MaxShardSize"), ge=1)
    """The orchestrator rejects a job whose shard_size is larger (its MAX_SHARD_SIZE)."""
    reshard_factor: int = Field(default=default("ReshardFactor"), ge=2)
    """The error handler splits a timed-out shard into this many parts (2: halves)."""
    max_reshard_depth: int = Field(default=default("MaxReshardDepth"), ge=0)
    """How many times a shard's descendants may be split again before the error handler gives up."""
    alarm_period_seconds: int | None = None
    """Period of both alarms unless `alarms` sets one, in seconds: 10, 30 or a multiple of 60 (CloudWatch's
    rule). Omitted: each alarm's own period from the template (JOB NOT RUN 1 day, JOB FAILED 60 s)."""
    alarms: AlarmsSettings = AlarmsSettings()
    """Each alarm's period, evaluation periods, threshold and TreatMissingData."""

    @field_validator("alarm_period_seconds")
    @classmethod
    def _check_alarm_period(cls, value: int | None) -> int | None:
        if value is not None and not is_valid_alarm_period(value):
            raise ValueError(f"an alarm period must be 10, 30 or a multiple of 60 seconds, got {value}")
        return value

    def function(self, name: FunctionName) -> FunctionSettings:
        """The function's settings, every omitted one the template's default."""
        settings: FunctionSettings = getattr(self, name)
        return settings.resolved(name)

    def alarm(self, name: AlarmName) -> AlarmSettings:
        """The alarm's settings, every omitted one resolved (never None)."""
        settings: AlarmSettings = getattr(self.alarms, name)
        return settings.resolved(name, self.alarm_period_seconds)

    def evaluation_interval(self, name: AlarmName) -> float:
        """Seconds between two evaluations of the alarm (LocalStack: Period x EvaluationPeriods)."""
        settings = self.alarm(name)
        return float(settings.period_seconds or 60) * int(settings.evaluation_periods or 1)


class NextRunCondition(ScenarioModel):
    """Wait, before each run after the first, until an alarm is in a state (say job_failed is OK)."""

    alarm: AlarmName
    """The alarm to wait for."""
    state: AlarmState
    """The state it must be in before the next run is submitted."""


class Job(ScenarioModel):
    """The job the orchestrator is given: `{job_id, file_ids, shard_size}`."""

    files: int | None = Field(default=None, ge=1, le=100_000)
    """How many files; their IDs are generated as f-0000, f-0001, ... Give this or file_ids."""
    file_ids: list[FileId] | None = Field(default=None, min_length=1)
    """The file IDs, in order. Give this or files."""
    shard_size: int = Field(default=10, ge=1)
    """How many files the orchestrator puts in each worker invocation."""
    invocation: Literal["sync", "event"] = "sync"
    """How the harness invokes the orchestrator: sync (RequestResponse: its answer is checked with
    `result`, Lambda never retries it) or event (asynchronous: status 202, retried like the worker)."""
    runs: int = Field(default=1, ge=1, le=RUNS_LIMIT)
    """How many times the same job is submitted, each after the previous one has settled."""
    next_run_when: NextRunCondition | None = None
    """Before each run after the first, also wait until this alarm is in this state, like
    `{alarm: job_failed, state: OK}` (so that a failing run shows OK -> ALARM)."""
    job_id: Slug | None = None
    """The job's ID. Omitted: the scenario's name."""

    @model_validator(mode="after")
    def _check(self) -> Job:
        problems: list[tuple[Loc, str]] = []
        if self.files is None and self.file_ids is None:
            problems.append(((), "missing required key 'files' (a count) or 'file_ids' (a list)"))
        if self.files is not None and self.file_ids is not None:
            problems.append((("file_ids",), "give either files (a count) or file_ids (a list), not both"))
        for index, file_id in duplicates(self.file_ids or []):
            problems.append((("file_ids", index), f"file {file_id!r} is listed twice"))
        if problems:
            raise ScenarioProblems(problems)
        return self

    def ids(self) -> list[str]:
        """The job's file IDs, generated from `files` when not given."""
        if self.file_ids is not None:
            return list(self.file_ids)
        count = self.files or 0
        width = max(4, len(str(count - 1)))
        return [f"f-{index:0{width}d}" for index in range(count)]


class Scenario(ScenarioDocument):
    """A scenario: run a job on the seed pipeline with faults injected, then check every effect."""

    stack: StackSettings = StackSettings()
    """Deployment settings; every key has a default (the template's)."""
    job: Job | None = None
    """The job to run. Omitted: no job runs (the way to test the job_not_run alarm)."""

    is_pipeline: ClassVar[bool] = True

    # -- the profile's facts --------------------------------------------------------------------------------
    def functions(self) -> list[str]:
        return list(FUNCTIONS)

    def topics(self) -> list[str]:
        return list(TOPICS)

    def alarms(self) -> list[str]:
        return list(ALARMS)

    def alarms_notifying(self, topic: str) -> list[str]:
        return list(ALARMS) if topic == "alarms" else []

    def dead_letter_source(self, function: str) -> str | None:
        return DEAD_LETTER_TOPICS.get(function)

    def max_attempts(self, function: str) -> int:
        """1 + MaximumRetryAttempts, or 1 for the orchestrator when the harness invokes it synchronously
        (Lambda never retries a synchronous invoke)."""
        if function == "orchestrator" and (self.job is None or self.job.invocation == "sync"):
            return 1
        return self.stack.function(function).max_attempts  # type: ignore[arg-type]

    def timeout_of(self, function: str) -> float:
        return float(self.stack.function(function).timeout_seconds or 0)  # type: ignore[arg-type]

    def memory_of(self, function: str) -> int:
        return int(self.stack.function(function).memory_mb or 128)  # type: ignore[arg-type]

    def alarm_timing(self, alarm: str) -> tuple[float, int]:
        settings = self.stack.alarm(alarm)  # type: ignore[arg-type]
        return float(settings.period_seconds or 60), int(settings.evaluation_periods or 1)

    def triggers(self) -> bool:
        return self.job is not None

    def runs(self) -> int:
        return self.job.runs if self.job else 0

    def invoked(self) -> str:
        return "orchestrator"

    def attempt_limit_text(self, function: str) -> str:
        if function == "orchestrator" and self.max_attempts(function) == 1:
            return "the orchestrator is invoked synchronously, which Lambda never retries (job.invocation: event is)"
        retries = self.stack.function(function).max_retry_attempts  # type: ignore[arg-type]
        return f"{function} gets at most {self.max_attempts(function)} (1 + max_retry_attempts={retries})"

    def why_no_messages(self, topic: str) -> list[str]:
        if topic == "notifications" and self.job is None:
            return ["no job runs, so nothing is published to notifications"]
        return [f"no fault can fail the {function}'s last attempt, so nothing reaches the {dlq} topic"
                for function, dlq in DEAD_LETTER_TOPICS.items()
                if topic == dlq and not self.can_exhaust_retries(function)]

    def unknown_files(self, at: Loc, files: list[str] | None) -> Problems:
        if not files or self.job is None:
            return []
        ids = self.file_ids()
        known = set(ids)
        span = f"{ids[0]}..{ids[-1]}" if len(ids) > 3 else ", ".join(ids)
        return [((*at, index), f"file {file_id!r} is not in the job ({len(ids)} files: {span})")
                for index, file_id in enumerate(files) if file_id not in known]

    def template_path(self, override: Any = None) -> Any:
        """The template the stack deploys: `override` (`harness run --template`), else `stack.template`
        (relative to this file), else lambdas/template.yaml."""
        if override is not None:
            return override.resolve()
        return PIPELINE_TEMPLATE if self.stack.template is None else self.relative_path(self.stack.template)

    # -- the job ---------------------------------------------------------------------------------------------
    def file_ids(self) -> list[str]:
        """The job's file IDs; [] when no job runs."""
        return self.job.ids() if self.job else []

    def job_id(self) -> str:
        return (self.job.job_id if self.job else None) or self.name

    def job_event(self) -> dict[str, Any]:
        """The event the orchestrator is invoked with: `{job_id, file_ids, shard_size}` ({} when no job runs)."""
        if self.job is None:
            return {}
        return {"job_id": self.job_id(), "file_ids": self.file_ids(), "shard_size": self.job.shard_size}

    def settings(self, function: FunctionName) -> FunctionSettings:
        return self.stack.function(function)

    def poison_files(self) -> list[str]:
        """Files some fault targets by ID, in job order."""
        targeted = {file_id for fault in self.faults for file_id in fault.files or []}
        return [file_id for file_id in self.file_ids() if file_id in targeted]

    def initial_shards(self) -> list[list[str]]:
        """The shards the orchestrator makes from the job (consecutive chunks of shard_size)."""
        if self.job is None:
            return []
        ids, size = self.file_ids(), self.job.shard_size
        return [ids[start : start + size] for start in range(0, len(ids), size)]
