"""When a template scenario's exact counts may be decided: only on evidence that nothing more is coming."""

from __future__ import annotations

import time
from types import SimpleNamespace

import psycopg

from harness.observe import ledger
from harness.observe.records import Attempt
from harness.observe.taps import QueueTap
from harness.stack.database import EmbeddedPostgres
from harness.template_runner import _Observed, _Watch, counted_by_name


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


def _stack(functions: dict[str, str], topics: dict[str, str]) -> SimpleNamespace:
    return SimpleNamespace(prefix="invalid-order-dead-lettered-0a1b2c3d", physical=functions, topic_arns=topics,
                           template=SimpleNamespace(functions=lambda: functions), client=lambda service: None)


def test_the_platforms_count_is_trusted_only_when_every_function_and_topic_carries_the_stacks_prefix() -> None:
    topic = {"AlertsTopic": "arn:aws:sns:us-east-1:000000000000:invalid-order-dead-lettered-0a1b2c3d-AlertsTopic-1"}
    named = {"Fn": "invalid-order-dead-lettered-0a1b2c3d-Fn-12345678"}
    assert counted_by_name(_stack(named, topic))  # type: ignore[arg-type]
    # CloudFormation cut the stack's name short in a generated name: that function's work is not counted.
    cut = {**named, "OrderHandlerFunction": "invalid-order-dead-lettered-0a1b2-OrderHandlerFunction-12345678"}
    assert not counted_by_name(_stack(cut, topic))  # type: ignore[arg-type]
    assert not counted_by_name(_stack(named, {"T": "arn:aws:sns:us-east-1:000000000000:alerts"}))  # type: ignore[arg-type]
    # A watch on such a stack keeps the quiet second, even on a platform that counts its work.
    scenario = SimpleNamespace(expect=[])
    assert _Watch(_stack(named, topic), scenario, 0.0, counted=True).counted  # type: ignore[arg-type]
    assert not _Watch(_stack(cut, topic), scenario, 0.0, counted=True).counted  # type: ignore[arg-type]
    assert not _Watch(_stack(named, topic), scenario, 0.0, counted=False).counted  # type: ignore[arg-type]
