"""The validation pass: what a scenario needs of itself that each part allows but that cannot happen together.

The loader parses a file, has pydantic check its shape, then runs this pass on the document: names against
the stack's (its profile's functions, topics, queues and alarms, with a did-you-mean), faults that can never
strike, settings of the seed pipeline on a template of your own, each expectation kind's own needs
(`validate` of its module in `harness.kinds`), and a job too big to run. It stays pure (no AWS, no
database), so a file is judged before anything is deployed.
"""

from __future__ import annotations

import json
from typing import Any

from harness import paths
from harness.format import Loc, did_you_mean
from harness.format.catalog import (
    ASYNC_PAYLOAD_LIMIT_BYTES,
    DATABASE_FUNCTIONS,
    ORCHESTRATOR_MAX_INVOKES_PER_SECOND,
    SYNC_PAYLOAD_LIMIT_BYTES,
)
from harness.format.faults import KINDS as FAULT_TABLE
from harness.kinds import KINDS

from .document import Problems, ScenarioDocument
from .pipeline import Job, Scenario
from .template import TemplateScenario


def validate(scenario: ScenarioDocument) -> Problems:
    """Every problem of the document as a whole, each at its place."""
    if isinstance(scenario, TemplateScenario):
        problem = scenario.template_problem()
        if problem is not None:
            return [(("template",), problem)]
        problems = _names(scenario, ("invoke", "function"), scenario.invoke.function)
    else:
        problems = _job_problems(scenario) if isinstance(scenario, Scenario) else []
    problems += _fault_problems(scenario)
    for index, expectation in enumerate(scenario.expect):
        at: Loc = ("expect", index, expectation.kind)
        problems += _pipeline_only(scenario, at, expectation, expectation.PIPELINE_ONLY, f"`{expectation.kind}`")
        if not any(loc[:3] == at for loc, _ in problems):
            problems += expectation.validate(scenario, at)
    return problems


def _names(scenario: ScenarioDocument, at: Loc, function: str) -> Problems:
    known = scenario.functions()
    if function in known:
        return []
    return [(at, f"{function!r} is not a function of the stack{did_you_mean(function, known)} "
                 f"(its functions: {', '.join(known) or 'none'})")]


def _pipeline_only(scenario: ScenarioDocument, at: Loc, item: Any, fields: tuple[str, ...], what: str) -> Problems:
    """Settings that need the seed pipeline, refused on a template of your own."""
    if scenario.is_pipeline:
        return []
    if "*" in fields:
        return [(at, f"{what} belongs to the seed pipeline (its error handler's decisions and its database); a "
                     "template scenario can expect attempts, dlq, sns, sqs, alarm and result")]
    return [((*at, field), f"{field} belongs to the seed pipeline (its job's files, shards and runs); a template "
                           "scenario invokes once, with no files")
            for field in fields if getattr(item, field, None) not in (None, [], {})]


def _fault_problems(scenario: ScenarioDocument) -> Problems:
    problems: Problems = []
    if scenario.faults and not scenario.triggers():
        problems.append((("faults",), "faults act on a job, but no job runs: add a `job:`"))
    for index, fault in enumerate(scenario.faults):
        at: Loc = ("faults", index)
        named = _names(scenario, (*at, "function"), fault.function)
        if named:
            problems += named
            continue
        if fault.row.pipeline_only and not scenario.is_pipeline:
            usable = [kind for kind, row in FAULT_TABLE.items() if not row.pipeline_only]
            problems.append(((*at, "kind"), f"fault kind {fault.kind!r} needs the seed pipeline's database and code; "  # type: ignore[attr-defined]
                                            f"a template scenario can inject {', '.join(usable[:-1])} or {usable[-1]}"))
            continue
        problems += _pipeline_only(scenario, at, fault, fault.PIPELINE_ONLY_TARGETING, "")
        problems += _never_strikes(scenario, at, index)
        problems += scenario.unknown_files((*at, "files"), fault.files)
        problems += _wrong_place(scenario, at, fault)
    return problems


def _never_strikes(scenario: ScenarioDocument, at: Loc, index: int) -> Problems:
    """Attempts and runs a fault names that never happen: an attempt happens only when the one before it
    fails, and a run only when the job runs that often."""
    fault = scenario.faults[index]
    limit = scenario.max_attempts(fault.function)
    problems: Problems = []
    for position, attempt in enumerate(fault.attempts or []):
        if attempt > limit:
            problems.append(((*at, "attempts", position),
                             f"attempt {attempt} never happens: {scenario.attempt_limit_text(fault.function)}"))
        elif attempt > 1 and scenario.only_faults_fail and not any(
                other.targets_attempt(attempt - 1) and scenario.fails_invocation(other)
                for other in scenario.faults_for(fault.function)):
            every = ", ".join(str(number) for number in range(1, attempt + 1))
            problems.append(((*at, "attempts", position),
                             f"attempt {attempt} never happens: no fault fails attempt {attempt - 1} of "
                             f"{fault.function}, so Lambda never retries it into attempt {attempt}; did you mean "
                             f"attempts: [{every}]?"))
    runs = scenario.runs()
    for position, run in enumerate(fault.runs or []):
        if run > runs:
            problems.append(((*at, "runs", position), f"run {run} never happens: the job runs {runs} time(s)"))
    return problems


def _wrong_place(scenario: ScenarioDocument, at: Loc, fault: Any) -> Problems:
    """A misconfiguration on a function that has no such setting, or a shard filter no shard meets."""
    row = fault.row
    problems: Problems = []
    if row.overrides is not None and fault.function not in DATABASE_FUNCTIONS:
        users = " and ".join(sorted(DATABASE_FUNCTIONS))
        problems.append(((*at, "function"), f"{fault.function} does not use the database (only {users} do)"))
    elif row.overrides is not None and fault.function not in row.overrides:
        problems.append(((*at, "function"), row.not_there.format(function=fault.function, kind=fault.kind)))
    job = getattr(scenario, "job", None)
    if job and fault.min_shard_size and fault.min_shard_size > job.shard_size:
        problems.append(((*at, "min_shard_size"), f"no shard holds {fault.min_shard_size} files: the job's shard_size "
                                                  f"is {job.shard_size} and re-sharding only makes shards smaller"))
    return problems


def _job_problems(scenario: Scenario) -> Problems:
    template = scenario.template_path()
    problems: Problems = []
    if not template.is_file():
        problems.append((("stack", "template"), f"no such template {template}"))
    job = scenario.job
    if job is None:
        return problems
    if job.next_run_when is not None and job.runs == 1:
        problems.append((("job", "next_run_when"),
                         "next_run_when waits before a later run, but the job runs once: set runs"))
    return problems + _job_size_problems(scenario, job)


def _job_size_problems(scenario: Scenario, job: Job) -> Problems:
    """A job too big for Lambda's payload limits or for the orchestrator's timeout fails with no hint."""
    stack = scenario.stack
    at: Loc = ("job", "files" if job.files is not None else "file_ids")
    count = len(scenario.file_ids())
    size = len(json.dumps(scenario.job_event()).encode())
    over_async = f"over the {ASYNC_PAYLOAD_LIMIT_BYTES:,} bytes an async invoke carries on LocalStack (AWS: 1 MB)"
    if job.invocation == "event" and size > ASYNC_PAYLOAD_LIMIT_BYTES:
        return [(at, f"the job event of {count} files is {size:,} bytes, {over_async}, and job.invocation: event "
                     f"invokes the orchestrator so; no setting raises it: use job.invocation: sync "
                     f"({SYNC_PAYLOAD_LIMIT_BYTES:,} bytes) or fewer files")]
    if size > SYNC_PAYLOAD_LIMIT_BYTES:
        return [(at, f"the job event of {count} files is {size:,} bytes, over the {SYNC_PAYLOAD_LIMIT_BYTES:,} "
                     "bytes a synchronous invoke carries; no setting raises it: use fewer files")]
    if size > ASYNC_PAYLOAD_LIMIT_BYTES:
        largest = max(len(json.dumps(shard.to_event()).encode()) for shard in _root_shards(scenario, job))
        if largest > ASYNC_PAYLOAD_LIMIT_BYTES:
            return [(("job", "shard_size"), f"a shard of {job.shard_size} files is a worker event of {largest:,} "
                                            f"bytes, {over_async}; no setting raises it: use a smaller shard_size")]
    shards = -(-count // job.shard_size)
    timeout = int(stack.function("orchestrator").timeout_seconds or 0)
    if shards > timeout * ORCHESTRATOR_MAX_INVOKES_PER_SECOND:
        needed = -(-shards // ORCHESTRATOR_MAX_INVOKES_PER_SECOND)
        return [(at, f"{count} files in shards of {job.shard_size} make {shards} worker invokes, more than the "
                     f"orchestrator can make in its {timeout} s timeout (at most about "
                     f"{ORCHESTRATOR_MAX_INVOKES_PER_SECOND} a second): raise stack.orchestrator.timeout_seconds "
                     f"(up to 900; at least {needed}) or job.shard_size (up to stack.max_shard_size, "
                     f"{stack.max_shard_size}), or use fewer files")]
    return []


def _root_shards(scenario: Scenario, job: Job) -> list[Any]:
    sharding, events = paths.pipeline_common("sharding"), paths.pipeline_common("events")
    return list(sharding.shards_for_job(events.Job(scenario.job_id(), tuple(scenario.file_ids()), job.shard_size)))


__all__ = ["KINDS", "validate"]
