"""The engine: settling before exact counts pass, deadlines, early failure, the report and its timeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.expect import evaluate, wait_until_settled
from harness.expect.engine import FAIL_GRACE_SECONDS
from harness.expect.settling import EVIDENCE_QUIET_SECONDS, Settling
from harness.expect.snapshot import Snapshot
from harness.scenario import Scenario
from tests.support.fakes import FakeClock, FakeObservations, evaluate_scripted, scenario_from_yaml

JOB = "engine-under-test"
SHARD = {"job_id": JOB, "shard_id": "0000", "file_ids": ["f-0000", "f-0001"], "reshard_depth": 0}


def scenario(tmp_path: Path, *expectations: str, fault: str = "attempts: [1, 2]", stack: str = "") -> Scenario:
    items = "\n".join(f"  - {expectation}" for expectation in expectations)
    return scenario_from_yaml(
        f"""\
name: {JOB}
description: The worker raises on some attempts.{f"{chr(10)}stack: {stack}" if stack else ""}
job: {{files: 2, shard_size: 2}}
faults:
  - {{function: worker, kind: exception, exception: {{type: ConnectionError}}, {fault}}}
expect:
{items}
""",
        tmp_path,
    )


def orchestrated(observations: FakeObservations) -> float:
    job = {"job_id": JOB, "file_ids": SHARD["file_ids"], "shard_size": 2}
    return observations.add_invocation("orchestrator", job, ["ok"], at=0.0)


def fails_all_three(observations: FakeObservations) -> None:
    """Attempts at +0.1, +1.65, +4.7 (LocalStack's spacing); the third fails too and is dead-lettered."""
    end = observations.add_invocation("worker", SHARD, ["error", "error", "error"], at=0.1, fault="exception")
    observations.add_dead_letter(SHARD, at=end + 0.1, error_message="injected fault")
    observations.add_decision("report", at=end + 0.3, shard_id="0000", file_ids=SHARD["file_ids"], job_id=JOB)


def test_count_zero_is_not_passed_while_a_retry_is_pending(tmp_path: Path) -> None:
    report, observations, _ = evaluate_scripted(scenario(tmp_path, "dlq: {count: 0}"), fails_all_three)
    assert not report.passed
    outcome = report.outcomes[0]
    dead_letter = observations.messages("dlq")[0].received_at - observations.started_at
    assert outcome.decided_at >= dead_letter
    assert "1 message, expected exactly 0" in outcome.observed


def test_the_settling_rules_name_the_pending_retry(tmp_path: Path) -> None:
    the_scenario = scenario(tmp_path, "dlq: {count: 0}")
    clock = FakeClock()
    observations = FakeObservations(clock, started_at=clock.now)
    fails_all_three(observations)
    clock.now = observations.started_at + 3.0  # attempt 2 failed at +1.7; attempt 3 comes at +4.7
    pending = Settling(the_scenario).pending(Snapshot(the_scenario, observations))
    assert any("failed attempt 2; its retry is due by" in reason for reason in pending), pending


def test_count_zero_passes_once_the_last_retry_succeeded_and_all_is_quiet(tmp_path: Path) -> None:
    def recovers(observations: FakeObservations) -> None:
        orchestrated(observations)
        observations.add_invocation("worker", SHARD, ["error", "error", "ok"], at=0.1, fault="exception")

    report, observations, _ = evaluate_scripted(scenario(tmp_path, "dlq: {count: 0}"), recovers)
    assert report.passed, report.render()
    last_end = max(a.ended_at for a in observations.attempts()) - observations.started_at
    # Not before the last attempt ended and a quiet second passed; not much later either.
    assert last_end + 1.0 <= report.outcomes[0].decided_at <= last_end + 1.3


def test_a_running_attempt_keeps_an_exact_count_open(tmp_path: Path) -> None:
    def slow(observations: FakeObservations) -> None:
        orchestrated(observations)
        observations.add_attempt("worker", "req-1", 1, at=0.1, took=2.5, outcome="ok", event=SHARD)

    report, _, _ = evaluate_scripted(scenario(tmp_path, "attempts: {function: worker, invocations: 1, count: 1}"), slow)
    assert report.passed
    assert report.outcomes[0].decided_at >= 2.6 + 1.0


def test_a_dead_letter_that_never_comes_fails_soon_after_settling_not_at_the_deadline(tmp_path: Path) -> None:
    def recovers(observations: FakeObservations) -> None:
        orchestrated(observations)
        observations.add_invocation("worker", SHARD, ["error", "ok"], at=0.1, fault="exception")

    report, observations, _ = evaluate_scripted(
        scenario(tmp_path, "dlq: {min_count: 1}", fault="probability: 0.5, seed: 1"), recovers
    )
    outcome = report.outcomes[0]
    assert not outcome.passed
    assert "settled since" in outcome.note
    last_end = max(a.ended_at for a in observations.attempts()) - observations.started_at
    assert outcome.decided_at <= last_end + 1.0 + FAIL_GRACE_SECONDS + 0.4 < outcome.deadline


def test_an_alarm_that_never_fires_fails_at_its_deadline(tmp_path: Path) -> None:
    the_scenario = scenario(tmp_path, "alarm: {alarm: job_failed, transitions: [ALARM], within_seconds: 30}")
    report, _, clock = evaluate_scripted(the_scenario, orchestrated)
    outcome = report.outcomes[0]
    assert not outcome.passed
    assert outcome.note.startswith("at the deadline")
    assert 30.0 <= outcome.decided_at <= 30.1
    assert max(clock.sleeps) <= 0.1  # polled with the injected sleep, never beyond the poll interval


def test_an_alarm_passes_as_soon_as_it_holds_even_while_the_pipeline_is_busy(tmp_path: Path) -> None:
    def busy(observations: FakeObservations) -> None:
        fails_all_three(observations)
        observations.add_alarm("job_failed", "ALARM", at=2.0)

    report, _, _ = evaluate_scripted(scenario(tmp_path, "alarm: {alarm: job_failed, transitions: [ALARM]}"), busy)
    assert report.passed
    assert report.outcomes[0].decided_at <= 2.2


def test_a_holding_expectation_passes_at_its_deadline_without_waiting_for_settling(tmp_path: Path) -> None:
    def hangs(observations: FakeObservations) -> None:
        orchestrated(observations)
        observations.add_attempt("worker", "req-1", 1, at=0.1, took=None, event=SHARD)

    the_scenario = scenario(tmp_path, "attempts: {function: worker, invocations: 1, within_seconds: 2}")
    report, _, _ = evaluate_scripted(the_scenario, hangs)
    assert report.passed
    assert report.outcomes[0].note == "held at the deadline; the system had not settled"
    assert any("is running" in reason for reason in report.pending)


def test_every_expectation_gets_an_outcome_in_order(tmp_path: Path) -> None:
    the_scenario = scenario(
        tmp_path,
        "attempts: {function: worker, invocations: 1, count: 3}",
        "dlq: {count: 0}",
        "sns: {topic: notifications, count: 0}",
    )
    report, _, _ = evaluate_scripted(the_scenario, fails_all_three)
    assert [outcome.kind for outcome in report.outcomes] == ["attempts", "dlq", "sns"]
    assert [outcome.passed for outcome in report.outcomes] == [True, False, True]
    assert [outcome.location.rsplit(":", 2)[1] for outcome in report.outcomes] == ["7", "8", "9"]


def test_a_failed_report_renders_expected_observed_location_and_timeline(tmp_path: Path) -> None:
    the_scenario = scenario(tmp_path, "attempts: {function: worker, invocations: 1, count: 3}", "dlq: {count: 0}")

    def script(observations: FakeObservations) -> None:
        orchestrated(observations)
        fails_all_three(observations)
        observations.add_alarm("job_failed", "ALARM", at=3.0)

    report, _, _ = evaluate_scripted(the_scenario, script)
    text = report.render()
    path = tmp_path / "scenario.yaml"
    assert text.startswith(f"scenario {JOB} FAILED: 1 of 2 expectations not met")
    assert f"ok     attempts at {path}:7:5" in text
    assert f"FAILED dlq at {path}:8:5\n  expected: exactly 0 dead-lettered messages (deadline +" in text
    assert "  observed: 1 message, expected exactly 0; seen: 1 message: [f-0000, f-0001] ErrorMessage=" in text
    timeline = text.split("timeline (from the job's start):\n", 1)[1]
    assert "   +0.00 s  run 1 of the job submitted" in timeline
    assert "worker attempt 1 (wor00001) shard 0000 [f-0000, f-0001]: fault exception, error after 0.05 s" in timeline
    assert "dlq: [f-0000, f-0001] ErrorMessage='injected fault'" in timeline
    assert "error handler: report shard 0000 [f-0000, f-0001]" in timeline
    assert "alarm job_failed: INSUFFICIENT_DATA -> ALARM" in timeline
    times = [float(line.split(" s ")[0]) for line in timeline.splitlines()]
    assert times == sorted(times)


def test_a_passed_report_has_no_timeline(tmp_path: Path) -> None:
    report, _, _ = evaluate_scripted(
        scenario(tmp_path, "attempts: {function: worker, invocations: 1, count: 3}"), fails_all_three
    )
    assert report.passed
    assert report.render().startswith(f"scenario {JOB} passed: 1 of 1 expectations met by +")
    assert "timeline" not in report.render()


def test_evaluation_started_late_does_not_wait_for_a_fresh_quiet_period(tmp_path: Path) -> None:
    the_scenario = scenario(tmp_path, "attempts: {function: worker, invocations: 1, count: 3}")
    clock = FakeClock()
    observations = FakeObservations(clock, started_at=clock.now)
    orchestrated(observations)
    fails_all_three(observations)
    clock.now += 60.0
    report = evaluate(the_scenario, observations, wall_clock=clock, sleep=clock.sleep)
    assert report.passed
    assert clock.sleeps == []


@pytest.mark.parametrize(("timeout", "settled"), [(10.0, True), (3.0, False)])
def test_wait_until_settled(tmp_path: Path, timeout: float, settled: bool) -> None:
    the_scenario = scenario(tmp_path, "dlq: {count: 0}")
    clock = FakeClock()
    observations = FakeObservations(clock, started_at=clock.now)
    orchestrated(observations)
    observations.add_invocation("worker", SHARD, ["error", "error", "ok"], at=0.1, fault="exception")
    pending = wait_until_settled(
        the_scenario, observations, timeout=timeout, wall_clock=clock, sleep=clock.sleep
    )
    assert (pending == []) is settled, pending


def _recovers_with(activity):  # type: ignore[no-untyped-def]
    def script(observations: FakeObservations) -> None:
        orchestrated(observations)
        observations.add_invocation("worker", SHARD, ["error", "error", "ok"], at=0.1, fault="exception")
        observations.platform_activity = activity

    return script


def test_where_the_platform_counts_its_work_an_exact_count_settles_on_that_evidence(tmp_path: Path) -> None:
    # The embedded LocalStack says when it does nothing more for the stack: then the quiet that is left to
    # wait is only for its last reply to reach the harness, not a second.
    report, observations, _ = evaluate_scripted(scenario(tmp_path, "dlq: {count: 0}"), _recovers_with(lambda t: []))
    assert report.passed, report.render()
    last_end = max(a.ended_at for a in observations.attempts()) - observations.started_at
    assert last_end + EVIDENCE_QUIET_SECONDS <= report.outcomes[0].decided_at <= last_end + 0.5


def test_once_the_platform_is_idle_an_exact_count_is_decided_at_the_next_poll(tmp_path: Path) -> None:
    # No quiet window on top of the platform's own count: the snapshot that finds it idle decides.
    report, observations, _ = evaluate_scripted(scenario(tmp_path, "dlq: {count: 0}"), _recovers_with(lambda t: []),
                                                poll_interval=0.1)
    assert report.passed, report.render()
    last_end = max(a.ended_at for a in observations.attempts()) - observations.started_at
    assert report.outcomes[0].decided_at <= last_end + 0.1 + 1e-6


class _OrderedObservations(FakeObservations):
    """Records which source each snapshot read, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reads: list[str] = []

    def reading(self):  # type: ignore[no-untyped-def]
        self.reads.append("activity")
        return super().reading()

    def attempts(self):  # type: ignore[no-untyped-def]
        self.reads.append("attempts")
        return super().attempts()

    def messages(self, topic: str):  # type: ignore[no-untyped-def]
        self.reads.append("messages")
        return super().messages(topic)


def test_a_snapshot_reads_the_platforms_count_before_any_evidence(tmp_path: Path) -> None:
    """Evidence read before the count could miss what the platform finished in between, and then be taken
    for complete: the count comes first."""
    the_scenario = scenario(tmp_path, "dlq: {count: 0}")
    clock = FakeClock()
    observations = _OrderedObservations(clock, started_at=clock.now)
    _recovers_with(lambda t: [])(observations)
    clock.now += 5
    snapshot = Snapshot(the_scenario, observations)
    Settling(the_scenario).pending(snapshot)
    snapshot.messages("dlq")
    assert observations.reads[0] == "activity" and {"attempts", "messages"} <= set(observations.reads)


def test_what_the_platform_still_does_keeps_an_exact_count_open(tmp_path: Path) -> None:
    # LocalStack still handles the event (say, its dead letter is on its way) after the ledger went quiet.
    def still_busy(t: float) -> list[str]:
        return ["1 event(s) of worker being handled"] if t < 9.0 else []

    the_scenario = scenario(tmp_path, "dlq: {count: 0}")
    report, observations, clock = evaluate_scripted(the_scenario, _recovers_with(still_busy))
    assert report.passed, report.render()
    assert report.outcomes[0].decided_at >= 9.0 + EVIDENCE_QUIET_SECONDS
    clock.now = observations.started_at + 5.0
    pending = Settling(the_scenario).pending(Snapshot(the_scenario, observations))
    assert "LocalStack: 1 event(s) of worker being handled" in pending


def test_a_crashed_attempt_ends_when_its_retry_or_dead_letter_says_and_a_timeout_at_its_timeout(
        tmp_path: Path) -> None:
    """A killed attempt leaves no end in the ledger. A crash ends long before its timeout: its retry came
    the retry delay after it, and the last attempt's dead letter right after it."""
    the_scenario = scenario(tmp_path, "dlq: {count: 1}", fault="attempts: [1, 2, 3]",
                            stack="{worker: {timeout_seconds: 3}}")
    clock = FakeClock()
    observations = FakeObservations(clock)
    orchestrated(observations)
    # Crashes 0.1 s into each attempt (worker timeout 3 s); retries 60 s and 120 s after each crash.
    for number, at in ((1, 0.2), (2, 60.3), (3, 180.4)):
        observations.add_attempt("worker", "crash-0000-4000-8000-000000000000", number, at=at, took=0.1,
                                 outcome=None, fault="crash", event=SHARD)
    observations.add_dead_letter(SHARD, at=180.55, error_message="Runtime exited with error")
    # A timeout: killed at its Timeout. Its retry landed 0.5 s late (as on another LocalStack), which does
    # not move its end past its Timeout.
    for number, at in ((1, 0.2), (2, 63.7)):
        observations.add_attempt("worker", "tout-0000-4000-8000-000000000000", number, at=at, took=3.0,
                                 outcome=None, fault="timeout", event={**SHARD, "shard_id": "0001"})
    clock.now = observations.started_at + 300
    snapshot = Snapshot(the_scenario, observations)
    ends = {(a.request_id[:4], a.attempt): snapshot.since_start(snapshot.failed_at(a)) for a in snapshot.attempts
            if a.function == "worker"}
    assert ends[("cras", 1)] == pytest.approx(0.3)
    assert ends[("cras", 2)] == pytest.approx(60.4)
    assert ends[("cras", 3)] == pytest.approx(180.55)  # its dead letter
    assert ends[("tout", 1)] == pytest.approx(3.2)
    assert ends[("tout", 2)] == pytest.approx(66.7)  # nothing after it: its timeout
