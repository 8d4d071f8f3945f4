"""A scripted stand-in for the seed pipeline on a stack: what it would let the harness observe.

`simulate_pipeline(scenario, observations)` scripts a `FakeObservations` with the attempts, messages,
decisions, rows and alarm transitions that the scenario's job and faults cause, following lambdas/ (the
orchestrator's shards, the worker's JOB SUCCEEDED / JOB FAILED bodies, the error handler's decisions)
and the platform facts in DESIGN.md (retry delays, a killed attempt leaving no end, alarm periods).

It lets the engine's verdicts and timing be tested on every shipped scenario without LocalStack. It is a
model: where it and the real stack disagree, the real stack is right and this file is to be fixed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.db import expected_row_counts
from harness.scenario import CrashFault, ExceptionFault, FailAfterCommitFault, Fault, FunctionName, Scenario
from harness.scenario.classes import fails_invocation, failure_class

from harness.expect.alarm_model import alarm_transitions
from .fakes import FakeObservations
from harness.expect.walk import RETRY_BASE_DELAY_SECONDS, split_evenly, striking_fault

# Faults the wrapper injects into the worker's file reader (harness.faults.INJECTION_POINTS), so they
# strike file by file; a wrong table or column name fails the first statement instead.
# The request ID the simulated platform messages carry (Lambda's are UUIDs).
_REQUEST = "00000000-0000-4000-8000-000000000000"
_STRIKES_INSIDE = ("timeout", "exception", "out_of_memory", "crash")


@dataclass
class Pace:
    """How long things take on the simulated stack, in seconds."""

    start_attempt: float = 0.1
    work: float = 0.1
    exception: float = 0.05
    out_of_memory: float = 0.3
    retry_lateness: float = 0.5
    """Extra per retry number, on top of n x the base delay (measured: +0.5 s, then +1 s)."""
    handoff: float = 0.1
    alarm_created_before_start: float = 0.5
    settle_between_runs: float = 1.5


@dataclass
class _State:
    loaded: set[str] = field(default_factory=set)
    requests: int = 0
    first_error: float | None = None
    first_invocation: float | None = None
    last_event: float = 0.0
    run: int = 1
    invocations: list[tuple[float, float]] = field(default_factory=list)
    """The orchestrator's Invocations metric: (time, value)."""
    errors: list[tuple[float, float]] = field(default_factory=list)
    """The worker's Errors metric: 1 per failed attempt, 0 per successful one (as the executor publishes)."""


def simulate_pipeline(scenario: Scenario, observations: FakeObservations, pace: Pace | None = None) -> float:
    """Script everything the scenario causes into `observations`; returns when the last event happens."""
    return _Pipeline(scenario, observations, pace or Pace()).run()


class _Pipeline:
    def __init__(self, scenario: Scenario, observations: FakeObservations, pace: Pace) -> None:
        self.scenario = scenario
        self.obs = observations
        self.pace = pace
        self.state = _State()
        self.job_id = scenario.job_id()

    def run(self) -> float:
        runs: list[float] = []
        job = self.scenario.job
        if job is not None:
            start = 0.0
            for run in range(1, job.runs + 1):
                if run > 1:
                    start = self.state.last_event + self.pace.settle_between_runs
                    if job.next_run_when is not None:
                        start = self._alarm_reaches(job.next_run_when.alarm, job.next_run_when.state, start)
                self.state.run = run
                runs.append(start)
                self._job(start)
        self.obs.runs = runs or [0.0]
        self._alarms(until=self.state.last_event + 60 * max(self._interval(a) for a in ("job_not_run", "job_failed")))
        return self.state.last_event

    def _job(self, start: float) -> None:
        event = {
            "job_id": self.job_id,
            "file_ids": self.scenario.file_ids(),
            "shard_size": self.scenario.job.shard_size,
        }
        shards = self.scenario.initial_shards()

        def invoke_workers(at: float) -> None:
            for index, files in enumerate(shards):
                shard = {"job_id": self.job_id, "shard_id": f"{index:04d}", "file_ids": files, "reshard_depth": 0}
                self._shard(shard, at + self.pace.handoff)

        end, failed = self._invoke("orchestrator", event, start, self.job_id, work=invoke_workers)
        if self.scenario.job.invocation == "event":
            self.obs.add_result(self.state.run, None, at=start, status=202)  # accepted; Lambda runs it later
        elif failed is None:
            body: Any = {"job_id": self.job_id, "files": len(event["file_ids"]), "shard_count": len(shards),
                         "shard_sizes": [len(files) for files in shards]}
            self.obs.add_result(self.state.run, body, at=end)
        else:
            error_type = failed.exception.type if isinstance(failed, ExceptionFault | FailAfterCommitFault) else "Error"
            self.obs.add_result(self.state.run, {"errorType": error_type, "errorMessage": self._error_message(failed)},
                                at=end, function_error="Unhandled")

    def _shard(self, event: dict[str, Any], start: float) -> None:
        end, fault = self._invoke("worker", event, start, event["shard_id"], work=lambda at: self._loaded(event, at))
        if fault is None:
            return
        message = self._error_message(fault)
        self.obs.add_dead_letter(event, at=end + self.pace.handoff, error_message=message)
        letter = {"Records": [{"Sns": {"Message": json.dumps(event, sort_keys=True)}}]}
        decided: list[bool] = []

        def decide(at: float) -> None:
            if not decided:  # a redelivered dead letter finds its decision taken (decisions keyed by message)
                decided.append(True)
                self._decide(event, fault, message, at)

        handled, handler_fault = self._invoke(
            "error_handler",
            letter,
            end + 2 * self.pace.handoff,
            event["shard_id"],
            files=event["file_ids"],
            work=decide,
        )
        if handler_fault is not None:
            # Its own dead letter: the event it was handed (the SNS records), kept on error_handler_dlq.
            self.obs.add_message(
                "error_handler_dlq",
                letter,
                at=handled + self.pace.handoff,
                attributes={"ErrorCode": "200", "ErrorMessage": self._error_message(handler_fault)},
            )
            self._note(handled + self.pace.handoff)

    def _decide(self, event: dict[str, Any], fault: Fault, message: str, at: float) -> None:
        files, depth, stack = event["file_ids"], event.get("reshard_depth", 0), self.scenario.stack
        common = {"shard_id": event["shard_id"], "file_ids": files, "job_id": self.job_id, "error_message": message}
        if fault.kind == "timeout" and len(files) > 1 and depth < stack.max_reshard_depth:
            children = [
                {
                    "job_id": self.job_id,
                    "shard_id": f"{event['shard_id']}.{index}",
                    "file_ids": part,
                    "reshard_depth": depth + 1,
                    "parent_shard_id": event["shard_id"],
                }
                for index, part in enumerate(split_evenly(files, stack.reshard_factor))
            ]
            self.obs.add_decision(
                "reshard",
                at=at,
                reason="timeout",
                child_shards=[{"shard_id": child["shard_id"], "file_ids": child["file_ids"]} for child in children],
                **common,
            )
            for child in children:
                self._shard(child, at + self.pace.handoff)
            return
        timeout = fault.kind == "timeout"
        loaded = [file_id for file_id in files if file_id in self.state.loaded]
        quarantined = [file_id for file_id in files if file_id not in self.state.loaded] if timeout else []
        # The error handler quarantines only the files that are not loaded; a shard loaded in full is reported.
        action, reason = ("quarantine", "quarantined") if quarantined else ("report", "needs_attention")
        self.obs.add_decision(action, at=at, reason=reason, **common)
        for file_id in quarantined:
            self.obs.add_quarantine(file_id, at=at, job_id=self.job_id, shard_id=event["shard_id"])
        body = {
            "reason": reason,
            "job_id": self.job_id,
            "shard_id": event["shard_id"],
            "file_ids": quarantined or files,
            "error_type": "Timeout" if timeout else "FunctionError",
            "error_message": message,
        }
        if timeout:
            body["loaded_file_ids"] = loaded
        self.obs.add_notification("JOB FAILED", body, at=at + 0.02)
        self._note(at + 0.02)

    def _invoke(
        self,
        function: FunctionName,
        event: dict[str, Any],
        start: float,
        shard_id: str,
        files: list[str] | None = None,
        work: Callable[[float], None] = lambda at: None,
    ) -> tuple[float, Fault | None]:
        """All attempts of one invocation; (end, the fault of a failed last attempt or None). `work(at)` runs
        whenever an attempt's handler completes: one without a fault, or one failing after its commit."""
        self.state.requests += 1
        request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{function}/{self.state.requests}"))
        files = list(files if files is not None else event.get("file_ids", []))
        settings = self.scenario.settings(function)
        now = start + self.pace.start_attempt
        if self.state.first_invocation is None:
            self.state.first_invocation = now
        fault: Fault | None = None
        attempts = self.scenario.max_attempts(function)
        for attempt in range(1, attempts + 1):
            fault = self._fault(function, attempt, shard_id, files)
            reported = fault is not None and not fails_invocation(self.scenario, fault)
            took, outcome = self._attempt_result(fault, settings.timeout_seconds)
            if reported:
                outcome = "ok"  # the worker reports it by its error policy and returns
            self.obs.add_attempt(
                function,
                request_id,
                attempt,
                at=now,
                took=took,
                outcome=outcome,
                fault=fault.kind if fault else None,
                event=event,
                shard_id=shard_id,
                file_ids=files,
                run=self.state.run,
            )
            end = now + took
            self._note(end)
            self._metrics(function, now, end, failed=fault is not None and not reported)
            if fault is not None and function == "worker" and fault.files and fault.kind in _STRIKES_INSIDE:
                self._partly_loaded(event, fault, now)
            if fault is None or fault.kind == "fail_after_commit":
                work(end)
            if fault is not None and reported:
                self._report(event, fault, end)
                return end, None
            if fault is None:
                return end, None
            self._failed(function, event, fault, end)
            now = end + attempt * (RETRY_BASE_DELAY_SECONDS + self.pace.retry_lateness)
        return end, fault

    def _metrics(self, function: str, start: float, end: float, *, failed: bool) -> None:
        if function == "orchestrator":
            self.state.invocations.append((start, 1.0))
        if function == "worker":
            self.state.errors.append((end, 1.0 if failed else 0.0))

    def _attempt_result(self, fault: Fault | None, timeout: int) -> tuple[float, str | None]:
        if fault is None:
            return self.pace.work, "ok"
        if fault.kind == "timeout":
            return float(timeout), None
        if fault.kind == "out_of_memory":
            return self.pace.out_of_memory, None
        if fault.kind == "crash":
            return self.pace.exception, None  # the runtime is gone: no end reaches the ledger
        return self.pace.exception, "error"

    def _fault(self, function: FunctionName, attempt: int, shard_id: str, files: list[str]) -> Fault | None:
        return striking_fault(self.scenario, function, attempt, self.state.run, shard_id, files)

    def _loaded(self, event: dict[str, Any], at: float) -> None:
        files = event["file_ids"]
        counts = expected_row_counts(files)
        new = [file_id for file_id in files if file_id not in self.state.loaded]
        for file_id in new:
            self.obs.add_rows(file_id, counts[file_id], at=at)
        self.state.loaded.update(new)
        rows = sum(counts.values())
        rows_inserted = sum(counts[file_id] for file_id in new)
        body = {
            "job_id": self.job_id,
            "shard_id": event["shard_id"],
            "reshard_depth": event.get("reshard_depth", 0),
            "file_ids": files,
            "files": len(files),
            "files_inserted": len(new),
            "files_already_present": len(files) - len(new),
            "rows": rows,
            "rows_inserted": rows_inserted,
            "rows_already_present": rows - rows_inserted,
        }
        self.obs.add_notification("JOB SUCCEEDED", body, at=at + 0.02)
        self._note(at + 0.02)

    def _partly_loaded(self, event: dict[str, Any], fault: Fault, at: float) -> None:
        """A fault aimed at a file strikes when the worker reads that file: the ones before it are in."""
        before = []
        for file_id in event["file_ids"]:
            if file_id in (fault.files or []):
                break
            before.append(file_id)
        counts = expected_row_counts(before)
        for file_id in before:
            if file_id not in self.state.loaded:
                self.obs.add_rows(file_id, counts[file_id], at=at + self.pace.work)
                self.state.loaded.add(file_id)

    def _failed(self, function: str, event: dict[str, Any], fault: Fault, at: float) -> None:
        if self.state.first_error is None or at < self.state.first_error:
            self.state.first_error = at

    def _report(self, event: dict[str, Any], fault: Fault, at: float) -> None:
        """The worker's one JOB FAILED for an error its policy reports (the invocation then ends normally)."""
        error_type, code = {
            "bad_table": ("DatabaseError", "42P01"),
            "bad_field": ("DatabaseError", "42703"),
            "bad_input": ("InvalidEvent", None),
            "db_unreachable": ("InterfaceError", None),
        }.get(fault.kind, (fault.exception.type if isinstance(fault, ExceptionFault) else "RuntimeError", None))
        body = {
            "reason": "error",
            "failure_class": failure_class(fault),
            "job_id": self.job_id,
            "shard_id": event["shard_id"],
            "reshard_depth": event.get("reshard_depth", 0),
            "file_ids": event["file_ids"],
            "error_type": error_type,
            "error_message": self._error_message(fault),
            "error_code": code,
        }
        self.obs.add_notification("JOB FAILED", body, at=at + 0.02)
        self._note(at + 0.02)

    def _error_message(self, fault: Fault) -> str:
        if fault.kind == "timeout":
            seconds = self.scenario.settings(fault.function).timeout_seconds
            return f"RequestId: {_REQUEST} Error: Task timed out after {seconds:.2f} seconds"
        if fault.kind == "out_of_memory":
            return f"RequestId: {_REQUEST} Error: Runtime exited with error: signal: killed"
        if fault.kind == "bad_table":
            return f'relation "stack.{fault.wrong_name}" does not exist'
        if fault.kind == "bad_field":
            return f'column "{fault.wrong_name}" of relation "rows" does not exist'
        if isinstance(fault, ExceptionFault | FailAfterCommitFault):
            return fault.exception.message
        if isinstance(fault, CrashFault):
            if fault.exit_status == 0:
                return f"RequestId: {_REQUEST} Error: Runtime exited without providing a reason"
            return f"RequestId: {_REQUEST} Error: Runtime exited with error: exit status {fault.exit_status}"
        if fault.kind == "db_unreachable":
            return "Can't create a connection to host 127.0.0.1 and port 1"
        if fault.kind == "bad_input":
            return "invalid event: field 'job_id' is missing"
        if fault.kind == "import_error":
            return f"Unable to import module 'handler': No module named '{getattr(fault, 'missing_module', '')}'"
        if fault.kind == "missing_handler":
            return "Handler 'handler' missing on module 'handler'"
        return "injected fault"

    def _interval(self, alarm: str) -> float:
        return self.scenario.stack.evaluation_interval(alarm)  # type: ignore[arg-type]

    def _transitions(self, alarm: str, until: float) -> list[Any]:
        stack = self.scenario.stack
        if alarm == "job_not_run":
            return alarm_transitions(stack.alarm("job_not_run"), "LessThanThreshold", self.state.invocations,
                                     created=self._created, until=until)
        return alarm_transitions(stack.alarm("job_failed"), "GreaterThanOrEqualToThreshold", self.state.errors,
                                 created=self._created, until=until)

    @property
    def _created(self) -> float:
        return -self.pace.alarm_created_before_start

    def _alarm_reaches(self, alarm: str, state: str, after: float) -> float:
        """When the alarm is first in `state` at or after `after`, given the datapoints so far."""
        horizon = after + 100 * self._interval(alarm)
        transitions = self._transitions(alarm, horizon)
        current = "INSUFFICIENT_DATA"
        for transition in transitions:
            if transition.at <= after:
                current = transition.new_state
        if current == state:
            return after
        return next((t.at for t in transitions if t.at > after and t.new_state == state), horizon)

    def _alarms(self, until: float) -> None:
        """Every transition LocalStack's evaluations would make, each with its reason and the creation time."""
        for alarm in ("job_not_run", "job_failed"):
            for transition in self._transitions(alarm, until):
                self.obs.add_alarm(alarm, transition.new_state, at=transition.at, old_state=transition.old_state,
                                   reason=transition.reason, created=self._created)

    def _note(self, moment: float) -> None:
        self.state.last_event = max(self.state.last_event, moment)
