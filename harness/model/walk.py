"""The one model of the pipeline: what a scenario's job and faults make happen, and when, at a given pace.

A template of your own is walked too, more simply (`InvocationWalk`): the one invocation the scenario makes,
its attempts with the function's Timeout and Lambda's retry delays, and its dead letter.

The walk follows each run of the job: the orchestrator's attempts, the root shards it invokes, each
worker invocation's attempts with the platform's retry delays, the dead letter of an invocation whose last
attempt failed, the error handler's attempts and its decision, and the child shards of a re-shard,
recursively. What decides is the pipeline's own code (`pipeline_common.sharding` and `.reshard`, imported
from `lambdas/common`), the fault plan (`harness.faults.plan`) and the failure classes
(`harness.scenario.classes`); what it yields is a list of events with their times.

Three readers walk it at three paces:
- `OPTIMISTIC`: work takes no time and a retry comes exactly after its delay: the scenario's floor;
- `PESSIMISTIC`: cold starts, late retries and hand-offs, every probabilistic fault fires: deadlines;
- `SCRIPTED`: typical figures measured on the stack: the scripted stand-in of the unit tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness import paths
from harness.faults import plan as fault_plans
from harness.format.classes import fails_invocation
from harness.format.faults import Fault, fault_plan
from harness.wire import retry_in_time

from .platform import Platform

if TYPE_CHECKING:
    from harness.scenario import ScenarioDocument

Scenario = "ScenarioDocument"
FunctionName = str

_sharding = paths.pipeline_common("sharding")
_reshard = paths.pipeline_common("reshard")
_events = paths.pipeline_common("events")

RESHARD, QUARANTINE, REPORT = _reshard.RESHARD, _reshard.QUARANTINE, _reshard.REPORT
# The request ID in the platform's error messages the model writes (Lambda's are UUIDs).
# A re-shard that does not terminate (children as big as their parent, no depth limit) is the pipeline's
# bug, not a reason for the model to recurse forever: past this depth the walk stops and says so.
_DEPTH_GUARD = 64


@dataclass(frozen=True)
class Pace:
    """How long things take, in seconds."""

    name: str
    start_attempt: float
    """From an invoke (or a retry falling due) to the attempt's start: queue pick-up, cold start."""
    work: float
    """An attempt whose handler completes."""
    error: float
    """An attempt that fails by an exception, a crash or a deployment error."""
    out_of_memory: float | None
    """An attempt killed for its memory; None: as late as its timeout."""
    retry_lateness: float
    """Extra per retry number, on top of the platform's delay (measured: about +0.5 s, then +1 s)."""
    handoff: float
    """From one function to the next: an async invoke's queue, SNS delivering a dead letter."""
    every_draw_fires: bool
    """Assume that every probabilistic fault fires (the worst case) instead of drawing."""


OPTIMISTIC = Pace("optimistic", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, every_draw_fires=False)
PESSIMISTIC = Pace("pessimistic", start_attempt=0.0, work=0.5, error=0.5, out_of_memory=None,
                   retry_lateness=1.0, handoff=1.0, every_draw_fires=True)
SCRIPTED = Pace("scripted", start_attempt=0.1, work=0.1, error=0.05, out_of_memory=0.3,
                retry_lateness=0.1, handoff=0.1, every_draw_fires=False)


@dataclass(frozen=True)
class AttemptEvent:
    """One invocation attempt."""

    function: FunctionName
    request_id: str
    attempt: int
    start: float
    end: float
    fault: Fault | None
    outcome: str | None
    """'ok', 'error', or None when the runtime is killed before it can record an end."""
    fails: bool
    """Whether the attempt fails at the Lambda level (retried, dead-lettered at the last attempt)."""
    reported: bool
    """Whether the worker reports the attempt's error as JOB FAILED and ends normally instead."""
    run: int
    shard_id: str
    file_ids: tuple[str, ...]
    payload: dict[str, Any]
    """The event the function is invoked with."""

    @property
    def worked(self) -> bool:
        """Whether the handler's whole work got done: no fault, one after the work, or a delay that did not
        reach the Timeout."""
        fault = self.fault
        return fault is None or fault.row.strikes == "after_work" or (fault.row.lasts == "delay" and not self.fails)


@dataclass(frozen=True)
class Committed:
    """The worker commits files: all of a shard (then it publishes JOB SUCCEEDED) or those a fault spared."""

    at: float
    shard: dict[str, Any]
    file_ids: tuple[str, ...]
    new_file_ids: tuple[str, ...]
    """The files whose rows were not in the tables yet."""
    complete: bool


@dataclass(frozen=True)
class Reported:
    """The worker's one JOB FAILED for an error its policy reports."""

    at: float
    shard: dict[str, Any]
    fault: Fault


@dataclass(frozen=True)
class DeadLettered:
    """An invocation's last attempt failed: Lambda sends the event to the function's dead-letter topic."""

    at: float
    function: FunctionName
    payload: dict[str, Any]
    fault: Fault
    error_message: str


@dataclass(frozen=True)
class Decided:
    """The error handler's decision on a dead-lettered shard, taken once per dead letter."""

    at: float
    shard: dict[str, Any]
    fault: Fault
    error_message: str
    action: str
    reason: str
    children: tuple[dict[str, Any], ...]
    quarantined: tuple[str, ...]
    loaded: tuple[str, ...]


@dataclass(frozen=True)
class Answered:
    """The orchestrator's last attempt ended: what a synchronous caller gets back (its job or its error)."""

    at: float
    run: int
    fault: Fault | None
    shards: tuple[tuple[str, ...], ...]


Event = AttemptEvent | Committed | Reported | DeadLettered | Decided | Answered


@dataclass
class Timing:
    """One run of the job, walked through; times are seconds from that run's start."""

    done: float = 0.0
    """When the last effect of the run happens (the last attempt ends, the last decision is taken)."""
    first_error: float | None = None
    """When the first attempt fails: what the Errors metric of the job_failed alarm sees first."""
    attempts: dict[str, int] = field(default_factory=dict)
    """Attempts per function."""
    quarantined: set[str] = field(default_factory=set)
    """Files the error handler quarantines (a timed-out shard it may not split, minus its loaded files)."""
    loaded: set[str] = field(default_factory=set)
    """Files whose rows get loaded."""

    @classmethod
    def of(cls, events: list[Event], start: float) -> Timing:
        timing = cls()
        for event in events:
            moment = (event.end if isinstance(event, AttemptEvent) else event.at) - start
            timing.done = max(timing.done, moment)
            if isinstance(event, AttemptEvent):
                timing.attempts[event.function] = timing.attempts.get(event.function, 0) + 1
                if event.fails and (timing.first_error is None or moment < timing.first_error):
                    timing.first_error = moment
            elif isinstance(event, Committed):
                timing.loaded |= set(event.file_ids)
            elif isinstance(event, Decided):
                timing.quarantined |= set(event.quarantined)
        return timing


class Walk:
    """The pipeline walked through run after run of one scenario; state (loaded files) carries over."""

    def __init__(self, scenario: Scenario, platform: Platform, pace: Pace) -> None:
        self.scenario = scenario
        self.platform = platform
        self.pace = pace
        self.loaded: set[str] = set()
        self.requests = 0
        self._plans = {function: fault_plan(scenario.faults, function) for function in scenario.functions()}
        self._run = 1
        self._events: list[Event] = []

    def run(self, number: int = 1, start: float = 0.0) -> list[Event]:
        """The events of run `number` of the job (faults armed for that run), starting at `start`."""
        self._run, self._events = number, []
        job = self.scenario.job
        if job is None:
            return []
        files = tuple(self.scenario.file_ids())
        payload = {"job_id": self.scenario.job_id(), "file_ids": list(files), "shard_size": job.shard_size}
        shards = _sharding.shards_for_job(_events.Job(self.scenario.job_id(), files, job.shard_size))

        def invoke_workers(at: float) -> None:
            for shard in shards:
                self._shard(shard, at + self.pace.handoff)

        end, fault = self._invoke("orchestrator", payload, start, self.scenario.job_id(), files, invoke_workers)
        self._events.append(Answered(end, number, fault, tuple(shard.file_ids for shard in shards)))
        return self._events

    def strike(self, function: FunctionName, attempt: int, shard_id: str | None,
               files: tuple[str, ...] | list[str]) -> Fault | None:
        """The fault that strikes this attempt, picked by the fault plan as the in-Lambda wrapper picks it."""
        plan = self._plans[function]
        index = fault_plans.pick(plan, attempt, self._run, shard_id, list(files),
                                 every_draw_fires=self.pace.every_draw_fires)
        return None if index is None else self.scenario.faults_for(function)[index]

    def _shard(self, shard: Any, start: float) -> None:
        if shard.reshard_depth > _DEPTH_GUARD:
            raise RuntimeError(f"the pipeline re-shards {shard.shard_id} past depth {_DEPTH_GUARD}: "
                               "its re-shard does not terminate")
        event = shard.to_event()
        end, fault = self._invoke("worker", event, start, shard.shard_id, shard.file_ids,
                                  lambda at: self._commit(event, shard.file_ids, at, complete=True))
        if fault is None:
            return
        message = error_message(self.scenario, fault)
        letter = DeadLettered(end + self.pace.handoff, "worker", event, fault, message)
        self._events.append(letter)
        records = {"Records": [{"Sns": {"Message": _json(event)}}]}
        decided: list[bool] = []

        def decide(at: float) -> None:
            if not decided:  # a redelivered dead letter finds its decision taken (decisions keyed by message)
                decided.append(True)
                self._decide(shard, event, fault, message, at)

        handled, handler_fault = self._invoke("error_handler", records, letter.at + self.pace.handoff,
                                              shard.shard_id, shard.file_ids, decide)
        if handler_fault is not None:
            # The error handler's own dead letter: the SNS records it was handed.
            self._events.append(DeadLettered(handled + self.pace.handoff, "error_handler", records, handler_fault,
                                             error_message(self.scenario, handler_fault)))

    def _decide(self, shard: Any, event: dict[str, Any], fault: Fault, message: str, at: float) -> None:
        stack = self.scenario.stack
        decision = _reshard.decide(shard, message, factor=stack.reshard_factor, max_depth=stack.max_reshard_depth)
        loaded: list[str] = []
        quarantined: list[str] = []
        if decision.action == QUARANTINE:
            loaded = [file_id for file_id in shard.file_ids if file_id in self.loaded]
            decision = _reshard.account_for_loaded(decision, shard.file_ids, loaded)
            if decision.action == QUARANTINE:
                quarantined = [file_id for file_id in shard.file_ids if file_id not in self.loaded]
        self._events.append(Decided(at, event, fault, message, decision.action, decision.reason,
                                    tuple(child.to_event() for child in decision.children),
                                    tuple(quarantined), tuple(loaded)))
        for child in decision.children:
            self._shard(child, at + self.pace.handoff)

    def _invoke(self, function: FunctionName, payload: dict[str, Any], start: float, shard_id: str,
                files: tuple[str, ...], work: Callable[[float], None]) -> tuple[float, Fault | None]:
        """All attempts of one invocation: (end, the fault of a failed last attempt or None). `work(at)` runs
        whenever an attempt's handler completes: one without a fault, or one failing after its work."""
        self.requests += 1
        request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{function}/{self.requests}"))
        now, end, fault = start + self.pace.start_attempt, start, None
        attempts = self.scenario.max_attempts(function)
        for attempt in range(1, attempts + 1):
            fault = self.strike(function, attempt, shard_id, files)
            took, outcome = self._attempt(fault, self.scenario.timeout_of(function))
            # A delay past the Timeout is a timeout; any other fault fails by its class and the error policy.
            fails = fault is not None and (outcome is None or fails_invocation(self.scenario, fault))
            reported = fault is not None and not fails and fault.row.lasts != "delay"
            if reported:
                outcome = "ok"  # the worker reports it by its error policy and returns
            event = AttemptEvent(function, request_id, attempt, now, now + took, fault, outcome, fails, reported,
                                 self._run, shard_id, tuple(files), payload)
            self._events.append(event)
            end = now + took
            if function == "worker" and fault is not None and not event.worked:
                spared = fault_plans.files_committed(self._plans[function][self._index(function, fault)], files)
                if spared:
                    self._commit(payload, tuple(spared), now + self.pace.work, complete=False)
            if event.worked:
                work(end)
            if reported:
                assert fault is not None  # reported implies a fault
                self._events.append(Reported(end, payload, fault))
                return end, None
            if fault is None or not fails:
                return end, None
            # Lambda retries only while the event is young enough (MaximumEventAgeInSeconds), on the stack's clock.
            delay = self.platform.retry_delay(attempt)
            if not retry_in_time(end - start, delay, self.scenario.max_event_age(function)):
                break
            now = end + self.platform.retry_delay(attempt) + attempt * self.pace.retry_lateness
        return end, fault

    def _index(self, function: FunctionName, fault: Fault) -> int:
        return next(i for i, f in enumerate(self.scenario.faults_for(function)) if f is fault)

    def _attempt(self, fault: Fault | None, timeout: float) -> tuple[float, str | None]:
        return attempt_duration(self.pace, fault, timeout)

    def _commit(self, shard: dict[str, Any], files: tuple[str, ...], at: float, *, complete: bool) -> None:
        new = tuple(file_id for file_id in files if file_id not in self.loaded)
        self.loaded.update(new)
        self._events.append(Committed(at, shard, tuple(files), new, complete))


def attempt_duration(pace: Pace, fault: Fault | None, timeout: float) -> tuple[float, str | None]:
    """(how long an attempt takes at `pace`, the outcome it records) given the fault that strikes it, by the
    fault table's `lasts` (`harness.format.faults.KINDS`)."""
    if fault is None:
        return pace.work, "ok"
    lasts = fault.row.lasts
    if lasts == "delay":
        delay = float(fault.seconds)  # type: ignore[attr-defined]
        return (delay + pace.work, "ok") if delay + pace.work < timeout else (timeout, None)
    if lasts == "timeout":
        return timeout, None
    if lasts == "out_of_memory":
        return (timeout if pace.out_of_memory is None else pace.out_of_memory), None
    if lasts == "crashes":
        return pace.error, None  # the runtime is gone: no end reaches the ledger
    if lasts == "works":
        return pace.work, "error"
    return pace.error, "error"


def error_message(scenario: ScenarioDocument, fault: Fault) -> str:
    """The error message the platform or the function's code gives for an attempt with this fault."""
    return fault.error_message(scenario.timeout_of(fault.function), scenario.memory_of(fault.function))


def walk_runs(scenario: ScenarioDocument, platform: Platform, pace: Pace) -> list[Timing]:
    """Each run of the job walked in turn (state carries over, as loaded rows do), timed from its start; a
    template scenario's one invocation, as one run."""
    if not scenario.is_pipeline:
        return [Timing.of(InvocationWalk(scenario, platform, pace).run(), 0.0)]
    if scenario.job is None:  # type: ignore[attr-defined]
        return []
    walk = Walk(scenario, platform, pace)
    return [Timing.of(walk.run(number, 0.0), 0.0) for number in range(1, scenario.runs() + 1)]


class InvocationWalk(Walk):
    """A template of your own: the invocation the scenario makes, its attempts and its dead letter."""

    def run(self, number: int = 1, start: float = 0.0) -> list[Event]:
        self._run, self._events = number, []
        function = self.scenario.invoked()
        event = self.scenario.invoke.event  # type: ignore[attr-defined]
        if self.pace.every_draw_fires:
            return self._every_attempt_fails(function, {"event": event}, start)
        end, fault = self._invoke(function, {"event": event}, start, "", (), lambda at: None)
        if fault is not None and self.scenario.dead_letter_source(function) is not None:
            self._events.append(DeadLettered(end + self.pace.handoff, function, {"event": event}, fault,
                                             error_message(self.scenario, fault)))
        return self._events

    def _every_attempt_fails(self, function: str, payload: dict[str, Any], start: float) -> list[Event]:
        """The worst case: a template's own code may fail by itself, so every attempt fails, as late as its
        Timeout, and the event is dead-lettered (what deadlines must allow for)."""
        timeout = self.scenario.timeout_of(function)
        now = start + self.pace.start_attempt
        for attempt in range(1, self.scenario.max_attempts(function) + 1):
            self._events.append(AttemptEvent(function, "worst-case", attempt, now, now + timeout, None, None, True,
                                             False, self._run, "", (), payload))
            end = now + timeout
            now = end + self.platform.retry_delay(attempt) + attempt * self.pace.retry_lateness
        if self.scenario.dead_letter_source(function) is not None:
            self._events.append(DeadLettered(end + self.pace.handoff, function, payload, None, ""))  # type: ignore[arg-type]
        return self._events


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)
