"""Running a soak: one stack, one database, every night on the stack's clock.

The stack is the seed pipeline with the soak's settings and every night's faults, each fault for its night's
run only. For each night the stack's clock moves to the night's scheduled time (the alarms evaluate on the
way, as CloudWatch would over the idle day), then the job runs as a scenario's job does, and the expectation
engine checks the night against what the model of the pipeline predicts for it (`Night.scenario_document`),
on the night's part of the observations (`NightView`). After the last night the clock moves one more day, so
that the last night's alarms are evaluated too. What a person received is read from the topics at the end.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from harness.expect import Report, evaluate, while_running
from harness.expect.engine import move_clock, pause
from harness.format.faults import Fault
from harness.observe.live import StackObservations
from harness.records import InvokeResult, Message, parse_json
from harness.reproduce import write_scenario
from harness.runner import observe_stack, tree_cpu_seconds
from harness.stack.pipeline import PipelineStack, unique_prefix
from harness.stack.resources import Resources
from harness.waiting import DeadlineExceeded

from .document import Soak
from .nights import DAY_SECONDS, Night, plan_nights
from .view import NightView

_FAULT: TypeAdapter[Any] = TypeAdapter(Fault)
# How long (wall time) moving the clock over one idle day may take: the alarms' evaluations on the way.
_MOVE_WALL_SECONDS = 60.0
TOPICS = ("notifications", "dlq", "alarms", "error_handler_dlq")


@dataclass
class NightResult:
    night: Night
    report: Report | None = None
    error: str | None = None
    started_at: float = 0.0
    """The night's start on the stack's clock (its scheduled time)."""
    ran_until: float = 0.0
    """When the night's checks were done, on the stack's clock."""
    wall_seconds: float = 0.0
    replay: Path | None = None
    """The scenario file that replays the night, when it broke an invariant."""
    loaded: int = 0
    """Files of the night with rows."""
    quarantined: list[str] = field(default_factory=list)
    dead_letters: int = 0
    """The worker's dead letters of the night's job (distinct: a redelivery is the same dead letter)."""
    decisions: int = 0
    """The error handler's decisions about the night's job."""

    @property
    def passed(self) -> bool:
        return self.error is None and (self.report is None or self.report.passed)

    def failure_text(self) -> str:
        return self.error or (self.report.render() if self.report is not None else "")


@dataclass
class SoakRun:
    """What a soak did: each night's result, and every message of the stack's topics."""

    soak: Soak
    nights: list[NightResult] = field(default_factory=list)
    messages: dict[str, list[Message]] = field(default_factory=dict)
    deploy_seconds: float = 0.0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    ended_at: float = 0.0
    """The stack's clock at the end (a day after the last night)."""
    error: str | None = None
    alarm_names: dict[str, str] = field(default_factory=dict)
    """The stack's alarm names by the pipeline's alarm (job_not_run, job_failed)."""


def run_soak(soak: Soak, resources: Resources, progress: Callable[[str], None] = lambda _: None,
             replay_dir: Path | None = None, nights: list[Night] | None = None) -> SoakRun:
    """Plan the nights (or take `nights`, planned otherwise: the stateful test's), deploy one stack, run
    every night on it; then tear it down."""
    started, cpu = time.monotonic(), tree_cpu_seconds()
    nights = nights if nights is not None else plan_nights(soak, time.time())
    if nights[0].at < time.time():
        first = nights[0].date.isoformat()
        return SoakRun(soak, error=f"{soak.location('start_date')}: the first night ({first}) is in the past of the "
                                   "stack's clock, which starts at today's time and only moves forward")
    platform = resources.platform()
    if not platform.virtual_clock:
        return SoakRun(soak, error=f"a soak needs a LocalStack that runs stack clocks (the harness's own: embedded, "
                                   f"`harness up`, or its Docker image); {platform.describe()} keeps real time, "
                                   f"and {soak.nights} nights would take {soak.nights} days")
    faults = [_FAULT.validate_python(fault) for night in nights for fault in night.stack_faults()]
    stack = PipelineStack(resources.endpoint(), resources.database_url(), unique_prefix(soak.name), soak.stack,
                          faults)
    result = SoakRun(soak)
    try:
        progress("deploying the pipeline")
        stack.deploy()
        result.deploy_seconds = time.monotonic() - started
        result.alarm_names = dict(stack.alarm_names)
        first = next((night for night in nights if night.runs), nights[0])
        observations = observe_stack(first.scenario(soak) if first.runs else _any_scenario(soak), stack, platform)
        for night in nights:
            progress(f"{night.label}: {'running the job' if night.runs else 'skipped'}")
            result.nights.append(_run_night(soak, night, stack, observations, replay_dir))
        progress("the day after the last night")
        result.ended_at = move_to(observations, nights[-1].at + DAY_SECONDS)
        result.messages = {topic: observations.messages(topic) for topic in TOPICS}
    except DeadlineExceeded as error:
        result.error = str(error)
    finally:
        stack.teardown()
        result.wall_seconds = time.monotonic() - started
        result.cpu_seconds = tree_cpu_seconds() - cpu
    return result


def _any_scenario(soak: Soak) -> Any:
    """A scenario of the soak's stack settings (for the alarms' evaluation intervals)."""
    from harness.scenario import Scenario

    return Scenario.model_validate({"name": soak.name, "description": soak.description,
                                    "stack": soak.stack.model_dump(mode="json", exclude_defaults=True),
                                    "expect": [{"alarm": {"alarm": "job_not_run", "states": ["ALARM"]}}]})


def _run_night(soak: Soak, night: Night, stack: PipelineStack, observations: StackObservations,
               replay_dir: Path | None) -> NightResult:
    wall = time.monotonic()
    result = NightResult(night, started_at=move_to(observations, night.at))
    if not night.runs:
        result.ran_until = result.started_at
        return result
    scenario = night.scenario(soak)
    stack.mark_run(night.run or 1)
    observations.run_started_at.append(result.started_at)
    view = NightView(observations, night, result.started_at)
    answer = while_running(observations, functools.partial(stack.invoke, "orchestrator", scenario.job_event(),
                                                           "sync"))
    observations.invoke_results.append(InvokeResult(run=night.run or 1, status=answer["status"],
                                                    function_error=answer["function_error"], body=answer["body"],
                                                    at=observations.now()))
    result.report = evaluate(scenario, view)
    result.ran_until = observations.reading().now
    _count(result, view, observations)
    result.wall_seconds = time.monotonic() - wall
    if not result.passed:
        comment = (f"{night.label} of the soak {soak.name} broke an invariant:\n"
                   f"{result.failure_text()}")
        result.replay = write_scenario(night.scenario_document(soak), replay_dir, comment=comment)
    return result


def _count(result: NightResult, view: NightView, observations: StackObservations) -> None:
    """What the night left: files loaded and quarantined, dead letters and the decisions about them."""
    job_id = result.night.job_id
    result.loaded = sum(1 for count in view.rows_per_file().values() if count)
    result.quarantined = [q.file_id for q in observations.quarantine() if q.job_id == job_id]
    letters = {message.attributes.get("RequestID") or message.body for message in view.messages("dlq")
               if _job_of(message.body) == job_id}
    result.dead_letters = len(letters)
    result.decisions = sum(1 for decision in observations.decisions() if decision.job_id == job_id)


def _job_of(body: str) -> Any:
    event = parse_json(body)
    return event.get("job_id") if isinstance(event, dict) else None


def move_to(observations: StackObservations, until: float) -> float:
    """Move the idle stack's clock to `until` (alarms evaluate on the way); the clock's time then. Raises
    `DeadlineExceeded` when the stack's code keeps running, or the move takes too long."""
    started = time.monotonic()
    while True:
        reading = observations.reading()
        if reading.now >= until:
            return reading.now
        if time.monotonic() - started > _MOVE_WALL_SECONDS:
            raise DeadlineExceeded(f"the stack's clock did not reach {until:.0f} within {_MOVE_WALL_SECONDS:.0f} s "
                                   f"of wall time (busy: {', '.join(reading.busy or []) or 'nothing'})")
        if not move_clock(observations, reading, until):
            pause(observations, reading, time.sleep, 0.05)
