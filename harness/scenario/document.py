"""What every scenario document has, whichever profile it is: the seed pipeline (`harness.scenario.pipeline`)
or a template of your own (`harness.scenario.template`).

A document is the file's shape (pydantic checks it) plus the facts its profile knows of its stack before
anything is deployed: the names of its functions, topics, queues and alarms, each function's retries and
Timeout, where its dead letters go, which topics its alarms notify. The kinds' validation
(`harness.kinds`), the validation pass (`harness.scenario.validate`), the walk and the engine read those
facts through the methods below, never the profile's own settings.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from harness.format import Loc, Slug, SourceLocated, Text
from harness.format.catalog import DEFAULT_MAX_WAIT_SECONDS
from harness.format.classes import fails_invocation, failure_class
from harness.format.faults import Fault, FaultBase
from harness.kinds import Expectation

Problems = list[tuple[Loc, str]]


class ScenarioDocument(SourceLocated):
    """A scenario: faults injected into a deployed stack, and what must be observed afterwards."""

    name: Slug
    """Unique name of the scenario, a slug like worker-timeout-reshards."""
    description: Text
    """What happens and why, for a person reading the file or a failure report."""
    faults: list[Fault] = []
    """Faults to inject. Empty: the stack runs clean."""
    expect: list[Expectation] = Field(min_length=1)
    """What must be observed, each a one-key mapping naming its kind."""
    max_wait_seconds: float = Field(default=DEFAULT_MAX_WAIT_SECONDS, gt=0, le=86_400)
    """No scenario takes longer than this of wall time; on the stack's clock, deadlines come from the
    stack's own Timeouts, retry delays and alarm periods."""

    is_pipeline: ClassVar[bool] = False

    # -- the stack's names and facts (each profile says) ----------------------------------------------------
    def functions(self) -> list[str]:
        raise NotImplementedError

    def topics(self) -> list[str]:
        raise NotImplementedError

    def queues(self) -> list[str]:
        return []

    def alarms(self) -> list[str]:
        raise NotImplementedError

    def alarms_notifying(self, topic: str) -> list[str]:
        """The alarms whose actions publish to `topic`: messages there follow their evaluation clock."""
        return []

    def dead_letter_source(self, function: str) -> str | None:
        """The topic or queue the function's dead letters go to, or None when it has none."""
        raise NotImplementedError

    def max_attempts(self, function: str) -> int:
        """How many attempts one invocation of the function can get."""
        raise NotImplementedError

    def timeout_of(self, function: str) -> float:
        raise NotImplementedError

    def memory_of(self, function: str) -> int:
        """The function's MemorySize in MB (AWS's default: 128)."""
        return 128

    def max_event_age(self, function: str) -> float | None:
        """MaximumEventAgeInSeconds of the function's asynchronous invocations; None: AWS's default."""
        return None

    def alarm_timing(self, alarm: str) -> tuple[float, int]:
        """The alarm's Period (seconds) and EvaluationPeriods."""
        raise NotImplementedError

    def alarm_interval(self, alarm: str) -> float:
        """Seconds between two evaluations of the alarm (LocalStack: Period x EvaluationPeriods)."""
        period, periods = self.alarm_timing(alarm)
        return period * periods

    def triggers(self) -> bool:
        """Whether the harness invokes anything (a job runs)."""
        raise NotImplementedError

    def runs(self) -> int:
        return 1 if self.triggers() else 0

    def invoked(self) -> str:
        """The function the harness invokes."""
        raise NotImplementedError

    def file_ids(self) -> list[str]:
        return []

    def poison_files(self) -> list[str]:
        return []

    # -- what the faults do ---------------------------------------------------------------------------------
    @property
    def only_faults_fail(self) -> bool:
        """Whether an attempt fails only when a fault makes it (the seed pipeline's code, on a clean job); a
        template's own code may fail by itself, so nothing is claimed about attempts that faults do not make."""
        return self.is_pipeline

    def faults_for(self, function: str) -> list[FaultBase]:
        return [fault for fault in self.faults if fault.function == function]

    def fails_invocation(self, fault: FaultBase) -> bool:
        return fails_invocation(self, fault)

    def can_exhaust_retries(self, function: str) -> bool:
        """Whether some fault may fail the final attempt of an invocation (only then is it dead-lettered)."""
        return any(fault.targets_attempt(self.max_attempts(function)) and self.fails_invocation(fault)
                   for fault in self.faults_for(function))

    def reported_instead(self, function: str) -> str:
        """Why faults that would fail the last attempt do not: the worker reports their class. '' if none."""
        for fault in self.faults_for(function):
            kind = failure_class(fault)
            if fault.targets_attempt(self.max_attempts(function)) and not self.fails_invocation(fault) \
                    and fault.row.lasts != "delay":
                return (f": the worker reports a {kind} error ({fault.kind}) as JOB FAILED and ends normally under "  # type: ignore[attr-defined]
                        f"stack.worker.on_error.{kind}: report, so it is never retried nor dead-lettered; expect the "
                        f"JOB FAILED message, or set on_error.{kind}: raise")
        return ""

    def fails_every_invocation(self, function: str) -> int | None:
        """The index of a fault that fails every attempt of every invocation of `function`, or None."""
        for index, fault in enumerate(self.faults):
            if fault.function == function and self.fails_invocation(fault) and fault.attempts is None \
                    and fault.files is None and fault.min_shard_size is None and fault.probability in (None, 1.0):
                return index
        return None

    def attempt_limit_text(self, function: str) -> str:
        """Why an invocation of `function` gets at most `max_attempts` attempts, in words."""
        return f"{function} gets at most {self.max_attempts(function)} (1 + max_retry_attempts=" \
               f"{self.max_attempts(function) - 1})"

    def why_no_messages(self, topic: str) -> list[str]:
        """Why nothing can reach `topic`, when that is certain before deploy ([]: something may)."""
        return []

    def unknown_files(self, at: Loc, files: list[str] | None) -> Problems:
        return []

