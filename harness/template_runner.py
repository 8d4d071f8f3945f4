"""Runs one template scenario (`harness.scenario.template_scenario`): deploy your template, invoke one of its
functions with faults injected, check the generic expectations, tear down.

Deadlines come from the invoked function as deployed: its Timeout and MaximumRetryAttempts at the
platform's retry delay (attempt n ends by n Timeouts and the delays between), plus slack for cold starts
and deliveries; `within_seconds` overrides one, and `max_wait_seconds` caps all. Counts that must be exact
are decided once the evidence settles: every attempt in the ledger has ended, the last one succeeded or
was the last Lambda makes, and the platform does nothing more for the stack. The embedded LocalStack counts
its own work for the stack (running invocations, held retries, queued events, SNS deliveries); each poll
reads that count first and every source after it, each to its end, so no quiet window is needed. Against
another LocalStack, or when a function's or topic's generated name does not carry the stack's prefix (by
which that count goes: `TemplateStack.counted_by_name`), nothing new must have been seen for a second
(`harness.expect.settling.quiet_window`, as for pipeline scenarios).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from harness import faults as fault_injection
from harness.expect.checks.verdict import Verdict, count_holds, count_text
from harness.expect.deadlines import ALARM_SLACK_SECONDS, DEADLINE_SLACK_SECONDS
from harness.expect.engine import move_clock, while_running
from harness.expect.report import Outcome, Report
from harness.expect.settling import quiet_window
from harness.expect.text import offset
from harness.observe import ledger
from harness.observe.records import Attempt, ClockReading
from harness.observe.taps import QueueTap, TappedMessage
from harness.scenario.template_scenario import (
    TemplateAlarm,
    TemplateAttempts,
    TemplateDlq,
    TemplateMessages,
    TemplateResult,
    TemplateScenario,
    TemplateSns,
    TemplateSqs,
)
from harness.stack import template as templates
from harness.stack.pipeline import unique_prefix
from harness.stack.resources import Resources
from harness.stack.template_stack import DeployError, TemplateStack
from harness.wire import StackTime

KIND_TYPES = {"function": templates.FUNCTION_TYPES, "queue": ("AWS::SQS::Queue",), "topic": ("AWS::SNS::Topic",),
              "alarm": ("AWS::CloudWatch::Alarm",)}
KIND_WORDS = {"function": "function", "queue": "SQS queue", "topic": "SNS topic", "alarm": "CloudWatch alarm"}
POLL_S = 0.1


def template_path(scenario: TemplateScenario, override: Path | None = None) -> Path:
    """`override` (`harness run --template`), else the scenario's `template:`, relative to its file."""
    return override.resolve() if override is not None else scenario.relative_path(scenario.template)


def logical_id_problems(scenario: TemplateScenario, template: templates.Template) -> list[str]:
    """Every logical ID the scenario names that the template lacks (or that is of another type), with its line."""
    problems = []
    for loc, logical in scenario.logical_ids():
        field_name = str(loc[-1])
        wanted = KIND_TYPES["function" if field_name == "function" else field_name]
        if template.resource_type(logical) not in wanted:
            have = sorted(name for name, resource in template.resources.items()
                          if isinstance(resource, dict) and resource.get("Type") in wanted)
            what = KIND_WORDS["function" if field_name == "function" else field_name]
            problems.append(f"{scenario.location(*loc)}: {logical} is not a {what} of {template.path} "
                            f"(its {what}s: {', '.join(have) or 'none'})")
    return problems


@dataclass
class _Observed:
    """What the scenario's stack has shown so far."""

    attempts: list[Attempt] = field(default_factory=list)
    messages: dict[str, list[TappedMessage]] = field(default_factory=dict)
    alarm_states: dict[str, list[str]] = field(default_factory=dict)
    """Alarm logical ID -> the states it entered, oldest first (its CloudWatch history)."""
    last_change: float = 0.0
    timeline: list[tuple[float, str]] = field(default_factory=list)
    platform_busy: list[str] | None = None
    """What the platform still does for the stack by its own count, read at the start of the last poll;
    None where it has no such count."""
    reading: ClockReading | None = None
    """The stack's clock at the last poll."""


class _Watch:
    def __init__(self, stack: TemplateStack, scenario: TemplateScenario, started: float,
                 counted: bool = False) -> None:
        self.stack, self.scenario, self.started = stack, scenario, started
        self.counted = counted  # the platform counts its work for the stack and has its clock
        self.time = StackTime()
        self.observed = _Observed(last_change=time.monotonic())
        self.sources: dict[str, QueueTap] = {}
        sqs = stack.client("sqs")
        for expectation in scenario.expect:
            if isinstance(expectation, TemplateSqs):
                self.sources.setdefault(f"queue {expectation.queue}", QueueTap(
                    sqs, stack.physical[expectation.queue], expectation.queue))
            elif isinstance(expectation, TemplateSns):
                self.sources.setdefault(f"topic {expectation.topic}", stack.taps[expectation.topic])
            elif isinstance(expectation, TemplateDlq):
                self.sources.setdefault(f"dlq {expectation.function}", self._dead_letter_source(expectation.function))
        self.alarms = sorted({e.alarm for e in scenario.expect if isinstance(e, TemplateAlarm)})
        self.names = {stack.physical[logical]: logical for logical in (stack.template.functions() if stack.template
                                                                       else {})}

    def _dead_letter_source(self, function: str) -> QueueTap:
        config = self.stack.client("lambda").get_function_configuration(FunctionName=self.stack.physical[function])
        target = (config.get("DeadLetterConfig") or {}).get("TargetArn")
        if not target:
            raise DeployError(f"{self.scenario.location('expect')}: function {function} has no DeadLetterConfig "
                              "in the template, so it has no dead letters to expect")
        if target.split(":")[2] == "sqs":
            url = self.stack.client("sqs").get_queue_url(QueueName=target.rsplit(":", 1)[-1])["QueueUrl"]
            return QueueTap(self.stack.client("sqs"), url, f"{function} dead letters")
        for key, arn in self.stack.topic_arns.items():
            if arn == target:
                return self.stack.taps[key]
        raise DeployError(f"function {function}'s dead-letter topic {target} is not one of the template's topics")

    def reading(self) -> ClockReading:
        state = self.stack.clock_state() if self.counted else None
        if state is None:
            return ClockReading(now=time.time(), busy=None)
        self.time = StackTime.of(state)
        return ClockReading(now=float(state["now"]), busy=list(state["busy"]), wakeups=list(state.get("timers") or []))

    def advance_clock(self, until: float, *, stop_at_change: bool) -> dict[str, Any] | None:
        return self.stack.advance_clock(until, stop_at_change=stop_at_change) if self.counted else None

    def poll(self) -> None:
        now = time.monotonic()
        # The platform's count first: whatever it finished before it said idle is in the sources read next.
        self.observed.reading = self.reading()
        self.observed.platform_busy = self.observed.reading.busy
        if self.observed.platform_busy:
            self.observed.last_change = now  # what it finishes is a change too
        for name, source in self.sources.items():
            fresh = source.drain()  # to its end: a receive returns at most 10
            if fresh:
                self.observed.messages.setdefault(name, []).extend(fresh)
                self.observed.last_change = now
                self.observed.timeline += [(now - self.started, f"message on {name}") for _ in fresh]
        cloudwatch = self.stack.client("cloudwatch")
        for alarm in self.alarms:
            items = cloudwatch.describe_alarm_history(AlarmName=self.stack.physical[alarm],
                                                      HistoryItemType="StateUpdate")["AlarmHistoryItems"]
            states = [json.loads(item["HistoryData"])["newState"]["stateValue"]
                      for item in sorted(items, key=lambda item: item["Timestamp"])]
            if states != self.observed.alarm_states.get(alarm, []):
                fresh = states[len(self.observed.alarm_states.get(alarm, [])):]
                self.observed.timeline += [(now - self.started, f"alarm {alarm} entered {state}") for state in fresh]
                self.observed.alarm_states[alarm] = states
        with psycopg.connect(self.stack.database_url, autocommit=True) as connection:
            attempts = [dataclasses.replace(a, started_at=self.time.at(a.started_at),
                                            ended_at=None if a.ended_at is None else self.time.at(a.ended_at))
                        for a in ledger.attempts(connection, self.stack.schema, self.names)]
        if [(a.request_id, a.attempt, a.outcome) for a in attempts] != \
                [(a.request_id, a.attempt, a.outcome) for a in self.observed.attempts]:
            self.observed.last_change = now
            self.observed.attempts = attempts

    def settled(self, max_attempts: int, timeout_s: float) -> bool:
        """The invoked function has started, every attempt ended (an attempt the wrapper could not see end,
        killed by a timeout or a crash, is over once the function's Timeout has passed), no retry is to
        come, and the platform is idle for the stack by its count (else a second of quiet)."""
        if self.observed.platform_busy or (self.observed.reading and self.observed.reading.owed()):
            return False
        quiet = quiet_window(self.observed.platform_busy is not None)
        if time.monotonic() - self.observed.last_change < quiet:
            return False
        # The invocation was submitted: until its first attempt is in the ledger (an event can wait in
        # Lambda's queue, and a cold start under load takes more than the quiet second), nothing is settled.
        if not any(attempt.function == self.scenario.invoke.function for attempt in self.observed.attempts):
            return False
        last: dict[str, Attempt] = {}
        for attempt in self.observed.attempts:
            if attempt.request_id not in last or attempt.attempt > last[attempt.request_id].attempt:
                last[attempt.request_id] = attempt
        for attempt in last.values():
            now = self.observed.reading.now if self.observed.reading else time.time()
            running = attempt.outcome is None and now < attempt.started_at + timeout_s + 0.5 and \
                self.observed.platform_busy is None
            if running or (attempt.outcome != "ok" and attempt.attempt < max_attempts):
                return False
        return True


def _fields_match(message: TappedMessage, fields: dict[str, Any]) -> bool:
    if not fields:
        return True
    try:
        body = json.loads(message.message)
    except ValueError:
        return False
    return isinstance(body, dict) and all(body.get(key) == value for key, value in fields.items())


def _verdict(expectation: Any, watch: _Watch, response: dict[str, Any]) -> Verdict:
    observed = watch.observed
    if isinstance(expectation, TemplateAttempts):
        name = expectation.function
        requests: dict[str, int] = {}
        for attempt in observed.attempts:
            if attempt.function == name:
                requests[attempt.request_id] = max(requests.get(attempt.request_id, 0), attempt.attempt)
        holds = (expectation.invocations is None or len(requests) == expectation.invocations) and \
            (expectation.attempts_each is None or all(n == expectation.attempts_each for n in requests.values()))
        wanted = [f"exactly {expectation.invocations} invocation(s)" if expectation.invocations is not None else "",
                  f"each with {expectation.attempts_each} attempt(s)" if expectation.attempts_each else ""]
        return Verdict(holds, f"{name}: " + ", ".join(w for w in wanted if w),
                       f"{len(requests)} invocation(s) with attempts {sorted(requests.values())}")
    if isinstance(expectation, TemplateMessages):
        source = {TemplateSqs: "queue {0.queue}", TemplateSns: "topic {0.topic}",
                  TemplateDlq: "dlq {0.function}"}[type(expectation)].format(expectation)
        seen = observed.messages.get(source, [])
        matching = [m for m in seen if _fields_match(m, expectation.fields)
                    and (not isinstance(expectation, TemplateSns) or expectation.subject in (None, m.subject))]
        where = "" if not expectation.fields else f" with fields {json.dumps(expectation.fields)}"
        return Verdict(count_holds(len(matching), expectation.count, expectation.min_count),
                       f"{count_text(expectation.count, expectation.min_count)} message(s) on {source}{where}",
                       f"{len(matching)} matching of {len(seen)}")
    if isinstance(expectation, TemplateAlarm):
        states = observed.alarm_states.get(expectation.alarm, [])
        entered_never = [state for state in states if state in expectation.never]
        remaining = iter(states)
        in_order = all(any(state == wanted for state in remaining) for wanted in expectation.transitions)
        wanted_text = [f"to enter {' then '.join(expectation.transitions)}" if expectation.transitions else "",
                       f"never to enter {', '.join(expectation.never)}" if expectation.never else ""]
        return Verdict(in_order and not entered_never,
                       f"alarm {expectation.alarm} " + " and ".join(w for w in wanted_text if w),
                       f"entered {' then '.join(states) or 'nothing'}", final=bool(entered_never))
    assert isinstance(expectation, TemplateResult)
    problems = []
    if expectation.status is not None and response.get("status") != expectation.status:
        problems.append(f"status {response.get('status')}")
    if expectation.function_error is not None:
        wanted_error = None if expectation.function_error == "none" else expectation.function_error
        if response.get("function_error") != wanted_error:
            problems.append(f"function error {response.get('function_error')}")
    body = response.get("body")
    for key, value in expectation.body_fields.items():
        if not isinstance(body, dict) or body.get(key) != value:
            problems.append(f"{key}={body.get(key) if isinstance(body, dict) else body!r}")
    expected = ", ".join([*(f"status {expectation.status}" for _ in [1] if expectation.status is not None),
                          *(f"function error {expectation.function_error}" for _ in [1]
                            if expectation.function_error is not None),
                          *(f"{k}={v!r}" for k, v in expectation.body_fields.items())]) or "an answer"
    return Verdict(not problems, expected, "; ".join(problems) or "as expected", final=True)


def _deadline(scenario: TemplateScenario, stack: TemplateStack,
              retry_base_delay_s: float) -> tuple[float, int, float]:
    """(seconds from the invocation by which everything should be seen, attempts Lambda makes per event,
    the function's Timeout)."""
    name = stack.physical[scenario.invoke.function]
    lam = stack.client("lambda")
    timeout = float(lam.get_function_configuration(FunctionName=name)["Timeout"])
    retries = 0
    if scenario.invoke.invocation == "event":
        try:
            retries = int(lam.get_function_event_invoke_config(FunctionName=name).get("MaximumRetryAttempts", 2))
        except lam.exceptions.ResourceNotFoundException:
            retries = 2
    attempts = 1 + retries
    walk = attempts * (timeout + 1.0) + sum(n * retry_base_delay_s for n in range(1, attempts))
    return walk + DEADLINE_SLACK_SECONDS + 2.0, attempts, timeout


def alarm_topics(template: templates.Template) -> dict[str, str]:
    """Topic logical ID -> the alarm (logical ID) whose actions notify it: messages there follow the
    alarm's evaluation clock, not the function's attempts."""
    found: dict[str, str] = {}
    for logical, resource in template.resources.items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        properties = resource.get("Properties") or {}
        for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            for action in properties.get(key) or []:
                if isinstance(action, dict) and isinstance(action.get("Ref"), str):
                    found.setdefault(action["Ref"], logical)
    return found


def _deadlines(scenario: TemplateScenario, stack: TemplateStack, deadline: float) -> list[float]:
    """Each expectation's deadline on the stack's clock: its within_seconds, else the invocation's walk; an
    alarm's adds one evaluation interval per state to enter and one more."""
    deadlines = []
    cloudwatch = stack.client("cloudwatch")
    notified = alarm_topics(stack.template) if stack.template else {}
    for expectation in scenario.expect:
        derived = deadline
        alarm_id = expectation.alarm if isinstance(expectation, TemplateAlarm) else \
            notified.get(expectation.topic) if isinstance(expectation, TemplateSns) else None
        if alarm_id is not None:
            [alarm] = cloudwatch.describe_alarms(AlarmNames=[stack.physical[alarm_id]])["MetricAlarms"]
            interval = float(alarm["Period"]) * int(alarm["EvaluationPeriods"])
            states = len(expectation.transitions) if isinstance(expectation, TemplateAlarm) else 1
            derived = deadline + (states + 1) * interval + ALARM_SLACK_SECONDS
        deadlines.append(expectation.within_seconds or derived)
    return deadlines


def run_template_scenario(scenario: TemplateScenario, resources: Resources,
                          progress: Callable[[str], None] = lambda _: None, keep_stack: bool = False,
                          template: Path | None = None) -> Any:
    from harness.runner import ScenarioResult, run_on_stack

    started = time.monotonic()
    path = template_path(scenario, template)
    try:
        loaded = templates.load(path)
    except templates.TemplateError as error:
        return ScenarioResult(scenario, None, 0.0, error=f"{scenario.location('template')}: {error}")
    problems = logical_id_problems(scenario, loaded)
    if problems:
        return ScenarioResult(scenario, None, 0.0, error="\n".join(problems))
    parameters = templates.parameter_values(scenario.parameters)
    stack = TemplateStack(resources.endpoint(), resources.database_url(), unique_prefix(scenario.name), path,
                          parameters)

    def deploy() -> None:
        stack.deploy_stack()
        assert stack.template is not None
        for logical, resource in stack.template.resources.items():
            if isinstance(resource, dict) and resource.get("Type") == "AWS::SNS::Topic":
                stack.find_tap(logical, stack.physical[logical])
        stack.register_faults({stack.physical[function]: fault_injection.fault_plan(list(scenario.faults), function)
                               for function in stack.template.functions()})

    def exercise(deployed: float) -> Report | str:
        clocked = set(alarm_topics(loaded))
        platform = resources.platform()
        deadline, max_attempts, timeout_s = _deadline(scenario, stack, platform.retry_base_delay_s)
        deadlines = _deadlines(scenario, stack, deadline)
        watch = _Watch(stack, scenario, deployed, counted=platform.virtual_clock)
        progress("invoking")
        started = watch.reading().now
        response = while_running(watch, lambda: _invoke(stack, scenario))
        watch.observed.timeline.append((0.0, f"invoked {scenario.invoke.function}: status {response['status']}"))
        progress("checking expectations")
        return _evaluate(scenario, watch, response, deadlines, max_attempts, timeout_s, started, clocked)

    return run_on_stack(scenario, stack, deploy, exercise, progress, keep_stack, started)


def _invoke(stack: TemplateStack, scenario: TemplateScenario) -> dict[str, Any]:
    response = stack.client("lambda").invoke(
        FunctionName=stack.physical[scenario.invoke.function], Payload=json.dumps(scenario.invoke.event).encode(),
        InvocationType="Event" if scenario.invoke.invocation == "event" else "RequestResponse")
    payload = response["Payload"].read()
    try:
        body = json.loads(payload) if payload else None
    except ValueError:
        body = payload.decode(errors="replace")
    return {"status": response["StatusCode"], "function_error": response.get("FunctionError"), "body": body}


def _evaluate(scenario: TemplateScenario, watch: _Watch, response: dict[str, Any], deadlines: list[float],
              max_attempts: int, timeout_s: float, started: float, alarm_clocked: set[str]) -> Report:
    decided: dict[int, tuple[Verdict, float, str]] = {}
    wall_started = time.monotonic()
    while True:
        watch.poll()
        reading = watch.observed.reading
        assert reading is not None  # poll() read it
        now = reading.now - started
        settled = watch.settled(max_attempts, timeout_s)
        for index, expectation in enumerate(scenario.expect):
            if index in decided:
                continue
            verdict = _verdict(expectation, watch, response)
            # An alarm, and a topic its actions notify, move on the alarm's clock: a settled function says
            # nothing about them.
            settles = settled and not isinstance(expectation, TemplateAlarm) and not (
                isinstance(expectation, TemplateSns) and expectation.topic in alarm_clocked)
            if now >= deadlines[index]:
                decided[index] = (verdict, now, "at the deadline")
            elif verdict.final and not verdict.holds:
                decided[index] = (verdict, now, "for good")
            elif expectation.needs_whole_window:
                continue  # something that must never happen: watched until the deadline
            elif verdict.holds and (expectation.monotone or verdict.final or settles):
                decided[index] = (verdict, now, "held" if expectation.monotone or verdict.final else "settled")
            elif verdict.final or settles:
                decided[index] = (verdict, now, "settled: nothing more was on its way")
        if len(decided) == len(scenario.expect):
            break
        if time.monotonic() - wall_started >= scenario.max_wait_seconds:
            for index in range(len(scenario.expect)):
                decided.setdefault(index, (_verdict(scenario.expect[index], watch, response), now,
                                           "after max_wait_seconds of wall time"))
            break
        horizon = min(deadlines[index] for index in range(len(scenario.expect)) if index not in decided)
        if not move_clock(watch, reading, started + horizon):
            time.sleep(POLL_S)
    outcomes = []
    for index, expectation in enumerate(scenario.expect):
        verdict, at, note = decided[index]
        outcomes.append(Outcome(expectation, scenario.location("expect", index), verdict.holds,
                                verdict.expected, verdict.observed, deadline=deadlines[index], decided_at=at,
                                note=f"{note}, {offset(at)}"))
    timeline = sorted([*watch.observed.timeline,
                       *((a.started_at - started,
                          f"{a.function} attempt {a.attempt} ({a.request_id[:8]}): "
                          f"{'fault ' + a.fault if a.fault else 'no fault'}, {a.outcome or 'killed or running'}")
                         for a in watch.observed.attempts)])
    return Report(scenario.name, outcomes, timeline=[f"{offset(t):>9}  {text}" for t, text in timeline],
                  elapsed=max((at for _, at, _ in decided.values()), default=0.0),
                  wall_seconds=time.monotonic() - wall_started)
