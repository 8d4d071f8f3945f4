"""Checks that need the whole scenario: things each part allows but that cannot happen together.

They run only once every part is well-formed, and stay pure (no AWS, no database), so a file is judged
before anything is deployed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.faults import MISCONFIGURABLE

from .catalog import (
    ASYNC_PAYLOAD_LIMIT_BYTES,
    DATABASE_FUNCTIONS,
    DEAD_LETTER_TOPICS,
    DEAD_LETTERED_FUNCTION,
    ORCHESTRATOR_MAX_INVOKES_PER_SECOND,
    SYNC_PAYLOAD_LIMIT_BYTES,
    FunctionName,
)
from .classes import fails_invocation, failure_class
from .common import Loc
from .expectations import (
    AlarmExpectation,
    AttemptsExpectation,
    DatabaseExpectation,
    DlqExpectation,
    ReshardExpectation,
    ResultExpectation,
    SnsExpectation,
)
from .faults import TimeoutFault

if TYPE_CHECKING:
    from .model import Job, Scenario

Problems = list[tuple[Loc, str]]


def consistency_problems(scenario: Scenario) -> Problems:
    problems: Problems = []
    problems += _fault_problems(scenario)
    problems += _job_problems(scenario)
    for index, expectation in enumerate(scenario.expect):
        at: Loc = ("expect", index, expectation.kind)
        problems += VALIDATORS[type(expectation)](scenario, at, expectation)
    return problems


def _runs(scenario: Scenario) -> int:
    return scenario.job.runs if scenario.job else 0


def _job_problems(scenario: Scenario) -> Problems:
    job = scenario.job
    if job is None:
        return []
    problems: Problems = []
    if job.next_run_when is not None and job.runs == 1:
        problems.append(
            (("job", "next_run_when"), "next_run_when waits before a later run, but the job runs once: set runs")
        )
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
    from harness import paths

    sharding, events = paths.pipeline_common("sharding"), paths.pipeline_common("events")
    files = tuple(scenario.file_ids())
    return list(sharding.shards_for_job(events.Job(scenario.job_id(), files, job.shard_size)))


def _alarm_problems(scenario: Scenario, at: Loc, expectation: AlarmExpectation) -> Problems:
    if expectation.since == "job" and scenario.job is None:
        return [((*at, "since"), "no job runs, so there is no job start to count from: use `since: creation`")]
    return []


def _result_problems(scenario: Scenario, at: Loc, expectation: ResultExpectation) -> Problems:
    if scenario.job is None:
        return [(at, "no job runs, so the orchestrator is never invoked and answers nothing")]
    if expectation.run is not None and expectation.run > _runs(scenario):
        return [((*at, "run"), f"run {expectation.run} never happens: the job runs {_runs(scenario)} time(s)")]
    return []


def _attempt_limit_text(scenario: Scenario, function: FunctionName) -> str:
    if function == "orchestrator" and scenario.max_attempts(function) == 1:
        return "the orchestrator is invoked synchronously, which Lambda never retries (job.invocation: event is)"
    retries = scenario.settings(function).max_retry_attempts
    return f"{function} gets at most {scenario.max_attempts(function)} (1 + max_retry_attempts={retries})"


def _unknown_files(scenario: Scenario, at: Loc, files: list[str] | None) -> Problems:
    if not files or scenario.job is None:
        return []
    ids = scenario.file_ids()
    known = set(ids)
    span = f"{ids[0]}..{ids[-1]}" if len(ids) > 3 else ", ".join(ids)
    return [
        ((*at, index), f"file {file_id!r} is not in the job ({len(ids)} files: {span})")
        for index, file_id in enumerate(files)
        if file_id not in known
    ]


def _fault_problems(scenario: Scenario) -> Problems:
    problems: Problems = []
    if scenario.faults and scenario.job is None:
        problems.append((("faults",), "faults act on a job, but no job runs: add a `job:`"))
    for index, fault in enumerate(scenario.faults):
        at: Loc = ("faults", index)
        limit = scenario.max_attempts(fault.function)
        limit_text = _attempt_limit_text(scenario, fault.function)
        for position, attempt in enumerate(fault.attempts or []):
            if attempt > limit:
                problems.append(
                    (
                        (*at, "attempts", position),
                        f"attempt {attempt} never happens: {limit_text}",
                    )
                )
        problems += _unknown_files(scenario, (*at, "files"), fault.files)
        for position, run in enumerate(fault.runs or []):
            if scenario.job is not None and run > scenario.job.runs:
                problems.append(
                    ((*at, "runs", position), f"run {run} never happens: the job runs {scenario.job.runs} time(s)")
                )
        if fault.kind in ("bad_table", "bad_field", "db_unreachable") and fault.function not in DATABASE_FUNCTIONS:
            users = " and ".join(sorted(DATABASE_FUNCTIONS))
            problems.append(
                ((*at, "function"), f"{fault.function} does not use the database (only {users} do)")
            )
        elif fault.kind in MISCONFIGURABLE and fault.function not in MISCONFIGURABLE[fault.kind]:
            # The error handler's INSERTs spell their columns; its one column setting (FILES_ID_COLUMN) is
            # only read, and only before a quarantine, so a wrong one would strike some decisions, not all.
            problems.append(
                (
                    (*at, "function"),
                    f"{fault.function} has no setting for a column it writes (its SQL spells its columns), so "
                    f"{fault.kind} has nothing to break there; kind: bad_table gives it a wrong table name",
                )
            )
        if scenario.job and fault.min_shard_size and fault.min_shard_size > scenario.job.shard_size:
            problems.append(
                (
                    (*at, "min_shard_size"),
                    f"no shard holds {fault.min_shard_size} files: the job's shard_size is "
                    f"{scenario.job.shard_size} and re-sharding only makes shards smaller",
                )
            )
    return problems


def _can_exhaust_retries(scenario: Scenario, function: FunctionName | None = None) -> bool:
    """Whether some fault may fail the final attempt of an invocation (only then is it dead-lettered)."""
    return any(
        fault.targets_attempt(scenario.max_attempts(fault.function)) and fails_invocation(scenario, fault)
        for fault in scenario.faults
        if function is None or fault.function == function
    )


def _reported_instead(scenario: Scenario, function: FunctionName) -> str:
    """Why faults that would fail the last attempt do not: the worker reports their class. '' if none."""
    for fault in scenario.faults_for(function):
        kind = failure_class(fault)
        if fault.targets_attempt(scenario.max_attempts(function)) and not fails_invocation(scenario, fault):
            return (
                f": the worker reports a {kind} error ({fault.kind}) as JOB FAILED and ends normally under "
                f"stack.worker.on_error.{kind}: report, so it is never retried nor dead-lettered; expect the "
                f"JOB FAILED message, or set on_error.{kind}: raise"
            )
    return ""


def _fails_every_invocation(scenario: Scenario, index: int) -> bool:
    """Whether fault `index` fails every attempt of every worker invocation, whatever its event."""
    fault = scenario.faults[index]
    return (
        fault.function == DEAD_LETTERED_FUNCTION
        and fails_invocation(scenario, fault)
        and fault.attempts is None
        and fault.files is None
        and fault.min_shard_size is None
        and fault.probability in (None, 1.0)
    )


def _attempts_problems(scenario: Scenario, at: Loc, expectation: AttemptsExpectation) -> Problems:
    problems: Problems = []
    function = expectation.function
    limit = scenario.max_attempts(function)
    count = expectation.count
    if count is not None and count > limit:
        retries = scenario.settings(function).max_retry_attempts
        problems.append(
            (
                (*at, "count"),
                f"at most {limit} attempts can happen (1 + max_retry_attempts={retries}), got {count}",
            )
        )
    elif count is not None and count > 1:
        failing = count - 1
        if not any(
            fault.targets_attempt(failing) and fails_invocation(scenario, fault)
            for fault in scenario.faults_for(function)
        ):
            problems.append(
                (
                    (*at, "count"),
                    f"{count} attempts need attempt {failing} to fail, but no fault on {function} fails it"
                    + _reported_instead(scenario, function),
                )
            )
    if scenario.job is None and (expectation.invocations or count):
        problems.append(
            ((*at, "count" if count else "invocations"), f"no job runs, so {function} never runs")
        )
    problems += _unknown_files(scenario, (*at, "files"), expectation.files)
    if scenario.job and expectation.shard_size and expectation.shard_size > scenario.job.shard_size:
        problems.append(
            (
                (*at, "shard_size"),
                f"no shard holds {expectation.shard_size} files: "
                f"the job's shard_size is {scenario.job.shard_size}",
            )
        )
    return problems


def _dlq_problems(scenario: Scenario, at: Loc, expectation: DlqExpectation) -> Problems:
    problems: Problems = []
    expects_messages = bool(expectation.count or expectation.min_count)
    if expects_messages and not _can_exhaust_retries(scenario, expectation.function):
        key = "count" if expectation.count else "min_count"
        problems.append(
            (
                (*at, key),
                f"an event is dead-lettered only when its last attempt fails, "
                f"but no fault can fail the last attempt of the {expectation.function}"
                + (_reported_instead(scenario, expectation.function) or " (check the faults)"),
            )
        )
    if expectation.count == 0 and scenario.job is not None and expectation.function == DEAD_LETTERED_FUNCTION:
        total = [index for index in range(len(scenario.faults)) if _fails_every_invocation(scenario, index)]
        if total:
            problems.append(
                (
                    (*at, "count"),
                    f"faults[{total[0]}] fails every attempt of every {DEAD_LETTERED_FUNCTION} invocation, "
                    "so each one is dead-lettered",
                )
            )
    problems += _unknown_files(scenario, (*at, "files"), expectation.files)
    return problems


def _sns_problems(scenario: Scenario, at: Loc, expectation: SnsExpectation) -> Problems:
    problems: Problems = []
    runs = scenario.job.runs if scenario.job else 0
    if expectation.run is not None and expectation.run > runs:
        problems.append(((*at, "run"), f"run {expectation.run} never happens: the job runs {runs} time(s)"))
    expects_messages = bool(expectation.count or expectation.min_count)
    key = "count" if expectation.count else "min_count"
    if expects_messages and expectation.topic == "notifications" and scenario.job is None:
        problems.append(((*at, key), "no job runs, so nothing is published to notifications"))
    for function, topic in DEAD_LETTER_TOPICS.items():
        if expects_messages and expectation.topic == topic and not _can_exhaust_retries(scenario, function):  # type: ignore[arg-type]
            problems.append(
                ((*at, key), f"no fault can fail the {function}'s last attempt, so nothing reaches the {topic} topic")
            )
    return problems


def _reshard_problems(scenario: Scenario, at: Loc, expectation: ReshardExpectation) -> Problems:
    problems: Problems = []
    timeouts = [
        fault for fault in scenario.faults_for(DEAD_LETTERED_FUNCTION) if isinstance(fault, TimeoutFault)
    ]
    needs_timeout = [
        key
        for key, wanted in (
            ("reshards", bool(expectation.reshards)),
            ("shard_sizes_shrink", expectation.shard_sizes_shrink),
            ("quarantined", bool(expectation.quarantined)),
        )
        if wanted
    ]
    if needs_timeout and not timeouts:
        problems.append(
            (
                (*at, needs_timeout[0]),
                f"the error handler re-shards only shards that timed out, "
                f"but no fault on {DEAD_LETTERED_FUNCTION} has kind: timeout",
            )
        )
    problems += _unknown_files(scenario, (*at, "quarantined"), expectation.quarantined)
    # The walk of the pipeline says which files get quarantined when every timeout names its files and
    # draws no chance: a file that is loaded first, or that no timeout reaches, is a mistake in the file.
    if timeouts and all(fault.files for fault in timeouts):
        from harness.model.platform import MODEL
        from harness.model.walk import OPTIMISTIC, PESSIMISTIC, walk_runs

        # Whatever chance decides, a file is quarantined in the walk that draws as the wrapper does or in
        # the one where every draw fires. What happens does not depend on when: any platform timing will do.
        platform = MODEL
        quarantined = set()
        for pace in (OPTIMISTIC, PESSIMISTIC):
            for timing in walk_runs(scenario, platform, pace):
                quarantined |= timing.quarantined
        known = set(scenario.file_ids())
        for index, file_id in enumerate(expectation.quarantined or []):
            if file_id in known and file_id not in quarantined:
                problems.append(
                    (
                        (*at, "quarantined", index),
                        f"file {file_id!r} cannot be quarantined: the error handler quarantines "
                        f"{_files_text(sorted(quarantined))} (timed-out shards it may not split, "
                        "minus the files loaded before the timeout), as the pipeline's own re-shard "
                        "code in lambdas/common/pipeline_common decides; if that code is what is wrong, "
                        "this is the bug",
                    )
                )
    return problems


def _files_text(files: list[str]) -> str:
    return ", ".join(files) if files else "no file"


def _database_problems(scenario: Scenario, at: Loc, expectation: DatabaseExpectation) -> Problems:
    loaded = expectation.loaded_exactly_once
    where: Loc = (*at, "loaded_exactly_once")
    if loaded == "all_but_poison" and not scenario.poison_files():
        return [(where, "all_but_poison needs poison files, but no fault targets files with `files:`")]
    if scenario.job is None and loaded in ("all", "all_but_poison"):
        return [(where, "no job runs, so nothing is loaded: use `none`")]
    if scenario.job is None and isinstance(loaded, list):
        return [(where, "no job runs, so nothing is loaded: use `none`")]
    if isinstance(loaded, list):
        return _unknown_files(scenario, where, loaded)
    return []


# The one registry of kinds before deploy: what each expectation kind needs of the rest of the scenario.
# (`harness.expect.checks.CHECKS` is its counterpart at run time.)
VALIDATORS: dict[type, Callable[[Scenario, Loc, Any], Problems]] = {
    AttemptsExpectation: _attempts_problems,
    DlqExpectation: _dlq_problems,
    SnsExpectation: _sns_problems,
    AlarmExpectation: _alarm_problems,
    ReshardExpectation: _reshard_problems,
    DatabaseExpectation: _database_problems,
    ResultExpectation: _result_problems,
}
