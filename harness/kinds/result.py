"""`result`: what the harness's own invoke answered: the orchestrator's, run by run, or the function's your
template scenario invokes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, Field, JsonValue, model_validator

from harness.format import Loc, Regex
from harness.format.catalog import ORCHESTRATOR_ANSWER_FIELDS
from harness.records import InvokeResult
from harness.text import listing, value_text

from .base import ExpectationBase, Problems, Verdict, raise_if
from .fields import field_text, field_value, is_missing, json_equal
from .messages import unknown_field_problems

if TYPE_CHECKING:
    from harness.expect.snapshot import Snapshot


class ResultExpectation(ExpectationBase):
    """What the job's own invocation returned."""

    PIPELINE_ONLY = ("run",)
    kind: Literal["result"] = "result"
    run: int | None = Field(default=None, ge=1)
    """Only this run of the job (1 is the first). Omitted: every run."""
    succeeded: bool | None = None
    """true: no FunctionError; false: the function failed (Lambda's FunctionError is set)."""
    function_error: Literal["Unhandled", "none"] | None = None
    """`Unhandled` when the function failed, `none` when it must not have (succeeded, spelt as Lambda does)."""
    status: int | None = Field(default=None, ge=100, le=599)
    """The invoke's HTTP status code (200 for a synchronous invoke, 202 for an asynchronous one)."""
    fields: dict[str, JsonValue] = Field(default={}, validation_alias=AliasChoices("fields", "body_fields"))
    """Values in the answer's JSON body, like `{shard_count: 4}` or `{errorType: ValueError}`; also spelt
    `body_fields`."""
    field_patterns: dict[str, Regex] = {}
    """Regular expressions searched in the body's fields, like `{errorMessage: boom}`."""

    @model_validator(mode="after")
    def _check(self) -> ResultExpectation:
        problems: list[tuple[Loc, str]] = []
        if self.succeeded is None and self.function_error is None and self.status is None and not self.fields \
                and not self.field_patterns:
            problems.append(((), "give at least one of succeeded, status, function_error, fields, field_patterns"))
        if self.succeeded is not None and self.function_error is not None:
            problems.append((("function_error",), "give succeeded or function_error, not both"))
        raise_if(problems)
        return self

    @property
    def monotone(self) -> bool:
        return True  # an answer, once given, does not change

    def wants_success(self) -> bool | None:
        if self.function_error is not None:
            return self.function_error == "none"
        return self.succeeded

    def validate(self, scenario: Any, at: Loc) -> Problems:
        if not scenario.triggers():
            return [(at, "no job runs, so the orchestrator is never invoked and answers nothing")]
        if self.run is not None and self.run > scenario.runs():
            return [((*at, "run"), f"run {self.run} never happens: the job runs {scenario.runs()} time(s)")]
        if scenario.is_pipeline:
            # The orchestrator's answer, from the pipeline's own `pipeline_common.messages`, or Lambda's error.
            paths = {"fields": list(self.fields), "field_patterns": list(self.field_patterns)}
            return unknown_field_problems(at, paths, ORCHESTRATOR_ANSWER_FIELDS, "answer of the orchestrator")
        return []

    def report_lanes(self) -> set[tuple[str, str]]:
        return {("run", "job")}

    def check(self, snapshot: Snapshot) -> Verdict:
        runs = snapshot.scenario.runs()
        wanted_runs = [self.run] if self.run is not None else list(range(1, runs + 1))
        results = {result.run: result for result in snapshot.results}
        problems: list[str] = []
        seen: list[str] = []
        for run in wanted_runs:
            result = results.get(run)
            if result is None:
                problems.append(f"run {run} has no answer yet")
                continue
            seen.append(_result_text(result))
            problems += [f"run {run}: {problem}" for problem in self._problems(result)]
        observed = listing(seen) if seen else "no answer"
        if problems:
            observed = f"{listing(problems)}; seen: {observed}"
        # Every answer asked for is in: nothing still to come can change the verdict.
        answered = all(run in results for run in wanted_runs)
        return Verdict(holds=not problems, expected=self._expected(wanted_runs, snapshot), observed=observed,
                       final=answered)

    def _problems(self, result: InvokeResult) -> list[str]:
        problems = []
        success = self.wants_success()
        if success is True and result.function_error:
            problems.append(f"FunctionError {result.function_error!r}, expected none")
        if success is False and not result.function_error:
            problems.append("no FunctionError, expected the function to fail")
        if self.status is not None and result.status != self.status:
            problems.append(f"status {result.status}, expected {self.status}")
        for path, wanted in self.fields.items():
            value = field_value(result.body, path)
            if is_missing(value):
                problems.append(f"no field {path}")
            elif not json_equal(value, wanted):
                problems.append(f"{path}={value_text(value, 80)}, expected {value_text(wanted, 80)}")
        for path, pattern in self.field_patterns.items():
            value = field_value(result.body, path)
            if is_missing(value):
                problems.append(f"no field {path}")
            elif not re.search(pattern, field_text(value)):
                problems.append(f"{path}={value_text(value, 80)} does not match /{pattern}/")
        return problems

    def _expected(self, runs: list[int], snapshot: Snapshot) -> str:
        conditions = []
        success = self.wants_success()
        if success is not None:
            conditions.append("no FunctionError" if success else "a FunctionError")
        if self.status is not None:
            conditions.append(f"status {self.status}")
        conditions += [f"{path}={value_text(value, 80)}" for path, value in self.fields.items()]
        conditions += [f"{path} matching /{pattern}/" for path, pattern in self.field_patterns.items()]
        which = f"run {runs[0]}" if len(runs) == 1 else f"runs {', '.join(map(str, runs))}"
        return f"the {snapshot.scenario.invoked()}'s answer to {which} with " + ", ".join(conditions)


def _result_text(result: InvokeResult) -> str:
    error = f" FunctionError={result.function_error}" if result.function_error else ""
    return f"run {result.run}: status {result.status}{error} body {value_text(result.body, 160)}"
