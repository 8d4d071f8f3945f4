"""A scripted stand-in for the seed pipeline on a stack: what it would let the harness observe.

`simulate_pipeline(scenario, observations)` scripts a `FakeObservations` with the attempts, messages,
decisions, rows and alarm transitions that the scenario's job and faults cause. What happens, and when,
is the one model of the pipeline (`harness.model.walk`) walked at its scripted pace; this file only
renders its events as the stack would show them (the worker's JOB SUCCEEDED / JOB FAILED bodies, the
error handler's decisions, LocalStack's alarm evaluations) and chains the runs of a job.

It lets the engine's verdicts and timing be tested on every shipped scenario without LocalStack.
"""

from __future__ import annotations

from typing import Any

from harness.format.classes import failure_class
from harness.model.alarms import alarm_transitions
from harness.model.content import expected_row_counts
from harness.model.platform import Platform
from harness.model.walk import (
    SCRIPTED,
    Answered,
    AttemptEvent,
    Committed,
    DeadLettered,
    Decided,
    Reported,
    Walk,
    error_message,
)
from harness.scenario import ExceptionFault, Fault, Scenario

from .fakes import FakeObservations

# The unit tests' platform: a stack clock, AWS's retry delays.
PLATFORM = Platform("the scripted stand-in of the unit tests, timed as the harness's LocalStack")
# Before the first run, the alarms are created; between runs, the harness waits for the system to settle.
ALARM_CREATED_BEFORE_START = 0.5
SETTLE_BETWEEN_RUNS = 1.5
# A message is published just after the work it reports.
PUBLISH = 0.02


def simulate_pipeline(scenario: Scenario, observations: FakeObservations, platform: Platform = PLATFORM) -> float:
    """Script everything the scenario causes into `observations`; returns when the last event happens."""
    return _Pipeline(scenario, observations, platform).run()


class _Pipeline:
    def __init__(self, scenario: Scenario, observations: FakeObservations, platform: Platform) -> None:
        self.scenario = scenario
        self.obs = observations
        self.walk = Walk(scenario, platform, SCRIPTED)
        self.platform = platform
        self.job_id = scenario.job_id()
        self.last_event = 0.0
        self.run_starts: list[float] = []
        self.invocations: list[tuple[float, float]] = []
        """The orchestrator's Invocations metric: (time, value)."""
        self.errors: list[tuple[float, float]] = []
        """The worker's Errors metric: 1 per failed attempt, 0 per successful one (as the executor publishes)."""

    def run(self) -> float:
        runs = self.run_starts
        job = self.scenario.job
        if job is not None:
            start = 0.0
            for run in range(1, job.runs + 1):
                if run > 1:
                    start = self.last_event + SETTLE_BETWEEN_RUNS
                    if job.next_run_when is not None:
                        start = self._alarm_reaches(job.next_run_when.alarm, job.next_run_when.state, start)
                runs.append(start)
                for event in self.walk.run(run, start):
                    self._render(event)
        self.obs.runs = runs or [0.0]
        self._alarms(until=self.last_event + 4 * max(self._interval(a) for a in ("job_not_run", "job_failed")))
        return self.last_event

    def _render(self, event: Any) -> None:
        if isinstance(event, AttemptEvent):
            self._attempt(event)
        elif isinstance(event, Committed):
            self._committed(event)
        elif isinstance(event, Reported):
            self._report(event.shard, event.fault, event.at)
        elif isinstance(event, DeadLettered):
            self._dead_letter(event)
        elif isinstance(event, Decided):
            self._decided(event)
        elif isinstance(event, Answered):
            self._answered(event)

    def _attempt(self, event: AttemptEvent) -> None:
        self.obs.add_attempt(
            event.function,
            event.request_id,
            event.attempt,
            at=event.start,
            took=event.end - event.start,
            outcome=event.outcome,
            fault=event.fault.kind if event.fault else None,
            event=event.payload,
            shard_id=event.shard_id,
            file_ids=list(event.file_ids),
            run=event.run,
        )
        self._note(event.end)
        if event.function == "orchestrator":
            self.invocations.append((event.start, 1.0))
        if event.function == "worker":
            self.errors.append((event.end, 1.0 if event.fails else 0.0))

    def _answered(self, event: Answered) -> None:
        run, at = event.run, event.at
        if self.scenario.job.invocation == "event":
            self.obs.add_result(run, None, at=self.run_starts[run - 1], status=202)  # accepted; Lambda runs it later
        elif event.fault is None:
            body: Any = {"job_id": self.job_id, "files": len(self.scenario.file_ids()),
                         "shard_count": len(event.shards), "shard_sizes": [len(files) for files in event.shards]}
            self.obs.add_result(run, body, at=at)
        else:
            failed = event.fault
            error_type = failed.error_type()
            self.obs.add_result(run, {"errorType": error_type, "errorMessage": error_message(self.scenario, failed)},
                                at=at, function_error="Unhandled")

    def _dead_letter(self, event: DeadLettered) -> None:
        if event.function == "worker":
            # Its RequestID is the failed invocation's, as AWS writes it (and the harness's LocalStack).
            failed = next(s.attempt.request_id for s in reversed(self.obs._attempts)
                          if s.attempt.function == event.function and s.attempt.event == event.payload)
            self.obs.add_dead_letter(event.payload, at=event.at, error_message=event.error_message,
                                     request_id=failed)
        else:
            # The error handler's own dead letter: the SNS records it was handed, kept on error_handler_dlq.
            self.obs.add_message("error_handler_dlq", event.payload, at=event.at,
                                 attributes={"ErrorCode": "200", "ErrorMessage": event.error_message})
        self._note(event.at)

    def _decided(self, event: Decided) -> None:
        shard = event.shard
        common = {"shard_id": shard["shard_id"], "file_ids": shard["file_ids"], "job_id": self.job_id,
                  "error_message": event.error_message}
        if event.action == "reshard":
            children = [{"shard_id": child["shard_id"], "file_ids": child["file_ids"]} for child in event.children]
            self.obs.add_decision("reshard", at=event.at, reason=event.reason, child_shards=children, **common)
            return
        self.obs.add_decision(event.action, at=event.at, reason=event.reason, **common)
        for file_id in event.quarantined:
            self.obs.add_quarantine(file_id, at=event.at, job_id=self.job_id, shard_id=shard["shard_id"])
        timeout = event.fault.kind == "timeout"
        body = {
            "reason": event.reason,
            "job_id": self.job_id,
            "shard_id": shard["shard_id"],
            "file_ids": list(event.quarantined) or shard["file_ids"],
            "error_type": "Timeout" if timeout else "FunctionError",
            "error_message": event.error_message,
        }
        if timeout:
            body["loaded_file_ids"] = list(event.loaded)
        self.obs.add_notification("JOB FAILED", body, at=event.at + PUBLISH)
        self._note(event.at + PUBLISH)

    def _committed(self, event: Committed) -> None:
        counts = expected_row_counts(event.file_ids)
        for file_id in event.new_file_ids:
            self.obs.add_rows(file_id, counts[file_id], at=event.at)
        if not event.complete:
            return
        shard = event.shard
        rows = sum(counts.values())
        rows_inserted = sum(counts[file_id] for file_id in event.new_file_ids)
        body = {
            "job_id": self.job_id,
            "shard_id": shard["shard_id"],
            "reshard_depth": shard.get("reshard_depth", 0),
            "file_ids": list(event.file_ids),
            "files": len(event.file_ids),
            "files_inserted": len(event.new_file_ids),
            "files_already_present": len(event.file_ids) - len(event.new_file_ids),
            "rows": rows,
            "rows_inserted": rows_inserted,
            "rows_already_present": rows - rows_inserted,
        }
        self.obs.add_notification("JOB SUCCEEDED", body, at=event.at + PUBLISH)
        self._note(event.at + PUBLISH)

    def _report(self, shard: dict[str, Any], fault: Fault, at: float) -> None:
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
            "shard_id": shard["shard_id"],
            "reshard_depth": shard.get("reshard_depth", 0),
            "file_ids": shard["file_ids"],
            "error_type": error_type,
            "error_message": error_message(self.scenario, fault),
            "error_code": code,
        }
        self.obs.add_notification("JOB FAILED", body, at=at + PUBLISH)
        self._note(at + PUBLISH)

    def _interval(self, alarm: str) -> float:
        return self.scenario.stack.evaluation_interval(alarm)  # type: ignore[arg-type]

    def _transitions(self, alarm: str, until: float) -> list[Any]:
        stack = self.scenario.stack
        if alarm == "job_not_run":
            return alarm_transitions(stack.alarm("job_not_run"), "LessThanThreshold", self.invocations,
                                     created=self._created, until=until)
        return alarm_transitions(stack.alarm("job_failed"), "GreaterThanOrEqualToThreshold", self.errors,
                                 created=self._created, until=until)

    @property
    def _created(self) -> float:
        return -ALARM_CREATED_BEFORE_START

    def _alarm_reaches(self, alarm: str, state: str, after: float) -> float:
        """When the alarm is first in `state` at or after `after`, given the datapoints so far."""
        horizon = after + 4 * self._interval(alarm)
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
        self.last_event = max(self.last_event, moment)
