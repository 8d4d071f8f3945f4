"""A stateful model of the whole failure path, driving the pipeline's own decision code.

Hypothesis interleaves, in any order: jobs submitted (sharded by `pipeline_common.sharding.shards_for_job`,
the orchestrator's code), worker attempts of pending shards that succeed or fail (a timeout, an exception,
a logical error, a transient error, running out of memory; each strikes at a given file, so the files
before it are loaded), Lambda's retries up to the worker's max attempts, the dead letter after the last
failed attempt, the error handler's decisions (`pipeline_common.reshard.decide` and `account_for_loaded`,
the error handler's code) with re-sharding into children or quarantine, the error handler's own failures
(retried, then kept on its dead-letter topic), redelivered dead letters, and re-runs of the same job.

What the model itself stands for is the AWS and PostgreSQL part: the worker's error policy as the worker
applies it (`pipeline_common.failures.classify` and `load_policy`), UNIQUE keys (a file already loaded
inserts nothing), and decisions keyed by the dead letter's message ID (a redelivery finds its decision).

Invariants after every step:
- each file of each run is in exactly one of: a pending shard (an invocation or a dead letter not yet
  decided), loaded (rows in the database, inserted once), quarantined and reported, or reported (the
  worker's JOB FAILED, needs_attention, or kept on the error handler's dead-letter topic);
- no file is inserted as new twice (the model's UNIQUE keys; on a live stack, PostgreSQL's);
- no shard is deeper than max_reshard_depth;
- every decided dead letter got exactly one decision, acted on once, however often it was delivered.
And at each decision: children only for a timeout, at least two, each smaller than the parent, together
the parent's files in order, one level deeper; a quarantine only for a timeout, of at least one file, and
only of files not loaded.

Hypothesis prints a failure as the shortest sequence of steps it found, like `state.orchestrator(...)`,
`state.worker_attempt(outcome='timeout', ...)`, `state.error_handler(action='decides', ...)`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from pg8000.exceptions import DatabaseError

from harness import paths
from harness.scenario import StackSettings
from harness.strategies import jobs, stack_settings

sharding = paths.pipeline_common("sharding")
reshard = paths.pipeline_common("reshard")
events = paths.pipeline_common("events")
failures = paths.pipeline_common("failures")

MAX_JOBS = 3
REQUEST_ID = "00000000-0000-4000-8000-000000000000"
OUTCOMES = ("succeed", "timeout", "exception", "logical", "transient", "out_of_memory")
JOBS = jobs(max_files=6, runs=(1, 1))
# Timeouts are what the error handler re-shards: draw them as often as every other outcome together.
DRAWN_OUTCOMES = st.sampled_from(OUTCOMES) | st.just("timeout")

LOADED, QUARANTINED, REPORTED = "loaded", "quarantined", "reported"


@dataclass
class Run:
    job_id: str
    files: tuple[str, ...]
    outcomes: dict[str, list[str]] = field(default_factory=dict)
    """Per file, how it ended in this run (one entry once it has ended)."""


@dataclass
class Invocation:
    """A worker invocation still pending: Lambda has attempts of it left to make."""

    run: int
    shard: Any
    attempts: int = 0


@dataclass
class Letter:
    """A dead letter on the worker's dead-letter topic: the original event and its error message."""

    message_id: str
    run: int
    body: str
    error_message: str
    handler_attempts: int = 0
    files: tuple[str, ...] = ()
    depth: int = 0

    def __post_init__(self) -> None:
        event = json.loads(self.body)
        self.files, self.depth = tuple(event["file_ids"]), event.get("reshard_depth", 0)


def _worker_error(outcome: str) -> tuple[BaseException | None, str, bool]:
    """(the exception the worker's code sees or None, the error message, whether it strikes per file)."""
    if outcome == "timeout":
        return None, f"RequestId: {REQUEST_ID} Error: {reshard.TIMEOUT_MARKER} 1.00 seconds", True
    if outcome == "out_of_memory":
        return None, f"RequestId: {REQUEST_ID} Error: Runtime exited with error: signal: killed", True
    if outcome == "exception":
        return ValueError("bad row"), "bad row", True
    if outcome == "logical":  # a wrong table name: the first insert fails, nothing is committed
        error = DatabaseError({"S": "ERROR", "C": "42P01", "M": 'relation "stack.no_such_table" does not exist'})
        return error, 'relation "stack.no_such_table" does not exist', False
    assert outcome == "transient"  # the database refuses the connection: nothing is committed
    return ConnectionRefusedError("connection refused"), "connection refused", False


class PipelineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.stack = StackSettings()
        self.policy: dict[str, str] = dict(failures.DEFAULT_POLICY)
        self.jobs: list[tuple[str, tuple[str, ...], int]] = []
        self.runs: list[Run] = []
        self.pending: list[Invocation] = []
        self.letters: list[Letter] = []
        self.delivered: list[Letter] = []
        self.kept: list[Letter] = []
        self.inserted: Counter[str] = Counter()
        """UNIQUE keys: per file, how many times its rows were inserted as new (the database holds them once)."""
        self.decisions: dict[str, Any] = {}
        """The error handler's decisions table, keyed by the dead letter's SNS message ID."""
        self.acted: Counter[str] = Counter()
        self.redelivered: set[str] = set()
        self.messages = 0

    # The stack, drawn once per run of the machine.

    @initialize(stack=stack_settings(reshard_depths=(0, 2)))
    def configure(self, stack: StackSettings) -> None:
        self.stack = stack
        self.policy = failures.load_policy(stack.worker.on_error.as_env())

    # The orchestrator: a new job (up to MAX_JOBS), or a re-run of one. After the first few runs only once
    # everything has settled (as the harness re-runs a job), so that failures get followed through; always
    # then, so that the machine never gets stuck.

    @precondition(lambda self: len(self.runs) < 3 or not (self.pending or self.letters))
    @rule(data=st.data(), rerun=st.booleans())
    def orchestrator(self, data: st.DataObject, rerun: bool) -> None:
        if (not rerun or not self.jobs) and len(self.jobs) < MAX_JOBS:
            self._submit(data.draw(JOBS, label="new job"))
        else:
            self._start_run(data.draw(st.integers(0, len(self.jobs) - 1), label="re-run of job"))

    def _submit(self, job: Any) -> None:
        job_id = f"job-{len(self.jobs)}"
        # Distinct jobs hold distinct files: a file's UNIQUE key is its ID.
        self.jobs.append((job_id, tuple(f"{job_id}.{file_id}" for file_id in job.ids()), job.shard_size))
        self._start_run(len(self.jobs) - 1)

    def _start_run(self, index: int) -> None:
        job_id, files, shard_size = self.jobs[index]
        shards = sharding.shards_for_job(events.Job(job_id, files, shard_size))
        assert [file_id for shard in shards for file_id in shard.file_ids] == list(files)
        assert all(1 <= len(shard.file_ids) <= shard_size for shard in shards)
        self.runs.append(Run(job_id, files, {file_id: [] for file_id in files}))
        self.pending += [Invocation(len(self.runs) - 1, shard) for shard in shards]

    # The worker, and Lambda's retries and dead letter.

    @precondition(lambda self: self.pending)
    @rule(data=st.data(), outcome=DRAWN_OUTCOMES, strike=st.integers(0, 7))
    def worker_attempt(self, data: st.DataObject, outcome: str, strike: int) -> None:
        invocation = self.pending[data.draw(st.integers(0, len(self.pending) - 1), label="invocation")]
        invocation.attempts += 1
        files = invocation.shard.file_ids
        if outcome == "succeed":
            self._insert(files)
            self._end(invocation.run, files, LOADED)
            self.pending.remove(invocation)
            return
        error, message, per_file = _worker_error(outcome)
        self._insert(files[: strike % len(files)] if per_file else ())
        if error is not None and self.policy[failures.classify(error)] == failures.REPORT:
            self._end(invocation.run, files, REPORTED)  # one JOB FAILED; the invocation ends normally
            self.pending.remove(invocation)
        elif invocation.attempts >= self.stack.worker.max_attempts:
            self.pending.remove(invocation)
            self.messages += 1
            body = json.dumps(invocation.shard.to_event())
            self.letters.append(Letter(f"message-{self.messages}", invocation.run, body, message))
        # else: Lambda retries the event later, with the same request ID.

    def _insert(self, files: tuple[str, ...] | list[str]) -> None:
        for file_id in files:
            if not self.inserted[file_id]:  # INSERT ... ON CONFLICT DO NOTHING
                self.inserted[file_id] += 1

    def _end(self, run: int, files: tuple[str, ...], ending: str) -> None:
        for file_id in files:
            self.runs[run].outcomes[file_id].append(LOADED if self.inserted[file_id] else ending)

    # The error handler: it decides on a dead letter, or fails on it (Lambda retries it, then keeps it on the
    # error handler's own dead-letter topic), or SNS delivers a dead letter it already decided on again.

    @precondition(lambda self: self.letters or self._redeliverable())
    @rule(data=st.data(), action=st.sampled_from(("decides", "decides", "fails", "redelivered")))
    def error_handler(self, data: st.DataObject, action: str) -> None:
        redeliverable = self._redeliverable()
        if action == "redelivered" and redeliverable or not self.letters:
            letter = redeliverable[data.draw(st.integers(0, len(redeliverable) - 1), label="delivered letter")]
            self.redelivered.add(letter.message_id)
            before = self._snapshot()
            self._handle(letter)
            assert self._snapshot() == before, f"a redelivery of {letter.message_id} changed the state"
            return
        letter = self.letters[data.draw(st.integers(0, len(self.letters) - 1), label="dead letter")]
        if action != "fails":
            self.letters.remove(letter)
            self._handle(letter)
            self.delivered.append(letter)
            return
        # Its transaction rolls back (no decision is recorded); Lambda retries, then dead-letters the records.
        letter.handler_attempts += 1
        if letter.handler_attempts >= self.stack.error_handler.max_attempts:
            self.letters.remove(letter)
            self.kept.append(letter)
            self._end(letter.run, letter.files, REPORTED)

    def _redeliverable(self) -> list[Letter]:
        """Decided dead letters that SNS has not delivered again yet (once each is enough to prove the point)."""
        return [letter for letter in self.delivered if letter.message_id not in self.redelivered]

    def _handle(self, letter: Letter) -> None:
        if letter.message_id in self.decisions:
            return  # INSERT INTO decisions ... ON CONFLICT (message_id) DO NOTHING: a duplicate
        shard = events.parse_shard(json.loads(letter.body))
        stack = self.stack
        decision = reshard.decide(shard, letter.error_message, factor=stack.reshard_factor,
                                  max_depth=stack.max_reshard_depth)
        loaded = [file_id for file_id in shard.file_ids if self.inserted[file_id]]
        if decision.action == reshard.QUARANTINE:
            decision = reshard.account_for_loaded(decision, shard.file_ids, loaded)
        self.decisions[letter.message_id] = decision
        self.acted[letter.message_id] += 1
        if decision.action == reshard.RESHARD:
            self._check_children(shard, decision.children, letter.error_message)
            self.pending += [Invocation(letter.run, child) for child in decision.children]
        elif decision.action == reshard.QUARANTINE:
            assert reshard.is_timeout(letter.error_message)
            quarantined = [file_id for file_id in shard.file_ids if file_id not in loaded]
            assert quarantined, f"quarantined nothing of {shard}: the decision should have been a report"
            self._end(letter.run, shard.file_ids, QUARANTINED)
        else:
            self._end(letter.run, shard.file_ids, REPORTED)

    def _check_children(self, parent: Any, children: tuple[Any, ...], error_message: str) -> None:
        where = f"{parent.shard_id} {list(parent.file_ids)} -> {[list(child.file_ids) for child in children]}"
        assert reshard.is_timeout(error_message), f"re-sharded a non-timeout: {error_message}"
        assert len(children) >= 2, f"{where}: fewer than two children"
        assert all(0 < len(child.file_ids) < len(parent.file_ids) for child in children), (
            f"{where}: a child is not smaller than its parent")
        assert [file_id for child in children for file_id in child.file_ids] == list(parent.file_ids), (
            f"{where}: the children do not make up the parent")
        assert all(child.reshard_depth == parent.reshard_depth + 1 for child in children), (
            f"{where}: children at depths {[child.reshard_depth for child in children]}, parent at "
            f"{parent.reshard_depth}")
        assert all(child.parent_shard_id == parent.shard_id for child in children)

    def _snapshot(self) -> Any:
        return (
            [(inv.run, inv.shard, inv.attempts) for inv in self.pending],
            [(letter.message_id, letter.handler_attempts) for letter in self.letters],
            [{file_id: list(ends) for file_id, ends in run.outcomes.items()} for run in self.runs],
            dict(self.inserted), dict(self.decisions), dict(self.acted),
        )

    # Invariants.

    @invariant()
    def each_file_is_pending_or_has_ended_exactly_once(self) -> None:
        holders: Counter[tuple[int, str]] = Counter()
        for invocation in self.pending:
            holders.update((invocation.run, file_id) for file_id in invocation.shard.file_ids)
        for letter in self.letters:
            holders.update((letter.run, file_id) for file_id in letter.files)
        for index, run in enumerate(self.runs):
            for file_id in run.files:
                ends = run.outcomes[file_id]
                where = (f"run {index} of {run.job_id}: {file_id} is in {holders[(index, file_id)]} pending "
                         f"shard(s) and has ended {ends}")
                assert holders[(index, file_id)] + len(ends) == 1, where
                if ends == [LOADED]:
                    assert self.inserted[file_id] == 1, where

    @invariant()
    def no_file_is_inserted_twice(self) -> None:
        assert all(count <= 1 for count in self.inserted.values()), self.inserted

    @invariant()
    def reshard_depth_is_bounded(self) -> None:
        limit = self.stack.max_reshard_depth
        deepest = max([inv.shard.reshard_depth for inv in self.pending] +
                      [letter.depth for letter in self.letters], default=0)
        assert deepest <= limit, f"a shard at reshard depth {deepest}, over max_reshard_depth={limit}"

    @invariant()
    def every_dead_letter_gets_exactly_one_decision(self) -> None:
        decided = {letter.message_id for letter in self.delivered}
        assert set(self.decisions) == decided
        assert all(self.acted[message_id] == 1 for message_id in decided), self.acted
        assert not decided & {letter.message_id for letter in self.kept + self.letters}


PipelineMachine.TestCase.settings = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
TestPipeline = PipelineMachine.TestCase
