"""Runs one scenario on a real stack: deploy, run the job, evaluate every expectation, tear down."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.expect import Report, evaluate, while_running
from harness.observe.live import StackObservations
from harness.observe.records import InvokeResult
from harness.scenario import Scenario
from harness.scenario.template_scenario import TemplateScenario
from harness.stack.pipeline import PipelineStack, unique_prefix
from harness.stack.resources import Resources
from harness.stack.template import PIPELINE_TEMPLATE
from harness.stack.template_stack import TemplateStack


def template_path(scenario: Scenario, override: Path | None = None) -> Path:
    """The template the scenario's stack deploys: `override` (`harness run --template`), else its
    `stack.template` (relative to the scenario's file), else lambdas/template.yaml."""
    if override is not None:
        return override.resolve()
    if scenario.stack.template is None:
        return PIPELINE_TEMPLATE
    return scenario.relative_path(scenario.stack.template)


@dataclass
class ScenarioResult:
    scenario: Scenario | TemplateScenario
    report: Report | None
    seconds: float
    error: str | None = None
    deploy_seconds: float = 0.0
    # From the job's start (after deploy) to the verdict on the last expectation.
    verdict_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    """What the template asks for that the platform does not carry out (each names its file and line)."""

    @property
    def passed(self) -> bool:
        return self.error is None and self.report is not None and self.report.passed

    def failure_text(self) -> str:
        """Why the scenario failed: its error, else its report."""
        return self.error or (self.report.render() if self.report is not None else "no report")


def run_scenario(scenario: Scenario | TemplateScenario, resources: Resources,
                 progress: Callable[[str], None] = lambda _: None, keep_stack: bool = False,
                 template: Path | None = None) -> ScenarioResult:
    if isinstance(scenario, TemplateScenario):
        from harness.template_runner import run_template_scenario

        result: ScenarioResult = run_template_scenario(scenario, resources, progress, keep_stack, template)
        return result
    started = time.monotonic()
    problems: list[str] = []
    if template is None and scenario.stack.template is not None and not template_path(scenario).is_file():
        problems.append(f"{scenario.location('stack', 'template')}: stack.template: no such file "
                        f"{template_path(scenario)}")
    if problems:
        return ScenarioResult(scenario, None, 0.0, error="\n".join(problems))
    stack = PipelineStack(resources.endpoint(), resources.database_url(), unique_prefix(scenario.name),
                          scenario.stack, scenario.faults, template_path(scenario, template))

    def exercise(deployed: float) -> Report | str:
        observations = StackObservations(stack, resources.platform())
        observations.started_at = observations.reading().now
        error = _run_job(scenario, stack, observations, progress)
        if error is not None:
            return error
        progress("checking expectations")
        return evaluate(scenario, observations, sleep=_pausing(progress, "checking expectations"))

    return run_on_stack(scenario, stack, stack.deploy, exercise, progress, keep_stack, started)


def run_on_stack(scenario: Scenario | TemplateScenario, stack: TemplateStack, deploy: Callable[[], object],
                 exercise: Callable[[float], Report | str], progress: Callable[[str], None], keep_stack: bool,
                 started: float) -> ScenarioResult:
    """Deploy, exercise (the job or the invocation, then the verdicts: a report, or an error), tear down
    unless kept; with the deploy's and the verdicts' times, and the template's warnings."""
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
                              verdict_seconds=done - deployed, warnings=list(stack.warnings))
    finally:
        if not keep_stack:
            stack.teardown()


def _run_job(scenario: Scenario, stack: PipelineStack, observations: StackObservations,
             progress: Callable[[str], None]) -> str | None:
    """Submit every run of the job; returns why the scenario cannot go on, or None."""
    if scenario.job is None:
        return None
    job = scenario.job_event()
    checks_result = any(expectation.kind == "result" for expectation in scenario.expect)
    for run in range(1, scenario.job.runs + 1):
        if run > 1:
            progress(f"waiting for run {run - 1} to settle")
            _wait_before_run(scenario, stack, observations, progress)
        progress(f"running the job ({len(job['file_ids'])} files)" + (f", run {run}" if run > 1 else ""))
        stack.mark_run(run)
        now = observations.reading().now
        if run == 1:
            observations.started_at = now
        observations.run_started_at.append(now)
        answer = while_running(observations, functools.partial(stack.run_job, job, scenario.job.invocation))
        observations.invoke_results.append(InvokeResult(run=run, status=answer["status"],
                                                        function_error=answer["function_error"],
                                                        body=answer["body"], at=observations.now()))
        if answer["function_error"] and not checks_result:
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


def _wait_before_run(scenario: Scenario, stack: PipelineStack, observations: StackObservations,
                     progress: Callable[[str], None]) -> None:
    from harness.expect import wait_until_settled
    from harness.expect.deadlines import between_runs_seconds
    from harness.expect.engine import wait_for_alarm

    wait_until_settled(scenario, observations, timeout=scenario.max_wait_seconds,
                       sleep=_pausing(progress, f"waiting for run {len(observations.run_started_at)} to settle"))
    condition = scenario.job.next_run_when if scenario.job else None
    if condition is None:
        return
    wait_for_alarm(observations, lambda: stack.alarm_state(condition.alarm) == condition.state,
                   until=observations.now() + between_runs_seconds(scenario, observations.platform),
                   what=f"alarm {condition.alarm} in {condition.state} before run "
                        f"{len(observations.run_started_at) + 1} ({scenario.location('job', 'next_run_when')})")
