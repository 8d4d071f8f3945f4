"""`harness check`: judge a scenario's expectations on a stack that is already up (`harness up --scenario`),
after its job was triggered by hand, once or more.

Each run made by hand is an invocation of the function the job triggers (`harness.observe.runs`). The check
says which runs it saw; without `--job` it judges them together, with `--job N` run N alone.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def positive_run(text: str) -> int:
    """`--job`'s value: a run number, 1 or more."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a run number (1, 2, ...), not {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"runs are counted from 1, not {number}")
    return number


def cmd_check(args: argparse.Namespace) -> int:
    """Evaluate a scenario's expectations against what happened on a stack that is already up (moving its
    clock over idle time, as a scenario run does, so that what is due comes)."""
    from harness.expect import evaluate
    from harness.model import platform
    from harness.observe.runs import hand_runs
    from harness.runner import build_stack_at, observe_stack
    from harness.scenario import ScenarioError, load_scenario
    from harness.services import Endpoint
    from harness.stack.template_stack import DeployError

    try:
        scenario = load_scenario(args.path)
    except ScenarioError as error:
        print(str(error), file=sys.stderr)
        return 2
    database_url = args.database_url or os.environ.get("DATABASE_URL")
    if not database_url:
        print("harness check: give --database-url or DATABASE_URL (harness up --deploy prints it)", file=sys.stderr)
        return 2
    endpoint = Endpoint(args.endpoint, allow_remote=args.allow_remote_endpoint or None)
    stack = build_stack_at(scenario, endpoint, database_url, args.prefix)
    try:
        stack.attach()
    except DeployError as error:
        print(f"harness check: {error}", file=sys.stderr)
        return 2
    timing = platform.attached(endpoint.url)
    print(f"harness: {timing.describe()}", file=sys.stderr)
    observations = observe_stack(scenario, stack, timing)
    now = observations.reading().now
    starts = hand_runs(observations.attempts(), scenario.invoked())
    noun = _runs_noun(scenario, stack)
    problem = _job_problem(scenario, args.job, starts, noun)
    if problem:
        print(f"harness check: {problem}", file=sys.stderr)
        return 2
    print(f"harness check: {_seen_text(scenario, args.job, starts, noun)}", flush=True)
    judged = _judged(scenario, observations, starts, args.job, now)
    try:
        report = evaluate(scenario, judged)
    finally:
        for tap in stack.taps.values():
            tap.release()  # the next check sees every message again
    print(report.render())
    if args.job is not None:
        _say_overlaps(observations, starts, args.job)
    return 0 if report.passed else 1


def _runs_noun(scenario: Any, stack: Any) -> str:
    """What the runs are, after "N run(s)": "of the job (invocations of pipeline-orchestrator)"."""
    invoked = scenario.invoked()
    function = stack.function_names.get(invoked, invoked)
    return f"{'of the job ' if scenario.is_pipeline else ''}(invocations of {function})"


def _runs(count: int, noun: str) -> str:
    """ "2 runs of the job (...)", "1 run of the job (...)", "no run of the job (...)"."""
    return f"{count or 'no'} run{'' if count == 1 or not count else 's'} {noun}"


def _job_problem(scenario: Any, job: int | None, starts: list[float], noun: str) -> str | None:
    """Why `--job` cannot be honoured, or None."""
    from harness.observe.runs import runs_text

    if job is None:
        return None
    if scenario.runs() > 1:
        return (f"--job {job} checks one run of a job that runs once, but scenario {scenario.name} runs it "
                f"{scenario.runs()} times ({scenario.location('job', 'runs')}: job.runs): trigger it that many "
                "times and check without --job")
    if not starts:
        return (f"--job {job}, but the ledger holds {_runs(0, noun)} yet: trigger the job first (the TRIGGER_AWS_CLI "
                "line harness up --scenario printed)")
    if job > len(starts):
        return f"--job {job}, but the ledger holds {_runs(len(starts), noun)}: {runs_text(starts)}"
    return None


def _seen_text(scenario: Any, job: int | None, starts: list[float], noun: str) -> str:
    """Which runs the check saw, and which it judges."""
    from harness.observe.runs import runs_text

    if not starts:
        return f"saw {_runs(0, noun)} yet; checking from now"
    seen = f"saw {_runs(len(starts), noun)}: {runs_text(starts)}"
    if job is not None:
        return f"{seen}; checking run {job} only (--job {job})"
    if len(starts) == 1:
        return seen
    expected = scenario.runs()
    together = f"checking all {len(starts)} together"
    if expected != len(starts):
        together += (f", though scenario {scenario.name} expects {expected} "
                     f"({scenario.location('job', 'runs')}); give --job N to check run N alone")
    return f"{seen}; {together}"


def _judged(scenario: Any, observations: Any, starts: list[float], job: int | None, now: float) -> Any:
    """The observations the expectations are judged on: every run seen, or run `job` alone."""
    from harness.observe.runs import OneRun

    if job is not None:
        alarm_topics = frozenset(topic for topic in scenario.topics() if scenario.alarms_notifying(topic))
        return OneRun(observations, starts, job, cumulative_topics=alarm_topics)
    # Before any run, the job's start is now (what is judged is that nothing happened).
    observations.run_started_at[:] = starts or [now]
    observations.started_at = observations.run_started_at[0]
    return observations


def _say_overlaps(observations: Any, starts: list[float], job: int) -> None:
    """Warn when runs overlapped: what happened after a run started was counted to it, whichever run made it."""
    from harness.observe.runs import overlaps

    found = overlaps(observations.attempts(), starts)
    if found:
        print(f"harness check: the runs overlap ({'; '.join(found[:3])}), so run {job}'s part is uncertain: "
              "whatever happened after a run started is counted to that run. For runs of their own, trigger the "
              "next run only after `harness check` of the previous one has ended.", flush=True)
