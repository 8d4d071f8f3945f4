"""When a template scenario's exact counts may be decided: only on evidence that nothing more is coming."""

from __future__ import annotations

import time
from types import SimpleNamespace

import psycopg
import pytest
from harness.template_runner import _Observed, _Watch

from harness.observe import ledger
from harness.observe.taps import QueueTap
from harness.records import Attempt
from harness.stack import template_stack
from harness.stack.database import EmbeddedPostgres
from harness.stack.template_stack import TemplateStack


def _watch(*attempts: Attempt, quiet_for: float = 2.0, platform_busy: list[str] | None = None) -> _Watch:
    """platform_busy: what the platform's own count says it still does for the stack (None: no count)."""
    watch = _Watch.__new__(_Watch)
    watch.scenario = SimpleNamespace(invoke=SimpleNamespace(function="Fn"))  # type: ignore[assignment]
    watch.observed = _Observed(attempts=list(attempts), last_change=time.monotonic() - quiet_for,
                               platform_busy=platform_busy)
    return watch


def _attempt(number: int, outcome: str | None, started_ago: float = 5.0, function: str = "Fn") -> Attempt:
    return Attempt(function=function, request_id="r1", attempt=number, shard_id=None, file_ids=[], event={},
                   fault=None, outcome=outcome, started_at=time.time() - started_ago,
                   ended_at=None if outcome is None else time.time() - 1)


def test_nothing_is_settled_before_the_invoked_function_has_started() -> None:
    assert not _watch().settled(max_attempts=3, timeout_s=3)
    assert not _watch(_attempt(1, "ok", function="Other")).settled(max_attempts=3, timeout_s=3)


def test_a_success_after_a_quiet_second_is_settled() -> None:
    assert _watch(_attempt(1, "ok")).settled(max_attempts=3, timeout_s=3)
    assert not _watch(_attempt(1, "ok"), quiet_for=0.2).settled(max_attempts=3, timeout_s=3)


def test_a_failure_with_retries_left_is_not_settled_and_the_last_one_is() -> None:
    assert not _watch(_attempt(1, "error")).settled(max_attempts=3, timeout_s=3)
    assert _watch(_attempt(1, "error"), _attempt(2, "error"), _attempt(3, "error")).settled(max_attempts=3,
                                                                                          timeout_s=3)


def test_an_attempt_without_an_end_is_running_until_its_timeout_has_passed() -> None:
    assert not _watch(_attempt(1, None, started_ago=1.0)).settled(max_attempts=1, timeout_s=3)
    assert _watch(_attempt(1, None, started_ago=4.0)).settled(max_attempts=1, timeout_s=3)
    # Killed (a timeout) with retries left: the retry is still to come.
    assert not _watch(_attempt(1, None, started_ago=4.0)).settled(max_attempts=3, timeout_s=3)


def test_where_the_platform_counts_its_work_and_says_idle_no_quiet_second_is_needed() -> None:
    assert _watch(_attempt(1, "ok"), quiet_for=0.0, platform_busy=[]).settled(max_attempts=3, timeout_s=3)
    # Without the platform's count, the quiet second still applies.
    assert not _watch(_attempt(1, "ok"), quiet_for=0.0).settled(max_attempts=3, timeout_s=3)


def test_while_the_platform_counts_work_for_the_stack_nothing_is_settled() -> None:
    busy = ["1 event of Fn queued or being handled"]
    assert not _watch(_attempt(1, "ok"), quiet_for=5.0, platform_busy=busy).settled(max_attempts=3, timeout_s=3)


class _Log(list):  # type: ignore[type-arg]
    pass


class _Sqs:
    """A queue of `count` messages; a receive returns at most 10, as SQS's does."""

    def __init__(self, count: int, log: _Log) -> None:
        self.bodies = [f'{{"n": {n}}}' for n in range(count)]
        self.log = log

    def receive_message(self, **_: object) -> dict[str, object]:
        self.log.append("receive")
        batch, self.bodies = self.bodies[:10], self.bodies[10:]
        return {"Messages": [{"Body": body, "ReceiptHandle": body} for body in batch]}

    def delete_message_batch(self, **_: object) -> None:
        pass


def test_a_poll_reads_the_platforms_count_first_and_then_each_source_to_its_end(postgres: EmbeddedPostgres) -> None:
    schema = "template_settling_poll"
    with psycopg.connect(postgres.url, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        connection.execute(f'CREATE SCHEMA "{schema}"')
        ledger.create(connection, schema)
    log = _Log()

    def activity() -> tuple[list[str], dict[str, int]]:
        log.append("activity")
        return [], {}

    watch = _Watch.__new__(_Watch)
    watch.stack = SimpleNamespace(activity=activity, database_url=postgres.url, schema=schema,  # type: ignore[assignment]
                                  client=lambda service: None)
    watch.started, watch.counted, watch.alarms, watch.names = time.monotonic(), True, [], {}
    watch.sources = {"queue Q": QueueTap(_Sqs(25, log), "http://queue", "Q")}
    watch.observed = _Observed()
    watch.poll()
    assert log[0] == "activity" and log.count("activity") == 1
    assert len(watch.observed.messages["queue Q"]) == 25
    assert watch.observed.platform_busy == []


def _stack(functions: dict[str, str], topics: dict[str, str]) -> TemplateStack:
    stack = TemplateStack.__new__(TemplateStack)
    stack.prefix, stack.physical, stack.topic_arns = "invalid-order-dead-lettered-0a1b2c3d", functions, topics
    stack.template = SimpleNamespace(functions=lambda: functions)  # type: ignore[assignment]
    stack.endpoint = SimpleNamespace(url="http://127.0.0.1:1")  # type: ignore[assignment]
    stack.client = lambda service: SimpleNamespace(meta=SimpleNamespace(region_name="us-east-1"))  # type: ignore[method-assign]
    return stack


def test_the_platforms_count_is_used_only_when_every_function_and_topic_carries_the_stacks_prefix(
        monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def harness_request(endpoint: object, route: str, method: str, prefix: str, *args: object,
                        **kwargs: object) -> dict[str, object]:
        asked.append(prefix)
        return {"busy": [], "waiting": {}}

    monkeypatch.setattr(template_stack, "_harness_request", harness_request)
    topic = {"AlertsTopic": "arn:aws:sns:us-east-1:000000000000:invalid-order-dead-lettered-0a1b2c3d-AlertsTopic-1"}
    named = {"Fn": "invalid-order-dead-lettered-0a1b2c3d-Fn-12345678"}
    assert _stack(named, topic).activity() == ([], {})
    # CloudFormation cut the stack's name short in a generated name: that function's work is not counted,
    # so there is no count (the quiet second decides), and LocalStack is not even asked.
    cut = {**named, "OrderHandlerFunction": "invalid-order-dead-lettered-0a1b2-OrderHandlerFunction-12345678"}
    asked.clear()
    assert _stack(cut, topic).activity() is None
    assert _stack(named, {"T": "arn:aws:sns:us-east-1:000000000000:alerts"}).activity() is None
    assert asked == []
