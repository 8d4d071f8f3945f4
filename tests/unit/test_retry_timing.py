"""harness/localstack/retries.py: a retry's delay is a timer on its stack's clock that counts from the
failure, and the event is then sent undelayed; other sends go at once and count as the stack's work until
the function's poller takes them."""

from __future__ import annotations

import json
import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest

from harness import wire
from harness.localstack import clock, retries


class FakeSqs:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.ids: list[str] = []

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        self.sent.append(kwargs)
        self.ids.append(f"m-{len(self.sent)}-{uuid.uuid4().hex[:6]}")
        return {"MessageId": self.ids[-1]}

    def take_all(self) -> None:
        """The poller takes every event sent so far."""
        for message_id in self.ids:
            clock.event_taken(message_id)

    def delete_message(self, **kwargs: Any) -> str:
        return "deleted"


def body(request_id: str) -> str:
    return json.dumps({"request_id": request_id, "retries": 1})


def test_an_undelayed_send_goes_at_once_counts_until_taken_and_other_calls_pass_through(stack: str) -> None:
    sqs = FakeSqs()
    client = retries.DelaysOnTheClock(sqs, f"{stack}-worker")
    answer = client.send_message(QueueUrl="q", MessageBody=body("r0"))
    assert answer is not None and len(sqs.sent) == 1 and client.delete_message(QueueUrl="q") == "deleted"
    assert clock.busy(stack) == [f"1 event(s) for {stack}-worker queued"]
    with pytest.raises(clock.Busy):
        clock.advance(stack, clock.now_of(stack) + 60)
    clock.event_taken(answer["MessageId"])
    assert clock.busy(stack) == []


def test_a_retry_is_due_its_delay_after_the_failure_on_the_stack_clock_and_sent_undelayed(stack: str) -> None:
    sqs = FakeSqs()
    function = f"{stack}-worker"
    retries.note_failure("r1", function)
    failed_at = clock.now_of(stack)
    assert retries.DelaysOnTheClock(sqs, function).send_message(QueueUrl="q", MessageBody=body("r1"),
                                                               DelaySeconds=60) is None
    [timer] = clock.pending(stack)
    assert timer["kind"] == "retry" and timer["due"] == pytest.approx(failed_at + 60, abs=0.05)
    assert sqs.sent == []  # nothing until the stack's clock gets there
    answer = clock.advance(stack, failed_at + 3600)
    # The advance stops at the retry: the event queued for the worker is the stack's work again.
    assert answer["now"] == pytest.approx(failed_at + 60, abs=0.05)
    assert [fired["kind"] for fired in answer["fired"]] == ["retry"]
    assert sqs.sent == [{"QueueUrl": "q", "MessageBody": body("r1"), "DelaySeconds": 0}]
    assert answer["busy"] == [f"1 event(s) for {function} queued"]


def test_a_released_retry_is_told_with_its_failure_on_the_stack_clock_and_a_back_off_is_not(stack: str) -> None:
    """What `retry_delays_seconds` checks where the platform tells: when the delay after the failure ran out,
    which the machine's load does not stretch (the handler's start in the ledger comes after the poller)."""
    sqs = FakeSqs()
    function = f"{stack}-worker"
    retries.note_failure("r5", function)
    failed_at = clock.now_of(stack)
    client = retries.DelaysOnTheClock(sqs, function)
    client.send_message(QueueUrl="q", MessageBody=body("r5"), DelaySeconds=60)
    client.send_message(QueueUrl="q", MessageBody=body("r5"), DelaySeconds=5)  # a back-off: no failure before it
    assert retries.released(stack) == []  # nothing released yet
    clock.advance(stack, failed_at + 3600)  # the back-off, 5 s on
    sqs.take_all()
    clock.advance(stack, failed_at + 3600)  # the retry
    [release] = retries.released(stack)
    assert release["request_id"] == "r5" and release["function"] == function and release["delay"] == 60
    assert release["failed_at"] == pytest.approx(failed_at, abs=0.01)
    assert release["released_at"] - release["failed_at"] == pytest.approx(60, abs=0.05)
    assert retries.released(f"other-{stack}") == []  # another stack's clock state does not carry it


def test_the_failure_time_is_taken_once_so_a_later_delay_of_the_same_event_counts_from_its_send(stack: str) -> None:
    # The throttling back-off re-sends an event with a delay and follows no failed attempt.
    sqs = FakeSqs()
    function = f"{stack}-worker"
    retries.note_failure("r2", function)
    client = retries.DelaysOnTheClock(sqs, function)
    client.send_message(QueueUrl="q", MessageBody=body("r2"), DelaySeconds=60)
    clock.advance(stack, clock.now_of(stack) + 30)
    client.send_message(QueueUrl="q", MessageBody=body("r2"), DelaySeconds=60)
    first, second = (timer["due"] for timer in clock.pending(stack))
    assert second - first == pytest.approx(30, abs=0.05)


def test_a_retry_of_an_unknown_failure_waits_its_whole_delay_from_now(stack: str) -> None:
    sqs = FakeSqs()
    sent_at = clock.now_of(stack)
    retries.DelaysOnTheClock(sqs, f"{stack}-worker").send_message(QueueUrl="q", MessageBody="not json",
                                                                 DelaySeconds=120)
    [timer] = clock.pending(stack)
    assert timer["due"] == pytest.approx(sent_at + 120, abs=0.05)


def test_a_function_of_no_stack_keeps_the_wall_clock() -> None:
    assert clock.owner("someone-elses-function") is None
    assert wire.AWS_RETRY_BASE_DELAY_S == 60
    # The event-age rule both the platform and the model apply: age at the failure plus the retry's delay.
    assert wire.retry_in_time(60.5, 120, 240) and not wire.retry_in_time(60.5, 120, 150)
    assert wire.retry_in_time(3600, 120, None) and not wire.retry_in_time(6 * 3600, 1, None)


def _invocation(function: str, invoked_wall: float, retries: int) -> Any:
    """What LocalStack's `has_enough_time_for_retry` reads of a queued event."""
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function}"
    return SimpleNamespace(invocation=SimpleNamespace(invoked_arn=arn, invoke_time=invoked_wall), retries=retries)


@pytest.mark.parametrize(("age", "retried"), [(6 * 3600 - 60 - 5, True), (6 * 3600 - 60 + 5, False)])
def test_an_unset_maximum_event_age_is_aws_default_of_six_hours_on_the_stack_clock(
        stack: str, age: float, retried: bool) -> None:
    # AWS: an event is kept up to 6 hours by default. With no MaximumEventAgeInSeconds, the platform's rule
    # (LocalStack's look-ahead, on the stack's clock) retries an event whose next retry (60 s later) comes
    # within 21,600 s of its invoke, and not one whose retry would come after.
    invoked_wall = time.time()
    clock.advance(stack, clock.now_of(stack) + age)
    unset = SimpleNamespace(maximum_event_age_in_seconds=None)
    decided = retries.has_enough_time_for_retry(None, _invocation(f"{stack}-worker", invoked_wall, 0), unset)
    assert decided is retried
    # The model reads the template's unset value as None, and applies the same default.
    assert wire.retry_in_time(age, 60, None) is retried
