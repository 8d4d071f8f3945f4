"""Hypothesis strategies for scenarios of the seed pipeline: jobs, stack settings, fault plans, whole scenarios.

Property-based tests of the pipeline's failure paths draw what a scenario file would say, valid by
construction: every draw passes the scenario model's own checks (`harness.scenario`, the loader's path
for YAML files), so a property never has to filter out impossible scenarios. Draws are small and fast on a
real stack too: a few files, a worker timeout of 1-2 s, no alarms.

- `file_ids()`: lists of distinct, valid file IDs.
- `jobs()`: a `Job` (its file IDs, shard size, runs): what the orchestrator is given.
- `stack_settings()`: a `StackSettings` (worker timeout, retry attempts, re-shard factor and depth, the
  worker's error policy).
- `fault_plans(job, stack)`: a list of `Fault`s for that job and stack: which files are poison, which kind
  of failure (timeout, exception, bad_table, bad_field, out_of_memory, crash, ...), on which attempts and
  runs, with which probability and seed.
- `scenarios()`: a whole `Scenario`; `scenario_documents()` the same as the mapping a scenario file holds
  (dump it with `yaml.safe_dump` to get a file `harness run` takes).
- `predicted_expectations(scenario)`: the expectations the model of the pipeline (`harness.model.walk`)
  predicts for a scenario: which files end up loaded, which quarantined. `scenarios()` uses it by default.
- `predicted_notifications(scenario)`: what the model predicts on the notifications topic: how many JOB
  SUCCEEDED (and the files and rows they say were inserted), how many JOB FAILED, and how many of those
  name each file that is not loaded. `live_predictions` is both lists together (`expect=live_predictions`).
- `with_expectations(document, expect)`: a drawn document changed after the draw (say, a fault added),
  with its expectations derived again; `scenario_document(scenario)`: a `Scenario` back as that mapping.
  `harness.reproduce` writes either as a scenario file that `harness run` replays.

Example, a property of your own, on the model of the pipeline::

    from hypothesis import given

    from harness.model.platform import Platform
    from harness.model.walk import OPTIMISTIC, walk_runs
    from harness.strategies import jobs, scenarios, stack_settings

    @given(scenarios(job=jobs(max_files=6, runs=(1, 1)), stack=stack_settings(reshard_depths=(0, 2)),
                     functions=["worker"], kinds=["timeout", "exception", "bad_table"]))
    def test_a_quarantined_file_is_never_loaded(scenario):
        [run] = walk_runs(scenario, Platform("my property"), OPTIMISTIC)
        assert not run.loaded & run.quarantined

This repository's own properties are in `tests/properties/`; its `soak` profile
(`pytest tests/properties --hypothesis-profile=soak`) draws many more examples.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Collection, Sequence
from typing import Any

from hypothesis import reject
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from pydantic import TypeAdapter

from harness.format.catalog import (
    ATTEMPTS_LIMIT,
    DATABASE_FUNCTIONS,
    DEFAULT_MAX_WAIT_SECONDS,
    MAX_RETRY_ATTEMPTS_LIMIT,
    RUNS_LIMIT,
)
from harness.format.faults import KINDS
from harness.scenario import FAULT_KINDS, FUNCTIONS, Fault, Job, Scenario, ScenarioError, StackSettings, load_document

__all__ = [
    "DEPLOYMENT_KINDS",
    "EXCEPTION_TYPES",
    "TARGETING",
    "file_ids",
    "jobs",
    "stack_settings",
    "fault_plans",
    "scenario_documents",
    "scenarios",
    "predicted_expectations",
    "predicted_notifications",
    "live_predictions",
    "with_expectations",
    "scenario_document",
]

DEPLOYMENT_KINDS = ("import_error", "missing_handler")
"""Fault kinds that strike every invocation: they take no `files`, `attempts`, `min_shard_size` or chance."""
EXCEPTION_TYPES = ("RuntimeError", "ValueError", "KeyError", "ConnectionError", "TimeoutError")
"""Exception types a drawn `exception` fault raises: programmatic ones, and transient ones (connection, timeout)."""
TARGETING = ("files", "attempts", "runs", "min_shard_size", "probability")
"""The filters a drawn fault may be narrowed by (see `fault_plans`)."""
_DATABASE_KINDS = ("bad_table", "bad_field", "db_unreachable")
_FIRST = string.ascii_letters + string.digits
_REST = _FIRST + "._-"
_FAULT: TypeAdapter[Any] = TypeAdapter(Fault)
_MESSAGE = "injected by a property"
# Any placeholder expectation that is valid whenever a job runs: the scenario is validated once with it so
# that the real expectations can be derived from the validated scenario.
_PLACEHOLDER = {"database": {"loaded_exactly_once": "none"}}


def _range(name: str, bounds: tuple[int, int], low: int, high: int) -> tuple[int, int]:
    first, last = bounds
    if not low <= first <= last <= high:
        raise InvalidArgument(f"{name}={bounds!r}: need {low} <= min <= max <= {high}")
    return first, last


def file_ids(*, min_size: int = 1, max_size: int = 8) -> st.SearchStrategy[list[str]]:
    """Lists of `min_size` to `max_size` distinct file IDs, each valid in a scenario file (a letter or digit,
    then letters, digits, `.`, `_`, `-`; at most 8 characters), in the order a job lists them.

    Example: `@given(file_ids(max_size=3))` draws lists like `["0"]`, `["a", "B._"]`, `["x-1", "f", "Q9"]`.
    """
    _range("(min_size, max_size)", (min_size, max_size), 1, 10_000)
    one = st.tuples(st.sampled_from(_FIRST), st.text(_REST, max_size=7)).map("".join)
    return st.lists(one, min_size=min_size, max_size=max_size, unique=True)


def jobs(
    *,
    min_files: int = 1,
    max_files: int = 8,
    min_shard_size: int = 1,
    max_shard_size: int | None = None,
    runs: tuple[int, int] = (1, 2),
    invocations: Sequence[str] = ("sync",),
) -> st.SearchStrategy[Job]:
    """A scenario's `job`: `min_files`..`max_files` files, either generated (`files: N`, IDs f-0000, f-0001,
    ...) or listed (`file_ids:`, drawn by `file_ids()`); a shard size from `min_shard_size` to the number of
    files (at most `max_shard_size`); `runs` (min, max) submissions of the same job; the orchestrator
    invoked as one of `invocations` (`sync`, `event`).

    Example: `@given(jobs(max_files=4))` gives `Job(files=3, shard_size=2, runs=1)`; `job.ids()` lists the
    IDs, `job.shard_size` the shard size (what `pipeline_common.sharding.shards_for_job` takes).
    """
    _range("(min_files, max_files)", (min_files, max_files), 1, 10_000)
    first_run, last_run = _range("runs", runs, 1, RUNS_LIMIT)
    if not invocations or set(invocations) - {"sync", "event"}:
        raise InvalidArgument(f"invocations={invocations!r}: choose from 'sync' and 'event'")
    if min_shard_size < 1 or (max_shard_size is not None and max_shard_size < min_shard_size):
        raise InvalidArgument(f"need 1 <= min_shard_size <= max_shard_size, got {min_shard_size}, {max_shard_size}")

    @st.composite
    def draw_job(draw: st.DrawFn) -> Job:
        document: dict[str, Any]
        if draw(st.booleans()):
            count = draw(st.integers(min_files, max_files))
            document = {"files": count}
        else:
            listed = draw(file_ids(min_size=min_files, max_size=max_files))
            count, document = len(listed), {"file_ids": listed}
        largest = max(count, min_shard_size)
        largest = largest if max_shard_size is None else min(largest, max_shard_size)
        document["shard_size"] = draw(st.integers(min_shard_size, largest))
        document["runs"] = draw(st.integers(first_run, last_run))
        invocation = draw(st.sampled_from(tuple(invocations)))
        if invocation != "sync":
            document["invocation"] = invocation
        return Job.model_validate(document)

    return draw_job()


def stack_settings(
    *,
    worker_timeouts: tuple[int, int] = (60, 900),
    retry_attempts: tuple[int, int] = (0, MAX_RETRY_ATTEMPTS_LIMIT),
    reshard_factors: tuple[int, int] = (2, 3),
    reshard_depths: tuple[int, int] = (0, 3),
    policies: bool = True,
) -> st.SearchStrategy[StackSettings]:
    """A scenario's `stack`: the worker's timeout in seconds (`worker_timeouts`, min and max), each
    function's MaximumRetryAttempts (`retry_attempts`), the error handler's `reshard_factor` and
    `max_reshard_depth`, and, with `policies`, the worker's error policy (`report` or `raise` per failure
    class; without, the seed design's). The orchestrator and error handler keep the template's Timeouts.

    Example: `@given(stack_settings(reshard_depths=(0, 1)))`; then `stack.worker.max_attempts`,
    `stack.reshard_factor`, `stack.max_reshard_depth`, `stack.worker.on_error.action("logical")`.
    """
    _range("worker_timeouts", worker_timeouts, 1, 900)
    _range("retry_attempts", retry_attempts, 0, MAX_RETRY_ATTEMPTS_LIMIT)
    _range("reshard_factors", reshard_factors, 2, 1_000)
    _range("reshard_depths", reshard_depths, 0, 1_000)
    action = st.sampled_from(("report", "raise"))
    retries = st.integers(*retry_attempts)

    @st.composite
    def draw_stack(draw: st.DrawFn) -> StackSettings:
        worker: dict[str, Any] = {
            "timeout_seconds": draw(st.integers(*worker_timeouts)),
            "max_retry_attempts": draw(retries),
        }
        if policies:
            worker["on_error"] = {name: draw(action) for name in ("logical", "programmatic", "transient")}
        document = {
            "orchestrator": {"max_retry_attempts": draw(retries)},
            "worker": worker,
            "error_handler": {"max_retry_attempts": draw(retries)},
            "reshard_factor": draw(st.integers(*reshard_factors)),
            "max_reshard_depth": draw(st.integers(*reshard_depths)),
        }
        return StackSettings.model_validate(document)

    return draw_stack()


def _max_attempts(job: Job, stack: StackSettings, function: str) -> int:
    # As Scenario.max_attempts: Lambda never retries the synchronous invoke of the orchestrator.
    if function == "orchestrator" and job.invocation == "sync":
        return 1
    return stack.function(function).max_attempts  # type: ignore[arg-type]


def _can_strike(function: str, kind: str) -> bool:
    """Whether the scenario format lets `kind` strike `function`: a database fault only where there is a
    database, a wrong table or field name only where the function has such a setting (the fault table's
    `overrides`)."""
    if kind in _DATABASE_KINDS and function not in DATABASE_FUNCTIONS:
        return False
    overrides = KINDS[kind].overrides
    return overrides is None or function in overrides


def _fails(kind: str, function: str, stack: StackSettings, exception: str = "RuntimeError",
           seconds: float = 0.0) -> bool:
    """Whether an attempt with this fault fails at the Lambda level, so that the next attempt happens (the
    worker reports the failure classes its policy reports; a delay fails only when it reaches the Timeout)."""
    row = KINDS[kind]
    if row.lasts == "delay":
        return seconds >= float(stack.function(function).timeout_seconds or 0)  # type: ignore[arg-type]
    failure_class = "transient" if kind == "exception" and exception in ("ConnectionError", "TimeoutError") \
        else row.failure_class
    return failure_class == "platform" or function != "worker" or stack.worker.on_error.action(failure_class) == "raise"


def _kinds_by_function(functions: Collection[str], kinds: Collection[str] | None) -> dict[str, tuple[str, ...]]:
    unknown = sorted(set(functions) - set(FUNCTIONS)) + sorted(set(kinds or ()) - set(FAULT_KINDS))
    if unknown:
        raise InvalidArgument(f"unknown function or fault kind: {', '.join(unknown)}")
    chosen = [kind for kind in FAULT_KINDS if kinds is None or kind in kinds]
    allowed = {
        function: tuple(kind for kind in chosen if _can_strike(function, kind)) for function in FUNCTIONS
        if function in functions
    }
    allowed = {function: options for function, options in allowed.items() if options}
    if not allowed:
        raise InvalidArgument(f"no fault kind of {sorted(kinds or ())} can strike {sorted(functions)}")
    return allowed


def _some(values: Sequence[Any], most: int) -> st.SearchStrategy[list[Any] | None]:
    """None (no filter) or a non-empty list of distinct values, in their given order."""
    chosen = st.lists(st.sampled_from(tuple(values)), min_size=1, max_size=min(most, len(values)), unique=True)
    return st.none() | chosen.map(lambda picked: [value for value in values if value in picked])


@st.composite
def _kind_settings(draw: st.DrawFn, kind: str, function: str, stack: StackSettings) -> dict[str, Any]:
    """The settings only some kinds have: an exception's type, a delay, a crash's exit status."""
    if kind == "exception":
        return {"exception": {"type": draw(st.sampled_from(EXCEPTION_TYPES)), "message": _MESSAGE}}
    if KINDS[kind].lasts == "delay":
        # Below the Timeout (the work is done, later) or past it (a timeout).
        timeout = float(stack.function(function).timeout_seconds or 1)  # type: ignore[arg-type]
        return {"seconds": draw(st.sampled_from((1.0, timeout / 2, timeout * 2)))}
    if kind == "crash":
        return {"exit_status": draw(st.sampled_from((0, 1, 2)))}
    return {}


def fault_plans(
    job: Job,
    stack: StackSettings | None = None,
    *,
    functions: Collection[str] = ("worker", "error_handler"),
    kinds: Collection[str] | None = None,
    min_faults: int = 0,
    max_faults: int = 3,
    targeting: Collection[str] = TARGETING,
) -> st.SearchStrategy[list[Fault]]:
    """`min_faults`..`max_faults` faults (in order: the first that matches an attempt wins) that `job` on
    `stack` (default: the seed design's settings) can meet: on one of `functions`, of one of `kinds`
    (default: every kind a function can get; `bad_table`, `bad_field`, `db_unreachable` only on the
    functions with a database), each optionally narrowed, among the filters named in `targeting`, to
    poison `files` of the job, `attempts` that happen (up to 1 + max_retry_attempts), `runs` of the job, a
    `min_shard_size` up to the shard size, and a `probability` with its `seed`. Deployment errors
    (`import_error`, `missing_handler`) are narrowed by `runs` only, and win in their runs (they fail init).

    Example: `@given(st.data())`, then `faults = data.draw(fault_plans(job, stack, kinds=["timeout"]))`;
    `harness.faults.fault_plan(faults, "worker")` is the plan the in-Lambda wrapper would get. And
    `fault_plans(job, kinds=["timeout"], targeting=["files"], min_faults=1)` draws poison files (or none:
    every file) that time out on every attempt of every run.
    """
    stack = stack or StackSettings()
    allowed = _kinds_by_function(functions, kinds)
    if set(targeting) - set(TARGETING):
        raise InvalidArgument(f"targeting={sorted(targeting)!r}: choose from {', '.join(TARGETING)}")
    _range("(min_faults, max_faults)", (min_faults, max_faults), 0, 100)
    ids = job.ids()

    @st.composite
    def draw_fault(draw: st.DrawFn) -> Fault:
        function = draw(st.sampled_from(tuple(allowed)))
        kind = draw(st.sampled_from(allowed[function]))
        document: dict[str, Any] = {"function": function, "kind": kind}
        drawn: dict[str, Any] = {}
        if "runs" in targeting:
            drawn["runs"] = draw(_some(range(1, job.runs + 1), 2))
        if kind not in DEPLOYMENT_KINDS:
            attempts = range(1, min(_max_attempts(job, stack, function), ATTEMPTS_LIMIT) + 1)
            if "files" in targeting:
                drawn["files"] = draw(_some(ids, 3))
            if "attempts" in targeting:
                # An attempt happens only when the one before it fails: a fault that fails takes the first
                # attempts (1, or 1 and 2, ...), one that does not only the first.
                last = draw(st.integers(1, len(attempts))) if attempts else 1
                drawn["attempts"] = draw(st.none() | st.just(list(range(1, last + 1))))
            if "min_shard_size" in targeting:
                drawn["min_shard_size"] = draw(st.none() | st.integers(1, job.shard_size))
            if "probability" in targeting and draw(st.booleans()):
                drawn["probability"] = draw(st.integers(0, 20)) / 20
                drawn["seed"] = draw(st.integers(0, 1_000))
        document.update({key: value for key, value in drawn.items() if value is not None})
        document.update(draw(_kind_settings(kind, function, stack)))
        exception = document.get("exception", {}).get("type", "RuntimeError")
        if drawn.get("attempts") and not _fails(kind, function, stack, exception, document.get("seconds", 0.0)):
            document["attempts"] = [1]
        return _FAULT.validate_python(document)

    return st.lists(draw_fault(), min_size=min_faults, max_size=max_faults)


def predicted_expectations(scenario: Scenario) -> list[dict[str, Any]]:
    """What the model of the pipeline (`harness.model.walk`, at its optimistic pace, which draws each
    probabilistic fault as the in-Lambda wrapper does) predicts for `scenario`, as expectation mappings of
    the scenario format: `database` (the files loaded exactly once, every other one without rows) and
    `reshard` (exactly the files quarantined). A live run of the scenario checks the stack against the model.

    Example: `predicted_expectations(scenario)` ->
    `[{"database": {"loaded_exactly_once": ["f-0000", "f-0002"]}}, {"reshard": {"quarantined": ["f-0001"]}}]`.
    """
    from harness.model.platform import MODEL
    from harness.model.walk import OPTIMISTIC, walk_runs

    loaded: set[str] = set()
    quarantined: set[str] = set()
    for timing in walk_runs(scenario, MODEL, OPTIMISTIC):
        loaded |= timing.loaded
        quarantined |= timing.quarantined
    ids = scenario.file_ids()
    if loaded >= set(ids):
        files: str | list[str] = "all"
    elif not loaded:
        files = "none"
    else:
        files = [file_id for file_id in ids if file_id in loaded]
    return [
        {"database": {"loaded_exactly_once": files}},
        {"reshard": {"quarantined": [file_id for file_id in ids if file_id in quarantined]}},
    ]


def predicted_notifications(scenario: Scenario) -> list[dict[str, Any]]:
    """What the model of the pipeline (`harness.model.walk`, optimistic pace, as `predicted_expectations`)
    predicts on the notifications topic, as `sns` expectations of the scenario format:

    - JOB SUCCEEDED: one per worker invocation that loads its whole shard, and their totals of
      `files_inserted` and `rows_inserted` (rows by `harness.stack.database.expected_row_counts`): the files
      new in the tables when each committed. Files committed by an attempt that then failed are in the
      tables but in no JOB SUCCEEDED, and files already there count as present, not inserted;
    - JOB FAILED: one per error the worker reports and one per decision of the error handler that is not a
      re-shard (a quarantine, or a report);
    - for each file that does not get loaded: how many JOB FAILED name it in `file_ids` (a quarantined
      file in its quarantine report; any other in the report on its shard). With faults on the worker only,
      the model names each such file at least once (no file is lost: `tests/properties` checks the model);
      a file whose dead letter the error handler keeps on its own dead-letter topic, or a job the
      orchestrator refuses, is named by no JOB FAILED.

    With `predicted_expectations` (the files loaded exactly once, the files quarantined) this says of
    every file that it ends in exactly one way: loaded once, quarantined and reported, or reported; and
    that the statistics the workers publish add up to what the tables hold.

    Example: `[{"sns": {"topic": "notifications", "subject": "JOB SUCCEEDED", "count": 1, "totals":
    {"files_inserted": 1, "rows_inserted": 7}}}, {"sns": {..., "subject": "JOB FAILED", "count": 1}},
    {"sns": {..., "subject": "JOB FAILED", "field_patterns": {"file_ids": '"f-0001"'}, "count": 1}}]`.
    """
    from harness.model.content import expected_row_counts
    from harness.model.platform import MODEL
    from harness.model.walk import OPTIMISTIC, Committed, Walk

    ids = scenario.file_ids()
    if scenario.job is None:
        return []
    walk = Walk(scenario, MODEL, OPTIMISTIC)
    events = [event for run in range(1, scenario.job.runs + 1) for event in walk.run(run, 0.0)]
    inserted = [file_id for event in events if isinstance(event, Committed) and event.complete
                for file_id in event.new_file_ids]
    succeeded = sum(1 for event in events if isinstance(event, Committed) and event.complete)
    failed, named = _job_failed_reports(events, ids)
    job_succeeded: dict[str, Any] = {"topic": "notifications", "subject": "JOB SUCCEEDED", "count": succeeded}
    if succeeded:
        rows = expected_row_counts(inserted)
        job_succeeded["totals"] = {"files_inserted": len(inserted), "rows_inserted": sum(rows.values())}
    expectations: list[dict[str, Any]] = [
        {"sns": job_succeeded},
        {"sns": {"topic": "notifications", "subject": "JOB FAILED", "count": failed}},
    ]
    for file_id in ids:
        if file_id not in walk.loaded:
            # File IDs are letters, digits and `._-` (only `.` means something in a pattern); in the JSON text
            # of `file_ids` each is in quotes.
            pattern = '"' + file_id.replace(".", r"\.") + '"'
            expectations.append({"sns": {"topic": "notifications", "subject": "JOB FAILED",
                                         "field_patterns": {"file_ids": pattern}, "count": named[file_id]}})
    return expectations


def _job_failed_reports(events: list[Any], ids: list[str]) -> tuple[int, dict[str, int]]:
    """How many JOB FAILED the walk's events make, and how many of them name each file."""
    from harness.model.walk import QUARANTINE, RESHARD, Decided, Reported

    named: dict[str, int] = dict.fromkeys(ids, 0)
    failed = 0
    for event in events:
        if isinstance(event, Reported):
            files = list(event.shard.get("file_ids") or [])
        elif isinstance(event, Decided) and event.action != RESHARD:
            # A quarantine report names the files quarantined; any other report the shard's files.
            files = list(event.quarantined) if event.action == QUARANTINE else list(event.shard.get("file_ids") or [])
        else:
            continue
        failed += 1
        for file_id in files:
            named[file_id] = named.get(file_id, 0) + 1
    return failed, named


def live_predictions(scenario: Scenario) -> list[dict[str, Any]]:
    """Everything the model predicts that a run on the stack can check: `predicted_expectations` (files
    loaded exactly once, files quarantined) and `predicted_notifications` (JOB SUCCEEDED with their totals,
    JOB FAILED, the reports naming each file not loaded). Pass it as `expect=` to draw such scenarios."""
    return predicted_expectations(scenario) + predicted_notifications(scenario)


def _describe(job: Job, faults: list[Fault]) -> str:
    count = len(job.ids())
    text = f"Drawn by harness.strategies: {count} file(s) in shards of {job.shard_size}, {job.runs} run(s)"
    if not faults:
        return text + ", no fault."
    parts = []
    for fault in faults:
        targets = [f"{key} {value}" for key in ("files", "attempts", "runs", "min_shard_size", "probability")
                   if (value := getattr(fault, key)) is not None]
        parts.append(f"{fault.kind} on the {fault.function}" + (f" ({', '.join(targets)})" if targets else ""))
    return f"{text}; faults: {'; '.join(parts)}."


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json", exclude_defaults=True)


def _dump_fault(fault: Fault) -> dict[str, Any]:
    # `function` and `kind` first, as a person writes a fault.
    document = _dump(fault)
    return {"function": document.pop("function"), "kind": document.pop("kind"), **document}


def scenario_documents(
    *,
    job: st.SearchStrategy[Job] | None = None,
    stack: st.SearchStrategy[StackSettings] | None = None,
    functions: Collection[str] = ("worker", "error_handler"),
    kinds: Collection[str] | None = None,
    min_faults: int = 0,
    max_faults: int = 3,
    targeting: Collection[str] = TARGETING,
    expect: Callable[[Scenario], list[dict[str, Any]]] = predicted_expectations,
) -> st.SearchStrategy[dict[str, Any]]:
    """Whole scenarios as the mapping a scenario file holds (`name`, `description`, `stack`, `job`,
    `faults`, `expect`), each valid by construction. Parameters as for `scenarios()`.

    Example: `yaml.safe_dump(document, sort_keys=False)` is a file that `harness validate` accepts and
    `harness run` runs.
    """
    jobs_given, stacks = job, stack if stack is not None else stack_settings()

    @st.composite
    def draw_document(draw: st.DrawFn) -> dict[str, Any]:
        settings = draw(stacks)
        drawn = draw(jobs_given if jobs_given is not None else jobs(max_shard_size=settings.max_shard_size))
        if drawn.shard_size > settings.max_shard_size:
            raise InvalidArgument(f"the job's shard_size {drawn.shard_size} is over the stack's max_shard_size "
                                  f"{settings.max_shard_size}: the orchestrator would refuse the job")
        faults = draw(fault_plans(drawn, settings, functions=functions, kinds=kinds, min_faults=min_faults,
                                  max_faults=max_faults, targeting=targeting))
        document: dict[str, Any] = {
            "name": f"property-{draw(st.integers(0, 9_999)):04d}",
            "description": _describe(drawn, faults),
        }
        if stack_document := _dump(settings):
            document["stack"] = stack_document
        document["job"] = _dump(drawn)
        if faults:
            document["faults"] = [_dump_fault(fault) for fault in faults]
        try:
            sketch = checked({**document, "expect": [_PLACEHOLDER]})
        except ScenarioError:
            reject()  # a combination the scenario format refuses (a fault that can never strike, say)
        document["expect"] = expect(sketch)
        return document

    return draw_document()


def checked(document: dict[str, Any]) -> Scenario:
    """`document` validated as a scenario file is: its shape, then the validation pass; raises `ScenarioError`."""
    scenario = load_document(document, "<drawn>")
    assert isinstance(scenario, Scenario)
    return scenario


def with_expectations(
    document: dict[str, Any], expect: Callable[[Scenario], list[dict[str, Any]]] = predicted_expectations
) -> dict[str, Any]:
    """`document` (a scenario file's mapping, as `scenario_documents` draws it) with its `expect` derived
    again by `expect` from the document as it is now: for a draw changed afterwards (a fault added, a
    setting pinned), whose drawn expectations no longer fit. The document is validated as a file is.

    Example: `with_expectations({**document, "faults": [*document["faults"], extra]}, live_predictions)`.
    """
    changed = {key: value for key, value in document.items() if key != "expect"}
    sketch = checked({**changed, "expect": [_PLACEHOLDER]})
    changed["expect"] = expect(sketch)
    checked(changed)
    return changed


def scenario_document(scenario: Scenario) -> dict[str, Any]:
    """A `Scenario` as the mapping a scenario file holds (what `scenario_documents` draws): settings left at
    their defaults are left out, each expectation is a one-key mapping naming its kind.
    `Scenario.model_validate(scenario_document(s))` is equal to `s`.
    """
    document: dict[str, Any] = {"name": scenario.name, "description": scenario.description}
    if stack_document := _dump(scenario.stack):
        document["stack"] = stack_document
    if scenario.job is not None:
        document["job"] = _dump(scenario.job)
    if scenario.faults:
        document["faults"] = [_dump_fault(fault) for fault in scenario.faults]
    expectations = []
    for expectation in scenario.expect:
        settings = _dump(expectation)
        settings.pop("kind", None)
        expectations.append({expectation.kind: settings})
    document["expect"] = expectations
    if scenario.max_wait_seconds != DEFAULT_MAX_WAIT_SECONDS:
        document["max_wait_seconds"] = scenario.max_wait_seconds
    return document


def scenarios(
    *,
    job: st.SearchStrategy[Job] | None = None,
    stack: st.SearchStrategy[StackSettings] | None = None,
    functions: Collection[str] = ("worker", "error_handler"),
    kinds: Collection[str] | None = None,
    min_faults: int = 0,
    max_faults: int = 3,
    targeting: Collection[str] = TARGETING,
    expect: Callable[[Scenario], list[dict[str, Any]]] = predicted_expectations,
) -> st.SearchStrategy[Scenario]:
    """Whole `Scenario`s, validated by the scenario model as a scenario file is: a job drawn by `job`
    (default `jobs()`), stack settings drawn by `stack` (default `stack_settings()`), `min_faults` to
    `max_faults` faults on `functions` of `kinds`, narrowed by the filters in `targeting` (see
    `fault_plans`), and the expectations `expect(scenario)` returns, given the drawn scenario validated with
    a placeholder expectation (default: `predicted_expectations`, what the model of the pipeline predicts).

    Example::

        @given(scenarios(job=jobs(max_files=4), functions=["worker"], kinds=["timeout", "exception"]))
        def test_something(scenario): ...
    """
    documents = scenario_documents(job=job, stack=stack, functions=functions, kinds=kinds, min_faults=min_faults,
                                   max_faults=max_faults, targeting=targeting, expect=expect)
    return documents.map(checked)
