"""Runs one scenario on a real stack, whichever its profile: deploy, run the job (the seed pipeline's runs, or
the one invocation a template scenario makes), evaluate every expectation on the stack's clock, tear down."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.expect import Report, evaluate, wait_until_settled, while_running
from harness.expect.deadlines import between_runs_seconds
from harness.expect.engine import wait_for_alarm
from harness.model.platform import Platform
from harness.observe.live import StackObservations
from harness.records import InvokeResult
from harness.scenario import AnyScenario, Scenario
from harness.services import Endpoint
from harness.stack.pipeline import PipelineStack, unique_prefix
from harness.stack.resources import Resources
from harness.stack.template import parameter_values
from harness.stack.template_stack import TemplateStack


@dataclass
class ScenarioResult:
    scenario: AnyScenario
    report: Report | None
    seconds: float
    error: str | None = None
    deploy_seconds: float = 0.0
    # From the job's start (after deploy) to the verdict on the last expectation.
    verdict_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    """What the template asks for that the platform does not carry out (each names its file and line)."""
    cpu_seconds: float = 0.0
    """CPU time of this process and every process under it (LocalStack, the runtimes, PostgreSQL) while the
    scenario ran: its own when it ran alone (`harness run -j 1`)."""

    @property
    def passed(self) -> bool:
        return self.error is None and self.report is not None and self.report.passed

    def failure_text(self) -> str:
        """Why the scenario failed: its error, else its report."""
        return self.error or (self.report.render() if self.report is not None else "no report")


def build_stack_at(scenario: AnyScenario, endpoint: Endpoint, database_url: str, prefix: str,
                   template: Path | None = None) -> TemplateStack:
    """The stack the scenario deploys: the seed pipeline with its settings, or its own template."""
    path = scenario.template_path(template)
    if isinstance(scenario, Scenario):
        return PipelineStack(endpoint, database_url, prefix, scenario.stack, scenario.faults, path)
    return TemplateStack(endpoint, database_url, prefix, path, parameter_values(scenario.parameters), scenario.faults)


def observe_stack(scenario: AnyScenario, stack: TemplateStack, platform: Platform) -> StackObservations:
    return StackObservations(stack, platform, {alarm: scenario.alarm_interval(alarm) for alarm in scenario.alarms()})


def run_scenario(scenario: AnyScenario, resources: Resources, progress: Callable[[str], None] = lambda _: None,
                 keep_stack: bool = False, template: Path | None = None) -> ScenarioResult:
    started = time.monotonic()
    path = scenario.template_path(template)
    if not path.is_file():
        field = ("stack", "template") if isinstance(scenario, Scenario) else ("template",)
        return ScenarioResult(scenario, None, 0.0,
                              error=f"{scenario.location(*field)}: {'.'.join(field)}: no such template {path}")
    with resources.lease() as endpoint:
        stack = build_stack_at(scenario, endpoint, resources.database_url(), unique_prefix(scenario.name), template)

        def exercise(deployed: float) -> Report | str:
            observations = observe_stack(scenario, stack, resources.platform())
            observations.started_at = observations.reading().now
            error = _trigger(scenario, stack, observations, progress)
            if error is not None:
                return error
            progress("checking expectations")
            return evaluate(scenario, observations, sleep=_pausing(progress, "checking expectations"))

        # A LocalStack the harness started ends with the run, and everything in it: the stack need not be deleted.
        return run_on_stack(scenario, stack, stack.deploy, exercise, progress, keep_stack, started,
                            discard=not resources.attached)


def run_on_stack(scenario: AnyScenario, stack: TemplateStack, deploy: Callable[[], object],
                 exercise: Callable[[float], Report | str], progress: Callable[[str], None], keep_stack: bool,
                 started: float, discard: bool = False) -> ScenarioResult:
    """Deploy, exercise (the job or the invocation, then the verdicts: a report, or an error), tear down
    unless kept; with the deploy's and the verdicts' times, and the template's warnings."""
    cpu = tree_cpu_seconds()
    try:
        progress("deploying")
        try:
            deploy()
        except Exception as failure:  # noqa: BLE001 - a failed deploy fails this scenario, with its time
            spent = time.monotonic() - started
            return ScenarioResult(scenario, None, spent, deploy_seconds=spent,
                                  error=f"deploy failed after {spent:.1f} s: {type(failure).__name__}: {failure}")
        deployed = time.monotonic()
        outcome = exercise(deployed)
        done = time.monotonic()
        if isinstance(outcome, str):
            return ScenarioResult(scenario, None, done - started, error=outcome, deploy_seconds=deployed - started)
        return ScenarioResult(scenario, outcome, done - started, deploy_seconds=deployed - started,
                              verdict_seconds=done - deployed, warnings=list(stack.warnings),
                              cpu_seconds=tree_cpu_seconds() - cpu)
    finally:
        if not keep_stack:
            stack.teardown(discard=discard)


def tree_cpu_seconds() -> float:
    """User and system CPU of this process and all under it, the ended ones (reaped by their parents) too."""
    import psutil

    total = 0.0
    me = psutil.Process()
    for process in [me, *me.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue  # ended meanwhile: its parent's children_* has it once reaped
        total += times.user + times.system + times.children_user + times.children_system
    return total


def trigger_call(scenario: AnyScenario) -> tuple[str, object, str]:
    """What the harness invokes for one run: (function, event, sync or event)."""
    if isinstance(scenario, Scenario):
        assert scenario.job is not None  # only called when a job runs
        return "orchestrator", scenario.job_event(), scenario.job.invocation
    return scenario.invoke.function, scenario.invoke.event, scenario.invoke.invocation


def _trigger(scenario: AnyScenario, stack: TemplateStack, observations: StackObservations,
             progress: Callable[[str], None]) -> str | None:
    """Make every run (the seed pipeline's job, or a template scenario's one invocation); returns why the
    scenario cannot go on, or None."""
    checks_result = any(expectation.kind == "result" for expectation in scenario.expect)
    for run in range(1, scenario.runs() + 1):
        if run > 1:
            progress(f"waiting for run {run - 1} to settle")
            _wait_before_run(scenario, stack, observations, progress)
        function, event, invocation = trigger_call(scenario)
        progress(f"invoking {function}" + (f", run {run}" if run > 1 else ""))
        stack.mark_run(run)
        now = observations.reading().now
        if run == 1:
            observations.started_at = now
        observations.run_started_at.append(now)
        answer = while_running(observations, functools.partial(stack.invoke, function, event, invocation))
        observations.invoke_results.append(InvokeResult(run=run, status=answer["status"],
                                                        function_error=answer["function_error"],
                                                        body=answer["body"], at=observations.now()))
        if answer["function_error"] and not checks_result and isinstance(scenario, Scenario):
            return (f"the orchestrator failed on run {run}: {json.dumps(answer['body'])[:1000]} "
                    "(if the scenario means it to, expect it with `- result: {succeeded: false}`)")
    return None


def _pausing(progress: Callable[[str], None], step: str) -> Callable[[float], None]:
    """A sleep for the engine's polling that reports `step` first: progress is where a caller that runs
    scenarios in threads stops one (`harness run -j`, on Ctrl-C), so a long wait stops there too."""

    def pause(seconds: float) -> None:
        progress(step)
        time.sleep(seconds)

    return pause


def _wait_before_run(scenario: AnyScenario, stack: TemplateStack, observations: StackObservations,
                     progress: Callable[[str], None]) -> None:
    wait_until_settled(scenario, observations, timeout=scenario.max_wait_seconds,
                       sleep=_pausing(progress, f"waiting for run {len(observations.run_started_at)} to settle"))
    condition = getattr(scenario, "job", None) and scenario.job.next_run_when  # type: ignore[union-attr]
    if not condition:
        return
    wait_for_alarm(observations, lambda: stack.alarm_state(condition.alarm) == condition.state,
                   until=observations.now() + between_runs_seconds(scenario, observations.platform),
                   what=f"alarm {condition.alarm} in {condition.state} before run "
                        f"{len(observations.run_started_at) + 1} ({scenario.location('job', 'next_run_when')})")
