"""`result`: what the harness's invoke of the orchestrator answered, run by run."""

from __future__ import annotations

import re

from harness.observe.records import InvokeResult
from harness.scenario import ResultExpectation

from ..snapshot import Snapshot
from ..text import listing, value_text
from .fields import field_text, field_value, is_missing, json_equal
from .verdict import Verdict


def check_result(expectation: ResultExpectation, snapshot: Snapshot) -> Verdict:
    runs = snapshot.scenario.job.runs if snapshot.scenario.job else 0
    wanted_runs = [expectation.run] if expectation.run is not None else list(range(1, runs + 1))
    results = {result.run: result for result in snapshot.results}
    problems: list[str] = []
    seen: list[str] = []
    for run in wanted_runs:
        result = results.get(run)
        if result is None:
            problems.append(f"run {run} has no answer yet")
            continue
        seen.append(_result_text(result))
        problems += [f"run {run}: {problem}" for problem in _problems(expectation, result)]
    observed = listing(seen) if seen else "no answer"
    if problems:
        observed = f"{listing(problems)}; seen: {observed}"
    return Verdict(holds=not problems, expected=_expected(expectation, wanted_runs), observed=observed)


def _problems(expectation: ResultExpectation, result: InvokeResult) -> list[str]:
    problems = []
    if expectation.succeeded is True and result.function_error:
        problems.append(f"FunctionError {result.function_error!r}, expected none")
    if expectation.succeeded is False and not result.function_error:
        problems.append("no FunctionError, expected the orchestrator to fail")
    if expectation.status is not None and result.status != expectation.status:
        problems.append(f"status {result.status}, expected {expectation.status}")
    for path, wanted in expectation.fields.items():
        value = field_value(result.body, path)
        if is_missing(value):
            problems.append(f"no field {path}")
        elif not json_equal(value, wanted):
            problems.append(f"{path}={value_text(value, 80)}, expected {value_text(wanted, 80)}")
    for path, pattern in expectation.field_patterns.items():
        value = field_value(result.body, path)
        if is_missing(value):
            problems.append(f"no field {path}")
        elif not re.search(pattern, field_text(value)):
            problems.append(f"{path}={value_text(value, 80)} does not match /{pattern}/")
    return problems


def _result_text(result: InvokeResult) -> str:
    error = f" FunctionError={result.function_error}" if result.function_error else ""
    return f"run {result.run}: status {result.status}{error} body {value_text(result.body, 160)}"


def _expected(expectation: ResultExpectation, runs: list[int]) -> str:
    conditions = []
    if expectation.succeeded is not None:
        conditions.append("no FunctionError" if expectation.succeeded else "a FunctionError")
    if expectation.status is not None:
        conditions.append(f"status {expectation.status}")
    conditions += [f"{path}={value_text(value, 80)}" for path, value in expectation.fields.items()]
    conditions += [f"{path} matching /{pattern}/" for path, pattern in expectation.field_patterns.items()]
    which = f"run {runs[0]}" if len(runs) == 1 else f"runs {', '.join(map(str, runs))}"
    return f"the orchestrator's answer to {which} with " + ", ".join(conditions)
