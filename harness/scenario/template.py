"""The generic profile: a scenario on any SAM or CloudFormation template of your own, by logical ID.

A document with a top-level `template:` is one of these. It names the template and its parameters, one
invocation of one of its functions, the faults to inject (the kinds that need no knowledge of the code),
and expectations on what any template has: `attempts`, `dlq` (the function's DeadLetterConfig target, SNS or
SQS), `sns` (a topic), `sqs` (a queue), `alarm` and `result`. What belongs to the seed pipeline (`reshard`,
`database`, files, shards and runs of a job) is refused, saying so. Its facts (functions, Timeouts, retries,
dead-letter targets, which topics an alarm notifies) are read from the template itself.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, JsonValue, model_validator
from pydantic_core import PydanticCustomError

from harness.format import ScenarioModel
from harness.format.template import ALARM_TYPES, FUNCTION_TYPES, QUEUE_TYPES, TOPIC_TYPES, Template, TemplateError, load

from .document import ScenarioDocument

_LOGICAL_ID = re.compile(r"^[A-Za-z0-9]{1,255}$")


def _logical_id(value: Any) -> Any:
    if isinstance(value, str) and not _LOGICAL_ID.match(value):
        raise ValueError(f"must be a logical ID of the template (letters and digits), got {value!r}")
    return value


LogicalId = Annotated[str, BeforeValidator(_logical_id)]


class Invoke(ScenarioModel):
    """The one invocation the scenario makes."""

    function: LogicalId
    """The function's logical ID in the template."""
    event: JsonValue = {}
    """The event it is given (any JSON)."""
    invocation: Literal["sync", "event"] = "event"
    """event (asynchronous: status 202, retried by Lambda, then dead-lettered) or sync (RequestResponse)."""


class TemplateScenario(ScenarioDocument):
    """Run one invocation of a function of your own template with faults injected, and check the effects."""

    template: str
    """The SAM or CloudFormation template, relative to this file."""
    parameters: dict[str, str | int | float | bool] = {}
    """Template parameters by name."""
    invoke: Invoke
    """The invocation the scenario makes."""

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

    def template_path(self, override: Path | None = None) -> Path:
        """`override` (`harness run --template`), else the scenario's `template:`, relative to its file."""
        return override.resolve() if override is not None else self.relative_path(self.template)

    @functools.cached_property
    def loaded(self) -> Template | None:
        """The template, read (None when it cannot be: the validation pass says why)."""
        try:
            return load(self.template_path())
        except TemplateError:
            return None

    def template_problem(self) -> str | None:
        try:
            load(self.template_path())
        except TemplateError as error:
            return str(error)
        return None

    def _of(self, types: tuple[str, ...]) -> list[str]:
        return self.loaded.of_type(types) if self.loaded is not None else []

    @property
    def _parameters(self) -> dict[str, Any]:
        return {key: str(value) for key, value in self.parameters.items()}

    # -- the profile's facts --------------------------------------------------------------------------------
    def functions(self) -> list[str]:
        return self._of(FUNCTION_TYPES)

    def topics(self) -> list[str]:
        return self._of(TOPIC_TYPES)

    def queues(self) -> list[str]:
        return self._of(QUEUE_TYPES)

    def alarms(self) -> list[str]:
        return self._of(ALARM_TYPES)

    def alarms_notifying(self, topic: str) -> list[str]:
        return self.loaded.alarm_topics().get(topic, []) if self.loaded is not None else []

    def dead_letter_source(self, function: str) -> str | None:
        return self.loaded.dead_letter_target(function) if self.loaded is not None else None

    def max_attempts(self, function: str) -> int:
        """1 + its MaximumRetryAttempts; 1 for the function the scenario invokes synchronously."""
        if function == self.invoke.function and self.invoke.invocation == "sync":
            return 1
        return 1 + self._retries(function)

    def _retries(self, function: str) -> int:
        return self.loaded.retries(function, self._parameters) if self.loaded is not None else 2

    def timeout_of(self, function: str) -> float:
        return self.loaded.timeout(function, self._parameters) if self.loaded is not None else 3.0

    def memory_of(self, function: str) -> int:
        if self.loaded is None:
            return super().memory_of(function)
        return self.loaded.memory(function, self._parameters)

    def max_event_age(self, function: str) -> float | None:
        if self.loaded is None:
            return super().max_event_age(function)
        return self.loaded.max_event_age(function, self._parameters)

    def alarm_timing(self, alarm: str) -> tuple[float, int]:
        if self.loaded is None:
            return 60.0, 1
        properties = (self.loaded.resources.get(alarm) or {}).get("Properties") or {}
        period = self.loaded.value(properties.get("Period"), self._parameters)
        periods = self.loaded.value(properties.get("EvaluationPeriods"), self._parameters)
        return float(period or 60), int(periods or 1)

    def triggers(self) -> bool:
        return True

    def invoked(self) -> str:
        return self.invoke.function
