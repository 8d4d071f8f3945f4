"""One walk through what the pipeline does with a scenario's faults, at a chosen pace.

The walk follows each run of the job: the orchestrator, each shard's attempts with their retry delays,
the dead letter, the error handler, and the child shards of a timed-out shard, recursively (children run
side by side, so a level costs its slowest child). It records when things end, when the first error
happens, and which files end up quarantined; the floor, the deadlines and the validator read it.

- optimistic: work takes no time, a retry comes exactly after its delay, a seeded probabilistic fault
  fires exactly where its draw says;
- pessimistic: cold starts, late retries, every probabilistic fault fires.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from harness.scenario import Fault, FunctionName, Scenario
from harness.scenario.classes import fails_invocation

# The stack deploys LocalStack with LAMBDA_RETRY_BASE_DELAY=1: retry n comes n x this after failure n.
RETRY_BASE_DELAY_SECONDS = 1.0
# Retries wait in an SQS queue with DelaySeconds, so they land late; measured: about +0.5 s and +1 s.
RETRY_LATENESS_SECONDS = 1.0
# An attempt that neither times out nor hangs: a cold start (about 0.12 s here) plus the work, loaded.
ATTEMPT_SECONDS = 0.5
# From one function to the next: an async invoke's queue, or SNS delivering a dead letter.
HANDOFF_SECONDS = 1.0

# Fault kinds whose attempt fails after the function's work is done (rows committed, children invoked).
_AFTER_WORK = ("fail_after_commit",)
# Where a fault strikes the worker: in its file reader, so the files before a targeted one are loaded.
_STRIKES_PER_FILE = ("timeout", "exception", "out_of_memory", "crash")


@dataclass
class Timing:
    """Runs of the job, walked through; times are seconds from the first run's start."""

    done: float = 0.0
    """When the last effect of one run happens (the last attempt ends, the last decision is taken)."""
    first_error: float | None = None
    """When the first attempt fails: what the Errors metric of the job_failed alarm sees first."""
    attempts: dict[str, int] = field(default_factory=dict)
    """Attempts per function."""
    quarantined: set[str] = field(default_factory=set)
    """Files the error handler quarantines (a timed-out shard it may not split, minus its loaded files)."""
    loaded: set[str] = field(default_factory=set)
    """Files whose rows get loaded."""


def simulate(scenario: Scenario, *, pessimistic: bool, run: int = 1) -> Timing:
    """Walk one run of the scenario's job (faults armed for that run); an empty Timing when no job runs."""
    return _Walk(scenario, pessimistic, run).run()


def slowest_run(scenario: Scenario, *, pessimistic: bool) -> Timing:
    """The walk of the run that takes longest (faults can be armed for some runs only)."""
    runs = scenario.job.runs if scenario.job else 1
    walks = [simulate(scenario, pessimistic=pessimistic, run=run) for run in range(1, runs + 1)]
    return max(walks, key=lambda timing: timing.done)


def first_error_run(scenario: Scenario, *, pessimistic: bool) -> tuple[int, float] | None:
    """(run, seconds into that run) of the first failing attempt over all runs; None when none fails."""
    runs = scenario.job.runs if scenario.job else 1
    for run in range(1, runs + 1):
        timing = simulate(scenario, pessimistic=pessimistic, run=run)
        if timing.first_error is not None:
            return run, timing.first_error
    return None


class _Walk:
    def __init__(self, scenario: Scenario, pessimistic: bool, run: int) -> None:
        self.scenario = scenario
        self.pessimistic = pessimistic
        self.run_number = run
        self.timing = Timing()

    def run(self) -> Timing:
        job = self.scenario.job
        if job is None:
            return self.timing
        files = self.scenario.file_ids()
        end, failed, _ = self._invocation("orchestrator", self.scenario.job_id(), files, 0.0)
        self.timing.done = end
        if failed is None or failed in _AFTER_WORK:
            start = end + self._handoff()
            for index, shard in enumerate(self.scenario.initial_shards()):
                # Root shard IDs as the orchestrator names them (pipeline_common.sharding.root_shard_id).
                self._shard(f"{index:04d}", shard, 0, start)
        return self.timing

    def _shard(self, shard_id: str, files: list[str], depth: int, start: float) -> None:
        end, fault, loaded = self._invocation("worker", shard_id, files, start)
        self.timing.loaded |= set(loaded)
        self._finish(end)
        if fault is None:
            return
        handled, handler_fault, _ = self._invocation("error_handler", shard_id, files, end + self._handoff())
        self._finish(handled)
        if handler_fault is not None and handler_fault not in _AFTER_WORK:
            return  # the error handler never decided: the dead letter went to its own DLQ
        if fault != "timeout":
            return  # reported for a person
        stack = self.scenario.stack
        if len(files) > 1 and depth < stack.max_reshard_depth:
            for index, child in enumerate(split_evenly(files, stack.reshard_factor)):
                self._shard(f"{shard_id}.{index}", child, depth + 1, handled + self._handoff())
        else:
            self.timing.quarantined |= {file_id for file_id in files if file_id not in self.timing.loaded}

    def _invocation(
        self, function: FunctionName, shard_id: str, files: list[str], start: float
    ) -> tuple[float, str | None, list[str]]:
        """(end, kind of the fault that failed the last attempt or None, files loaded by the worker)."""
        settings = self.scenario.settings(function)
        attempts = self.scenario.max_attempts(function)
        now, loaded = start, []
        for attempt in range(1, attempts + 1):
            self.timing.attempts[function] = self.timing.attempts.get(function, 0) + 1
            fault = self._fault(function, attempt, shard_id, files)
            if function == "worker":
                loaded = sorted(set(loaded) | set(_files_loaded(fault, files)))
            if fault is None or not fails_invocation(self.scenario, fault):
                # No fault, or one the worker reports by its error policy: the attempt ends normally.
                return now + self._work(), None, loaded
            now += self._fault_seconds(fault, settings.timeout_seconds)
            if self.timing.first_error is None or now < self.timing.first_error:
                self.timing.first_error = now
            if attempt < attempts:
                now += attempt * RETRY_BASE_DELAY_SECONDS + (RETRY_LATENESS_SECONDS if self.pessimistic else 0.0)
        return now, fault.kind, loaded

    def _fault(self, function: FunctionName, attempt: int, shard_id: str, files: list[str]) -> Fault | None:
        return striking_fault(self.scenario, function, attempt, self.run_number, shard_id, files,
                              every_draw_fires=self.pessimistic)

    def _fault_seconds(self, fault: Fault, timeout: int) -> float:
        if fault.kind == "timeout":
            return float(timeout)
        if fault.kind == "out_of_memory" and self.pessimistic:
            # Killed when it outgrows its memory; at the latest its timeout kills it.
            return float(timeout)
        return self._work()

    def _work(self) -> float:
        return ATTEMPT_SECONDS if self.pessimistic else 0.0

    def _handoff(self) -> float:
        return HANDOFF_SECONDS if self.pessimistic else 0.0

    def _finish(self, moment: float) -> None:
        self.timing.done = max(self.timing.done, moment)


def striking_fault(
    scenario: Scenario,
    function: FunctionName,
    attempt: int,
    run: int,
    shard_id: str,
    files: list[str],
    *,
    every_draw_fires: bool = False,
) -> Fault | None:
    """The first of the function's faults that strikes this attempt, as the fault wrapper picks it.

    The seeded draw is the wrapper's (harness/faults/lambda_wrapper.py), so a probabilistic fault fires
    where it will fire on the stack; `every_draw_fires` assumes the worst instead (for deadlines).
    """
    for fault in scenario.faults_for(function):
        if not fault.targets_attempt(attempt) or not fault.targets_run(run):
            continue
        if fault.files and not set(fault.files) & set(files):
            continue
        if fault.min_shard_size and len(files) < fault.min_shard_size:
            continue
        if fault.probability is not None and not every_draw_fires:
            draw = random.Random(f"{fault.seed}:{shard_id}:{','.join(files)}:{attempt}").random()
            if draw >= fault.probability:
                continue
        return fault
    return None


def _files_loaded(fault: Fault | None, files: list[str]) -> list[str]:
    """The files one worker attempt commits: all of them, unless a fault strikes at a file first."""
    if fault is None or fault.kind in _AFTER_WORK:
        return list(files)
    if fault.kind not in _STRIKES_PER_FILE:
        return []  # a misconfiguration fails the first insert
    if not fault.files:
        return []  # an untargeted fault strikes at the first file
    targeted = set(fault.files)
    loaded = []
    for file_id in files:
        if file_id in targeted:
            break
        loaded.append(file_id)
    return loaded


def split_evenly(files: list[str], parts: int) -> list[list[str]]:
    """As pipeline_common.sharding.split_evenly: consecutive near-equal parts, at most one per file."""
    parts = min(parts, len(files))
    base, extra = divmod(len(files), parts)
    chunks, start = [], 0
    for index in range(parts):
        end = start + base + (1 if index < extra else 0)
        chunks.append(files[start:end])
        start = end
    return chunks
