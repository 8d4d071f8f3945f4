"""Has the system settled? Exact counts (`count: 3`, `count: 0`) mean something only once nothing more can
happen, so the engine declares them passed only when no rule below still expects something.

Where the platform counts its own work for the stack (the harness's LocalStack, `harness.localstack.clock`),
that count is the evidence: the stack has settled when none of its code runs and the platform owes it no
wake-up of its own (a retry, the end of an injected wait); its alarms' clock is not the pipeline's. Every
poll reads that count before any other source, so what the platform did before it said so is in the reads.

Elsewhere (a LocalStack without stack clocks), each rule below names a follow-up the pipeline owes (a
running attempt's end, a retry, a dead letter, the error handler's decision, a re-shard's children) and
waits for it only for as long as the platform takes to deliver it, so a model that is wrong about the
pipeline costs seconds, never the whole deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.format.catalog import DEAD_LETTERED_FUNCTION
from harness.records import Attempt, epoch
from harness.scenario import ScenarioDocument
from harness.text import offset, request_text

from .deadlines import QUIET_SECONDS
from .snapshot import Snapshot

# Retry n is scheduled n x the base delay after failure n; it lands up to about a second late.
RETRY_SLACK_SECONDS = 2.0
# An async invoke, a dead letter or an SNS delivery shows up within this long, or not at all.
HANDOFF_WAIT_SECONDS = 3.0
# Once the platform says it does nothing more for the stack, no quiet window is needed: a snapshot reads
# that count first and every other source after it (each tap to its end), so what the platform did before
# it said so is in the same snapshot (`Snapshot.__init__`, `StackObservations.messages`).
EVIDENCE_QUIET_SECONDS = 0.0


def quiet_window(counted: bool, quiet_seconds: float = QUIET_SECONDS) -> float:
    """How long nothing new must have been seen before an exact count is decided: where the platform counts
    its own work for the stack (`counted`, the embedded LocalStack), no time at all once that count, read
    before the evidence, says idle; elsewhere the quiet window is all there is. For pipeline and template
    scenarios alike."""
    return min(quiet_seconds, EVIDENCE_QUIET_SECONDS) if counted else quiet_seconds


_FAILED = ("error", "killed")
_DEAD_LETTERED = DEAD_LETTERED_FUNCTION
_ERROR_HANDLER = "error_handler"
_ORCHESTRATOR = "orchestrator"


class Settling:
    """Follows the observations across polls; `pending(snapshot)` says what may still happen."""

    def __init__(self, scenario: ScenarioDocument, *, expect_all_runs: bool = True,
                 quiet_seconds: float = QUIET_SECONDS):
        self.scenario = scenario
        self.expect_all_runs = expect_all_runs
        self.quiet_seconds = quiet_seconds
        self._fingerprint: tuple[Any, ...] | None = None
        self._changed_at: float | None = None
        self._platform_busy_at: float | None = None

    def pending(self, snapshot: Snapshot) -> list[str]:
        """What may still happen, in words; [] once the system has settled."""
        if snapshot.activity is not None:
            return self._runs(snapshot) + _platform_activity(snapshot) + _platform_owes(snapshot)
        rules: list[Callable[[Snapshot], list[str]]] = [self._runs, _running, self._retries, _dead_letters]
        if self.scenario.is_pipeline:
            rules += [self._root_shards, self._decisions, _children]
        rules.append(self._quiet)
        return [reason for rule in rules for reason in rule(snapshot)]

    def _runs(self, snapshot: Snapshot) -> list[str]:
        runs = self.scenario.runs()
        if not runs:
            return []
        started = snapshot.run_started_at
        reasons = []
        if self.expect_all_runs and len(started) < runs:
            reasons.append(f"run {len(started) + 1} of {runs} has not started")
        orchestrated = len(snapshot.requests(self.scenario.invoked()))
        if started and orchestrated < len(started) and snapshot.now < started[-1] + HANDOFF_WAIT_SECONDS:
            reasons.append(f"run {len(started)} has no {self.scenario.invoked()} attempt yet")
        return reasons

    def _retries(self, snapshot: Snapshot) -> list[str]:
        reasons = []
        for function, request_id, last in _last_attempts(snapshot):
            if snapshot.status(last) not in _FAILED or last.attempt >= self._max_attempts(function):
                continue
            due = snapshot.failed_at(last) + snapshot.platform.retry_delay(last.attempt) + RETRY_SLACK_SECONDS
            if snapshot.now < due:
                reasons.append(
                    f"{function} {request_text(request_id)} failed attempt {last.attempt}; its retry is due by "
                    f"{offset(snapshot.since_start(due))}"
                )
        return reasons

    def _root_shards(self, snapshot: Snapshot) -> list[str]:
        done = [
            group[-1]
            for group in snapshot.requests(_ORCHESTRATOR).values()
            if group[-1].outcome == "ok" and group[-1].ended_at is not None
        ]
        if not done:
            return []
        owed = len(done) * len(self.scenario.initial_shards())
        roots = sum(1 for group in snapshot.requests(_DEAD_LETTERED).values() if _is_root(group[0].event))
        last = max(attempt.ended_at or attempt.started_at for attempt in done)
        if roots < owed and snapshot.now < last + HANDOFF_WAIT_SECONDS:
            return [f"{roots} of {owed} {_DEAD_LETTERED} shards have started"]
        return []

    def _decisions(self, snapshot: Snapshot) -> list[str]:
        letters = snapshot.messages("dlq")
        if not letters:
            return []
        # A dead letter is handled once decided, or once the error handler gave up on it (its own
        # failures are not dead-lettered anywhere the engine can see).
        gave_up = sum(
            1
            for function, _, last in _last_attempts(snapshot)
            if function == _ERROR_HANDLER
            and snapshot.status(last) in _FAILED
            and last.attempt >= self._max_attempts(_ERROR_HANDLER)
        )
        handled = len(snapshot.decisions) + gave_up
        if handled < len(letters) and snapshot.now < letters[-1].received_at + HANDOFF_WAIT_SECONDS:
            return [f"{handled} of {len(letters)} dead letters handled by the error handler"]
        return []

    def _quiet(self, snapshot: Snapshot) -> list[str]:
        fingerprint = _fingerprint(snapshot)
        if fingerprint != self._fingerprint:
            # The first poll only sets the baseline: the observations' own times say when they happened.
            if self._fingerprint is not None:
                self._changed_at = snapshot.now
            self._fingerprint = fingerprint
        last = max(_activity_times(snapshot), default=snapshot.started_at)
        if self._changed_at is not None:
            last = max(last, self._changed_at)
        if snapshot.activity:
            self._platform_busy_at = snapshot.now  # what it finishes is a change too
        if self._platform_busy_at is not None:
            last = max(last, self._platform_busy_at)
        # Where the platform counts its own work (the embedded LocalStack), its count is the evidence;
        # elsewhere the quiet window is all there is.
        quiet = quiet_window(snapshot.activity is not None, self.quiet_seconds)
        if snapshot.now - last < quiet:
            return [f"last observation {snapshot.now - last:.2f} s ago"]
        return []

    def _max_attempts(self, function: str) -> int:
        return self.scenario.max_attempts(function)


def _last_attempts(snapshot: Snapshot) -> list[tuple[str, str, Attempt]]:
    return [
        (function, request_id, group[-1])
        for function in snapshot.scenario.functions()
        for request_id, group in snapshot.requests(function).items()
    ]


def _running(snapshot: Snapshot) -> list[str]:
    return [
        f"{function} {request_text(request_id)} attempt {last.attempt} is running "
        f"(started {offset(snapshot.since_start(last.started_at))})"
        for function, request_id, last in _last_attempts(snapshot)
        if snapshot.status(last) == "running"
    ]


def _dead_letters(snapshot: Snapshot) -> list[str]:
    reasons = []
    for function in snapshot.scenario.functions():
        topic = snapshot.scenario.dead_letter_source(function)
        if topic is None:
            continue
        exhausted = [
            last
            for name, _, last in _last_attempts(snapshot)
            if name == function
            and snapshot.status(last) in _FAILED
            and last.attempt >= snapshot.scenario.max_attempts(function)
        ]
        letters = snapshot.messages(topic)
        if not exhausted or len(letters) >= len(exhausted):
            continue
        last = max(snapshot.failed_at(attempt) for attempt in exhausted)
        if snapshot.now < last + HANDOFF_WAIT_SECONDS:
            reasons.append(f"{len(exhausted)} {function} events exhausted their attempts, {len(letters)} dead-lettered")
    return reasons


def _children(snapshot: Snapshot) -> list[str]:
    started = {(group[0].shard_id, tuple(group[0].file_ids)) for group in snapshot.requests(_DEAD_LETTERED).values()}
    started_ids = {shard_id for shard_id, _ in started}
    started_files = {files for _, files in started}
    reasons = []
    for decision in snapshot.decisions:
        if decision.action != "reshard":
            continue
        decided = epoch(getattr(decision, "decided_at", None), snapshot.started_at)
        if snapshot.now >= decided + HANDOFF_WAIT_SECONDS:
            continue
        for child in decision.child_shards or []:
            shard_id, files = child.get("shard_id"), tuple(child.get("file_ids") or [])
            if shard_id not in started_ids and files not in started_files:
                reasons.append(f"child shard {shard_id} of {decision.shard_id} has not started")
    return reasons


def _is_root(event: Any) -> bool:
    return isinstance(event, dict) and not event.get("reshard_depth") and not event.get("parent_shard_id")


def _platform_activity(snapshot: Snapshot) -> list[str]:
    return [f"LocalStack: {reason}" for reason in snapshot.activity or []]


def _platform_owes(snapshot: Snapshot) -> list[str]:
    return [f"LocalStack: {wakeup['what']} at {offset(snapshot.since_start(float(wakeup['due'])))}"
            for wakeup in snapshot.clock.owed()]


def _fingerprint(snapshot: Snapshot) -> tuple[Any, ...]:
    # Alarm notifications are left out: they follow CloudWatch's clock, not the pipeline's activity.
    scenario = snapshot.scenario
    sources = [topic for topic in scenario.topics() if not scenario.alarms_notifying(topic)] + scenario.queues()
    return (
        tuple((a.function, a.request_id, a.attempt, a.outcome, a.ended_at) for a in snapshot.attempts),
        tuple(len(snapshot.messages(source)) for source in sources),
        # Quarantine rows are written in the decision's transaction, so the decisions already tell.
        len(snapshot.decisions),
    )


def _activity_times(snapshot: Snapshot) -> list[float]:
    times = list(snapshot.run_started_at)
    for attempt in snapshot.attempts:
        times.append(attempt.started_at)
        if attempt.ended_at is not None:
            times.append(attempt.ended_at)
    scenario = snapshot.scenario
    for source in [topic for topic in scenario.topics() if not scenario.alarms_notifying(topic)] + scenario.queues():
        times += [message.received_at for message in snapshot.messages(source)]
    times += [epoch(getattr(d, "decided_at", None), snapshot.started_at) for d in snapshot.decisions]
    return [moment for moment in times if moment <= snapshot.now]


__all__ = ["HANDOFF_WAIT_SECONDS", "RETRY_SLACK_SECONDS", "Settling"]
