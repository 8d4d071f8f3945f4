"""Runs one scenario on a real stack: deploy, run the job, evaluate every expectation, tear down."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from harness import faults as fault_injection
from harness.expect import Report, evaluate
from harness.expect.observations import Attempt, Message
from harness.observe import QueueTap
from harness.resources import Resources
from harness.scenario import Scenario
from harness.stack import FunctionConfig, PipelineStack, StackConfig, unique_prefix


@dataclass
class StackObservations:
    """What a scenario can see of its stack (harness.expect.Observations)."""

    stack: PipelineStack
    started_at: float = 0.0
    run_started_at: list[float] = field(default_factory=list)
    _seen: dict[str, list[Message]] = field(default_factory=dict)

    def attempts(self) -> list[Attempt]:
        logical = {self.stack.function_name(name): name for name in ("orchestrator", "worker", "error_handler")}
        with psycopg.connect(self.stack.database_url) as connection:
            rows = connection.execute(
                f'SELECT function, request_id, attempt, shard_id, file_ids, event, fault, outcome, started_at, '
                f'ended_at FROM "{self.stack.schema}"."{fault_injection.LEDGER_TABLE}" ORDER BY id').fetchall()
        return [Attempt(function=logical.get(r[0], r[0]), request_id=r[1], attempt=r[2], shard_id=r[3],
                        file_ids=list(r[4] or []), event=r[5], fault=r[6], outcome=r[7], started_at=r[8],
                        ended_at=r[9]) for r in rows]

    def messages(self, topic: str) -> list[Message]:
        tap: QueueTap = self.stack.taps[topic]
        seen = self._seen.setdefault(topic, [])
        for tapped in tap.poll(wait_s=0):
            seen.append(Message(topic=topic, subject=tapped.subject, body=tapped.message,
                                attributes={k: v for k in ("RequestID", "ErrorCode", "ErrorMessage")
                                            if (v := tapped.attribute(k)) is not None},
                                received_at=tapped.received_at))
        return list(seen)

    def alarm_name(self, alarm: str) -> str:
        return self.stack.alarm_names[alarm]

    def rows_per_file(self) -> dict[str, int]:
        return self.stack.db.rows_per_file()

    def duplicate_rows(self) -> int:
        return self.stack.db.duplicate_rows()

    def decisions(self) -> list[Any]:
        return self.stack.db.decisions()

    def quarantine(self) -> list[Any]:
        return self.stack.db.quarantine()


def stack_config(scenario: Scenario, prefix: str) -> StackConfig:
    settings = scenario.stack
    return StackConfig(
        prefix=prefix,
        functions={name: FunctionConfig(timeout_seconds=s.timeout_seconds, memory_mb=s.memory_mb,
                                        max_retry_attempts=s.max_retry_attempts)
                   for name in ("orchestrator", "worker", "error_handler") if (s := settings.function(name))},
        alarm_period_seconds=settings.alarm_period_seconds,
        max_shard_size=settings.max_shard_size,
        reshard_factor=settings.reshard_factor,
        max_reshard_depth=settings.max_reshard_depth,
        faults=list(scenario.faults),
    )


@dataclass
class ScenarioResult:
    scenario: Scenario
    report: Report | None
    seconds: float
    error: str | None = None
    deploy_seconds: float = 0.0
    # From the job's start (after deploy) to the verdict on the last expectation.
    verdict_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and self.report is not None and self.report.passed


def run_scenario(scenario: Scenario, resources: Resources, progress: Callable[[str], None] = lambda _: None,
                 keep_stack: bool = False) -> ScenarioResult:
    started = time.monotonic()
    stack = PipelineStack(resources.endpoint(), resources.database_url(),
                          stack_config(scenario, unique_prefix(scenario.name)))
    progress("deploying")
    stack.deploy()
    deployed = time.monotonic()
    try:
        observations = StackObservations(stack)
        observations.started_at = time.time()
        if scenario.job is not None:
            job = {"job_id": scenario.job_id(), "file_ids": scenario.file_ids(), "shard_size": scenario.job.shard_size}
            for run in range(scenario.job.runs):
                if run:
                    progress(f"waiting for run {run} to settle")
                    _wait_settled(scenario, observations)
                progress(f"running the job ({len(job['file_ids'])} files)" + (f", run {run + 1}" if run else ""))
                observations.run_started_at.append(time.time())
                answer = stack.run_job(job)
                if answer["function_error"]:
                    return ScenarioResult(scenario, None, time.monotonic() - started,
                                          error=f"the orchestrator failed: {json.dumps(answer['body'])[:1000]}")
        progress("checking expectations")
        report = evaluate(scenario, observations)
        done = time.monotonic()
        return ScenarioResult(scenario, report, done - started, deploy_seconds=deployed - started,
                              verdict_seconds=done - deployed)
    finally:
        if not keep_stack:
            stack.teardown()


def _wait_settled(scenario: Scenario, observations: StackObservations) -> None:
    from harness.expect import deadline_seconds, wait_until_settled

    timeout = max(deadline_seconds(scenario, e) for e in scenario.expect)
    wait_until_settled(scenario, observations, timeout=timeout)
