"""A scenario walked by the one model of the pipeline (`harness.model.walk`), read as what happens to each
worker invocation and each file: the facts the pure properties check.

The walk yields events in time order; this groups them per worker invocation (a shard event the worker is
invoked with, with its attempts, commits, report, dead letter, the error handler's decision and the error
handler's own dead letter), per run of the job. A walk that keeps re-sharding (a pipeline whose re-shard
never terminates) is stopped by a budget of worker invocations and reported as a failure, never a hang.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from harness import paths
from harness.model.platform import Platform
from harness.model.walk import (
    OPTIMISTIC,
    Answered,
    AttemptEvent,
    Committed,
    DeadLettered,
    Decided,
    Event,
    Reported,
    Walk,
)
from harness.scenario import Scenario

_reshard = paths.pipeline_common("reshard")
RESHARD, QUARANTINE, REPORT = _reshard.RESHARD, _reshard.QUARANTINE, _reshard.REPORT
PLATFORM = Platform("the pure properties (timing plays no part in them)")

# How a file ends, in one run of the job.
LOADED = "loaded"
QUARANTINED = "quarantined and reported"
REPORTED = "reported (the worker's JOB FAILED, needs_attention, or kept on the error handler's dead-letter topic)"
REJECTED = "reported (the orchestrator's failed answer: no worker saw it)"
LOST = "lost"


class NonTermination(AssertionError):
    """The pipeline's re-shard did not terminate within the walk's budget."""


@dataclass
class Invocation:
    """One worker invocation: a shard event and everything that followed from it (except its children)."""

    event: dict[str, Any]
    attempts: list[AttemptEvent] = field(default_factory=list)
    committed: list[Committed] = field(default_factory=list)
    reported: list[Reported] = field(default_factory=list)
    dead_letters: list[DeadLettered] = field(default_factory=list)
    decisions: list[Decided] = field(default_factory=list)
    kept: list[DeadLettered] = field(default_factory=list)
    """The error handler's own dead letters of this invocation's dead letter (it failed on every attempt)."""

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(self.event["file_ids"])

    @property
    def depth(self) -> int:
        return int(self.event.get("reshard_depth", 0))

    @property
    def terminal(self) -> bool:
        """Not re-sharded: the files of this shard end here."""
        return not any(decision.action == RESHARD for decision in self.decisions)

    def describe(self) -> str:
        return (f"shard {self.event['shard_id']} {list(self.files)} depth {self.depth}: {len(self.attempts)} "
                f"attempt(s), reported {len(self.reported)}, dead letters {len(self.dead_letters)}, "
                f"decisions {[d.action for d in self.decisions]}, kept {len(self.kept)}")

    def ending(self, file_id: str, loaded: set[str]) -> str:
        """How `file_id`, one of this terminal invocation's files, ends."""
        if file_id in loaded:
            return LOADED
        if self.reported:
            return REPORTED
        for decision in self.decisions:
            if decision.action == QUARANTINE and file_id in decision.quarantined:
                return QUARANTINED
            if decision.action == REPORT:
                return REPORTED
        if self.dead_letters and self.kept and not self.decisions:
            return REPORTED
        return LOST


@dataclass
class RunReading:
    number: int
    events: list[Event]
    invocations: list[Invocation]
    orchestrated: int
    """How many times the orchestrator did its work (invoked a worker per shard) in this run: once, or 0
    when it failed first, or more when Lambda retried it after its work (fail_after_commit, event invoke)."""
    answered: Answered | None
    loaded_after: set[str]
    """The files with rows once the run has settled (earlier runs' included)."""

    def holding(self, file_id: str, *, terminal: bool) -> list[Invocation]:
        return [inv for inv in self.invocations if file_id in inv.files and (inv.terminal or not terminal)]

    def roots(self, file_id: str) -> list[Invocation]:
        return [inv for inv in self.invocations if file_id in inv.files and "parent_shard_id" not in inv.event]

    def outcome(self, file_id: str) -> str:
        """How the file ends in this run: exactly one of LOADED, QUARANTINED, REPORTED, REJECTED, or LOST."""
        if file_id in self.loaded_after:
            return LOADED
        if self.orchestrated == 0:
            return REJECTED if self.answered is not None and self.answered.fault is not None else LOST
        endings = {inv.ending(file_id, self.loaded_after) for inv in self.holding(file_id, terminal=True)}
        if not endings or LOST in endings:
            return LOST
        return QUARANTINED if QUARANTINED in endings else REPORTED

    def describe(self) -> str:
        return "\n".join(f"  {inv.describe()}" for inv in self.invocations) or "  (no worker invocation)"


class GuardedWalk(Walk):
    """The model's walk with a budget of worker invocations: a re-shard that never terminates fails."""

    def __init__(self, scenario: Scenario, budget: int) -> None:
        super().__init__(scenario, PLATFORM, OPTIMISTIC)
        self.budget = budget
        self.shards_walked = 0

    def _shard(self, shard: Any, start: float) -> None:
        self.shards_walked += 1
        if self.shards_walked > self.budget:
            raise NonTermination(f"the walk invoked the worker {self.shards_walked} times for "
                                 f"{len(self.scenario.file_ids())} files (budget {self.budget}): the pipeline's "
                                 f"re-shard does not terminate (now at {shard.shard_id}, depth {shard.reshard_depth})")
        super()._shard(shard, start)


# The guard hooks the walk's per-shard step; if that step is renamed, fail here rather than run unguarded.
assert callable(getattr(Walk, "_shard", None)), "harness.model.walk.Walk._shard is gone: update GuardedWalk"


def walk(scenario: Scenario) -> tuple[GuardedWalk, list[RunReading]]:
    """Every run of the scenario's job walked in turn (loaded files carry over), each read per invocation."""
    assert scenario.job is not None
    budget = 50 * (len(scenario.file_ids()) + 1) * scenario.job.runs
    walker = GuardedWalk(scenario, budget)
    readings = []
    for number in range(1, scenario.job.runs + 1):
        events = walker.run(number, 0.0)
        readings.append(read_run(number, events, set(walker.loaded)))
    return walker, readings


def read_run(number: int, events: list[Event], loaded_after: set[str]) -> RunReading:
    by_event: dict[int, Invocation] = {}
    invocations: list[Invocation] = []
    letters: list[tuple[DeadLettered, Invocation]] = []
    orchestrated = 0
    answered = None

    def of(event: dict[str, Any]) -> Invocation:
        # The walk hands the same event object to every attempt, commit, report, dead letter and decision
        # of one invocation; a re-run or an orchestrator retry makes a new one with equal contents.
        if id(event) not in by_event:
            by_event[id(event)] = Invocation(event)
            invocations.append(by_event[id(event)])
        return by_event[id(event)]

    for event in events:
        if isinstance(event, AttemptEvent) and event.function == "worker":
            of(event.payload).attempts.append(event)
        elif isinstance(event, AttemptEvent) and event.function == "orchestrator":
            if event.worked:
                orchestrated += 1
        elif isinstance(event, Committed):
            of(event.shard).committed.append(event)
        elif isinstance(event, Reported):
            of(event.shard).reported.append(event)
        elif isinstance(event, DeadLettered) and event.function == "worker":
            of(event.payload).dead_letters.append(event)
            letters.append((event, of(event.payload)))
        elif isinstance(event, DeadLettered):
            # The error handler's dead letter holds the SNS records it was handed: the worker's dead letter,
            # the latest one with that event still without its own.
            shard = json.loads(event.payload["Records"][0]["Sns"]["Message"])
            owner = next((inv for letter, inv in reversed(letters) if letter.payload == shard and not inv.kept), None)
            assert owner is not None, f"the error handler dead-lettered {shard}, which no worker dead-lettered"
            owner.kept.append(event)
        elif isinstance(event, Decided):
            of(event.shard).decisions.append(event)
        elif isinstance(event, Answered):
            answered = event
    return RunReading(number, events, invocations, orchestrated, answered, loaded_after)
