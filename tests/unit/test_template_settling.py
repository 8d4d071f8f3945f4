"""When a template scenario's exact counts may be decided: the one engine's settling rules (`Settling`) on a
template of one's own, as on the pipeline: on the platform's count where it counts the stack's work, else on
what the template says follows a failure (retries, the dead-letter queue) and a quiet second."""

from __future__ import annotations

from pathlib import Path

from harness.expect.settling import HANDOFF_WAIT_SECONDS, Settling
from harness.expect.snapshot import Snapshot
from harness.model.platform import Platform
from harness.scenario import TemplateScenario, load_scenario
from tests.support.fakes import FakeClock, FakeObservations

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "order-handler" / "scenarios"
FUNCTION = "OrderHandlerFunction"
EVENT = {"order_id": "o-2", "sku": "SKU-1", "quantity": 0}
REAL_TIME = Platform("a LocalStack without stack clocks", virtual_clock=False)


def scenario() -> TemplateScenario:
    loaded = load_scenario(EXAMPLE / "invalid-order-dead-lettered.yaml")
    assert isinstance(loaded, TemplateScenario)
    return loaded


def observe(busy: list[str] | None = None, counted: bool = False) -> tuple[FakeObservations, FakeClock]:
    clock = FakeClock()
    observations = FakeObservations(clock, started_at=clock.now, platform=REAL_TIME)
    if counted:
        observations.platform_activity = lambda _offset: list(busy or [])
    return observations, clock


def pending_at(settling: Settling, observations: FakeObservations, clock: FakeClock, offset: float) -> list[str]:
    clock.now = observations.started_at + offset
    return settling.pending(Snapshot(settling.scenario, observations))


def failing_attempts(observations: FakeObservations, count: int) -> float:
    """`count` failing attempts of one event, spaced as Lambda's retries; returns when the last ended."""
    return observations.add_invocation(FUNCTION, EVENT, ["error"] * count, at=0.1, request_id="r1",
                                       retry_delays=(60.0, 120.0))


def test_nothing_is_settled_before_the_invoked_function_has_started() -> None:
    observations, clock = observe()
    settling = Settling(scenario())
    assert f"run 1 has no {FUNCTION} attempt yet" in pending_at(settling, observations, clock, 0.5)


def test_a_failure_with_retries_left_waits_for_its_retry() -> None:
    observations, clock = observe()
    failing_attempts(observations, 1)
    pending = pending_at(Settling(scenario()), observations, clock, 30.0)
    assert any(f"{FUNCTION}" in reason and "failed attempt 1; its retry is due by" in reason for reason in pending)


def test_the_last_failure_waits_for_its_dead_letter_then_settles_after_a_quiet_second() -> None:
    observations, clock = observe()
    settling = Settling(scenario())
    end = failing_attempts(observations, 3)  # MaximumRetryAttempts 2: three attempts
    pending = pending_at(settling, observations, clock, end + 0.5)
    assert f"1 {FUNCTION} events exhausted their attempts, 0 dead-lettered" in pending
    observations.add_message("OrderDeadLetterQueue", EVENT, at=end + 0.6)
    # Seen at the poll at +0.7 s: quiet for a second from there.
    assert pending_at(settling, observations, clock, end + 0.7) == ["last observation 0.00 s ago"]
    assert pending_at(settling, observations, clock, end + 1.6) != []
    assert pending_at(settling, observations, clock, end + 1.7) == []


def test_a_dead_letter_that_never_comes_is_waited_for_only_a_hand_off() -> None:
    observations, clock = observe()
    settling = Settling(scenario())
    end = failing_attempts(observations, 3)
    assert pending_at(settling, observations, clock, end + HANDOFF_WAIT_SECONDS + 1.1) == []


def test_where_the_platform_counts_its_work_and_says_idle_no_quiet_second_is_needed() -> None:
    observations, clock = observe(counted=True)
    settling = Settling(scenario())
    end = failing_attempts(observations, 3)
    observations.add_message("OrderDeadLetterQueue", EVENT, at=end + 0.01)
    assert pending_at(settling, observations, clock, end + 0.02) == []
    # Without the platform's count, the quiet second still applies.
    plain, plain_clock = observe()
    failing_attempts(plain, 3)
    plain.add_message("OrderDeadLetterQueue", EVENT, at=end + 0.01)
    assert pending_at(Settling(scenario()), plain, plain_clock, end + 0.02) != []


def test_while_the_platform_counts_work_for_the_stack_nothing_is_settled() -> None:
    observations, clock = observe(busy=[f"1 event of {FUNCTION} queued or being handled"], counted=True)
    end = failing_attempts(observations, 3)
    pending = pending_at(Settling(scenario()), observations, clock, end + 60.0)
    assert pending == [f"LocalStack: 1 event of {FUNCTION} queued or being handled"]
