"""Deadlines and floors, derived from the scenario's own timeouts, retry delays and alarm periods.

Both come from one walk through what the pipeline will do with the scenario's faults: the orchestrator,
each shard's attempts with their retry delays, the dead letter, the error handler, and the child shards
of a timed-out shard, recursively (children run side by side, so a level costs its slowest child).

- The *floor* walks it optimistically (work takes no time, a retry comes exactly after its delay, a
  seeded probabilistic fault fires exactly where its draw says): what the scenario cannot go below.
- A *deadline* walks it pessimistically (cold starts, late retries, every probabilistic fault fires) and
  adds slack: long enough for a healthy run, and no longer, since a failing test waits all of it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from harness.scenario import (
    ALARMS,
    AlarmExpectation,
    Expectation,
    Fault,
    FunctionName,
    Scenario,
    SnsExpectation,
)

# The stack deploys LocalStack with LAMBDA_RETRY_BASE_DELAY=1: retry n comes n x this after failure n.
RETRY_BASE_DELAY_SECONDS = 1.0
# Retries wait in an SQS queue with DelaySeconds, so they land late; measured: about +0.5 s and +1 s.
RETRY_LATENESS_SECONDS = 1.0
# An attempt that neither times out nor hangs: a cold start (about 0.12 s here) plus the work, loaded.
ATTEMPT_SECONDS = 0.5
# From one function to the next: an async invoke's queue, or SNS delivering a dead letter.
HANDOFF_SECONDS = 1.0
# No new observation for this long is one of the signs that the system has settled.
QUIET_SECONDS = 1.0
DEADLINE_SLACK_SECONDS = 3.0
DEADLINE_SLACK_FRACTION = 0.25
ALARM_SLACK_SECONDS = 5.0


@dataclass
class Timing:
    """One run of the job, walked through; times are seconds from the run's start."""

    done: float = 0.0
    """When the last effect happens (the last attempt ends, the last decision is taken)."""
    first_error: float | None = None
    """When the first attempt fails: what the Errors metric of the job_failed alarm sees first."""
    attempts: dict[str, int] = field(default_factory=dict)
    """Attempts per function."""


def simulate(scenario: Scenario, *, pessimistic: bool) -> Timing:
    """Walk one run of the scenario's job; an empty Timing when no job runs."""
    return _Walk(scenario, pessimistic).run()


def floor_seconds(scenario: Scenario) -> float:
    """The time the scenario's own delays, timeouts and alarm periods make unavoidable.

    Counted from the job's start, taking the alarms to be created just before it (a fresh stack), so
    that CloudWatch evaluates them at one, two, ... periods from then.
    """
    timing = simulate(scenario, pessimistic=False)
    runs = scenario.job.runs if scenario.job else 0
    candidates = [runs * timing.done]
    period = float(scenario.stack.alarm_period_seconds)
    for expectation in scenario.expect:
        if isinstance(expectation, AlarmExpectation):
            trigger = (timing.first_error or 0.0) if expectation.alarm == "job_failed" else 0.0
            first = max(1, math.ceil(trigger / period - 1e-9)) * period
            candidates.append(first + (len(expectation.transitions) - 1) * period)
        elif isinstance(expectation, SnsExpectation) and expectation.topic == "alarms":
            candidates.append(period)
    return max(candidates)


def deadline_seconds(scenario: Scenario, expectation: Expectation) -> float:
    """How long after the job's start the expectation may take to hold; `within_seconds` overrides."""
    if expectation.within_seconds is not None:
        return float(expectation.within_seconds)
    if isinstance(expectation, AlarmExpectation):
        return alarm_deadline_seconds(scenario, expectation.alarm, len(expectation.transitions))
    if isinstance(expectation, SnsExpectation) and expectation.topic == "alarms":
        return max(alarm_deadline_seconds(scenario, alarm, 1) for alarm in ALARMS)
    return pipeline_deadline_seconds(scenario)


def pipeline_deadline_seconds(scenario: Scenario) -> float:
    """Until every run's chain of attempts, dead letters and re-shards is over and has gone quiet."""
    timing = simulate(scenario, pessimistic=True)
    runs = scenario.job.runs if scenario.job else 0
    # A later run is submitted once the one before has settled: its quiet period and a hand-off.
    busy = runs * timing.done + max(0, runs - 1) * (QUIET_SECONDS + HANDOFF_SECONDS)
    return busy * (1 + DEADLINE_SLACK_FRACTION) + QUIET_SECONDS + DEADLINE_SLACK_SECONDS


def alarm_deadline_seconds(scenario: Scenario, alarm: str, transitions: int) -> float:
    """CloudWatch evaluates every period from the alarm's creation, which may be up to a period before or
    after the job's start: a state change is seen within two periods of its cause, one more per state."""
    period = float(scenario.stack.alarm_period_seconds)
    trigger = 0.0
    if alarm == "job_failed":
        trigger = simulate(scenario, pessimistic=True).first_error or 0.0
    return trigger + (transitions + 1) * period + ALARM_SLACK_SECONDS


class _Walk:
    def __init__(self, scenario: Scenario, pessimistic: bool) -> None:
        self.scenario = scenario
        self.pessimistic = pessimistic
        self.timing = Timing()

    def run(self) -> Timing:
        job = self.scenario.job
        if job is None:
            return self.timing
        end, failed = self._invocation("orchestrator", self.scenario.job_id(), self.scenario.file_ids(), 0.0)
        self.timing.done = end
        if failed is None:
            start = end + self._handoff()
            for index, files in enumerate(self.scenario.initial_shards()):
                # Root shard IDs as the orchestrator names them (pipeline_common.sharding.root_shard_id).
                self._shard(f"{index:04d}", files, 0, start)
        return self.timing

    def _shard(self, shard_id: str, files: list[str], depth: int, start: float) -> None:
        end, fault = self._invocation("worker", shard_id, files, start)
        self._finish(end)
        if fault is None:
            return
        handled, handler_fault = self._invocation("error_handler", shard_id, files, end + self._handoff())
        self._finish(handled)
        stack = self.scenario.stack
        if handler_fault is None and fault == "timeout" and len(files) > 1 and depth < stack.max_reshard_depth:
            for index, child in enumerate(split_evenly(files, stack.reshard_factor)):
                self._shard(f"{shard_id}.{index}", child, depth + 1, handled + self._handoff())

    def _invocation(
        self, function: FunctionName, shard_id: str, files: list[str], start: float
    ) -> tuple[float, str | None]:
        """(end, kind of the fault that failed the last attempt, or None when an attempt succeeded)."""
        settings = self.scenario.settings(function)
        attempts = settings.max_attempts
        if function == "orchestrator" and not self.pessimistic:
            # The harness invokes the orchestrator synchronously, which Lambda never retries; a deadline
            # still allows for retries, in case a runner invokes it asynchronously.
            attempts = 1
        now = start
        for attempt in range(1, attempts + 1):
            self.timing.attempts[function] = self.timing.attempts.get(function, 0) + 1
            fault = self._fault(function, attempt, shard_id, files)
            if fault is None:
                return now + self._work(), None
            now += self._fault_seconds(fault, settings.timeout_seconds)
            if self.timing.first_error is None or now < self.timing.first_error:
                self.timing.first_error = now
            if attempt < attempts:
                now += attempt * RETRY_BASE_DELAY_SECONDS + (RETRY_LATENESS_SECONDS if self.pessimistic else 0.0)
        return now, fault.kind

    def _fault(self, function: FunctionName, attempt: int, shard_id: str, files: list[str]) -> Fault | None:
        """The first of the function's faults that strikes this attempt, as the fault wrapper picks it."""
        for fault in self.scenario.faults_for(function):
            if not fault.targets_attempt(attempt):
                continue
            if fault.files and not set(fault.files) & set(files):
                continue
            if fault.min_shard_size and len(files) < fault.min_shard_size:
                continue
            if fault.probability is not None and not self._draw_fires(fault, attempt, shard_id, files):
                continue
            return fault
        return None

    def _draw_fires(self, fault: Fault, attempt: int, shard_id: str, files: list[str]) -> bool:
        if self.pessimistic:
            return True
        # The same seeded draw as harness/faults/lambda_wrapper.py, so the floor counts the retries the
        # seed really causes; if the two ever disagree only the floor is off, never a verdict.
        draw = random.Random(f"{fault.seed}:{shard_id}:{','.join(files)}:{attempt}").random()
        return draw < (fault.probability or 0.0)

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
