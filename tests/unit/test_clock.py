"""The stack clock (harness/localstack/clock.py): the wall clock plus an offset that only grows while none
of the stack's code runs; moved from wake-up to wake-up by `advance`, refused while the stack is busy;
waits that suspend their invocation; timers fired in real time or by an advance; and its history, by which
wall moments recorded by the stack convert to its time."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from harness.localstack import alarms, clock
from harness.wire import StackTime


def test_a_name_belongs_to_the_stack_of_its_prefix_or_of_its_registration(stack: str) -> None:
    assert clock.owner(f"{stack}-worker") == stack
    assert clock.owner("GeneratedName-ABC123") is None
    clock.register_name("GeneratedName-ABC123", stack)
    assert clock.owner("GeneratedName-ABC123") == stack
    with clock.deploying(stack):
        assert clock.owner("an-alarm-being-created") == stack
    assert clock.owner("an-alarm-being-created") is None


def test_an_idle_stack_moves_to_until_and_its_history_converts_wall_moments(stack: str) -> None:
    before_wall = time.time()
    answer = clock.advance(stack, clock.now_of(stack) + 86400)
    assert answer["offset"] == pytest.approx(86400, abs=0.1) and answer["fired"] == [] and answer["busy"] == []
    assert clock.now_of(stack) - time.time() == pytest.approx(86400, abs=0.1)
    # A wall moment before the move is on the old offset, one after it on the new one.
    times = StackTime.of(clock.state(stack))
    assert times.at(before_wall) == pytest.approx(before_wall)
    assert times.at(time.time()) == pytest.approx(time.time() + 86400, abs=0.1)
    assert times.at(before_wall) == clock.stack_time(stack, before_wall)  # one arithmetic, both sides
    # A clock never goes back.
    clock.advance(stack, clock.now_of(stack) - 1000)
    assert clock.offset_of(stack) == pytest.approx(86400, abs=0.1)


def test_other_stacks_and_the_wall_clock_are_not_moved(stack: str) -> None:
    other = f"{stack}x"
    clock.register(other)
    try:
        clock.advance(stack, clock.now_of(stack) + 600)
        assert clock.offset_of(other) == 0.0
        assert clock.now_of(None) == pytest.approx(time.time(), abs=0.05)
    finally:
        clock.forget(other)


def test_an_advance_is_refused_while_code_of_the_stack_runs(stack: str) -> None:
    token = clock.begin("running", f"{stack}-worker", request="req-1")
    try:
        with pytest.raises(clock.Busy) as refused:
            clock.advance(stack, clock.now_of(stack) + 60)
        assert refused.value.reasons == [f"1 invocation(s) of {stack}-worker running"]
        assert clock.offset_of(stack) == 0.0
    finally:
        clock.end(token)
    assert clock.busy(stack) == []


def test_an_advance_stops_at_each_timer_in_order_and_at_work_it_starts(stack: str) -> None:
    start = clock.now_of(stack)
    fired: list[str] = []
    tokens: list[int] = []
    clock.schedule(f"{stack}-fn", start + 120, lambda: fired.append("second") or None, kind="retry", what="2nd")

    def first() -> None:
        fired.append("first")
        tokens.append(clock.begin("queued", f"{stack}-fn"))  # the retry's event, queued: work again

    clock.schedule(f"{stack}-fn", start + 60, first, kind="retry", what="1st")
    answer = clock.advance(stack, start + 3600)
    assert fired == ["first"] and answer["now"] == pytest.approx(start + 60, abs=0.05)
    assert answer["busy"] == [f"1 event(s) for {stack}-fn queued"]
    clock.end(tokens.pop())
    answer = clock.advance(stack, start + 3600)
    assert fired == ["first", "second"] and answer["now"] == pytest.approx(start + 3600, abs=0.05)


def test_stop_at_change_ends_the_advance_at_a_timer_that_reports_one(stack: str) -> None:
    start = clock.now_of(stack)
    clock.schedule(f"{stack}-alarm", start + 60, lambda: {"alarm": "a", "state": "ALARM"}, kind="alarm", what="a")
    clock.schedule(f"{stack}-alarm", start + 120, lambda: None, kind="alarm", what="b")
    answer = clock.advance(stack, start + 600, stop_at_change=True)
    assert answer["changes"] == [{"alarm": "a", "state": "ALARM"}]
    assert answer["now"] == pytest.approx(start + 60, abs=0.05)
    assert [timer["what"] for timer in clock.pending(stack)] == ["b"]


def test_a_suspending_wait_lets_the_stack_go_idle_and_ends_when_the_clock_reaches_it(stack: str) -> None:
    function = f"{stack}-worker"
    token = clock.begin("running", function, request="req-7")
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(clock.sleep(function, 900, request="req-7")))
    try:
        waiter.start()
        deadline = time.monotonic() + 5
        while clock.busy(stack) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert clock.busy(stack) == []  # the invocation waits on the clock: none of its code runs
        [wakeup] = clock.pending(stack)
        assert wakeup["kind"] == "wait"
        answer = clock.advance(stack, clock.now_of(stack) + 3600)
        # The wait fell due: its invocation runs again, so the advance stopped there.
        assert answer["now"] == pytest.approx(wakeup["due"], abs=0.05)
        assert answer["busy"] == [f"1 invocation(s) of {function} running"]
        waiter.join(5)
        assert woke == [True]
    finally:
        clock.end(token)


def test_a_wait_that_does_not_suspend_keeps_its_invocation_running(stack: str) -> None:
    function = f"{stack}-worker"
    token = clock.begin("running", function, request="req-8")
    stop = threading.Event()
    waiter = threading.Thread(target=lambda: clock.wait_until(function, clock.now(function) + 900,
                                                              request="req-8", stop=stop.is_set))
    try:
        waiter.start()
        time.sleep(0.05)
        assert clock.busy(stack) == [f"1 invocation(s) of {function} running"]
    finally:
        stop.set()
        clock.notify()
        waiter.join(5)
        clock.end(token)


def test_timers_of_a_clock_nobody_moves_fire_in_real_time(stack: str) -> None:
    fired = threading.Event()
    clock.schedule(f"{stack}-fn", clock.now_of(stack) + 0.2, lambda: fired.set() or None, kind="retry", what="r")
    assert not fired.is_set()
    assert fired.wait(5)


def test_a_forgotten_stack_cancels_its_timers(stack: str) -> None:
    fired = threading.Event()
    clock.schedule(f"{stack}-fn", clock.now_of(stack) + 0.2, lambda: fired.set() or None, kind="retry", what="r")
    clock.forget(stack)
    assert not fired.wait(0.5)
    with pytest.raises(clock.UnknownStack):
        clock.advance(stack, clock.now_of(stack) + 1)


class _Calls:
    """A stand-in for a client or the provider: records each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, Any]] = []

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> str:
            self.calls.append((name, args, kwargs))
            return name

        return call


def test_an_alarm_evaluation_reads_metric_data_from_the_provider_and_the_rest_through_the_client() -> None:
    client, provider = _Calls(), _Calls()
    metrics = alarms.ProviderMetrics(client, "000000000000", "eu-west-1", provider=provider)
    queries = [{"Id": "m1", "MetricStat": {"Metric": {"MetricName": "Errors"}, "Period": 60, "Stat": "Sum"}}]
    assert metrics.get_metric_data(MetricDataQueries=queries, StartTime="start", EndTime="end") == "get_metric_data"
    (name, args, _), = provider.calls
    context = args[0]
    assert (name, context.account_id, context.region, args[1:]) == (
        "get_metric_data", "000000000000", "eu-west-1", (queries, "start", "end"))
    assert metrics.describe_alarms(AlarmNames=["a"]) == "describe_alarms"  # the rest: through the client
    assert [call[0] for call in client.calls] == ["describe_alarms"]


def test_wait_idle_returns_when_the_stacks_code_stops_and_not_before(stack: str) -> None:
    token = clock.begin("running", f"{stack}-worker", request="req-9")
    threading.Timer(0.2, clock.end, args=(token,)).start()
    started = time.monotonic()
    clock.wait_idle(stack, 5.0)
    assert 0.15 <= time.monotonic() - started < 2.0  # woken by the end, not by the timeout
    assert clock.busy(stack) == []
    held = clock.begin("running", f"{stack}-worker", request="req-10")
    try:
        started = time.monotonic()
        clock.wait_idle(stack, 0.2)
        assert time.monotonic() - started >= 0.2  # still busy: it waited its timeout out
    finally:
        clock.end(held)
