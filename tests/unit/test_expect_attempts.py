"""`attempts` expectations on scripted attempt ledgers: counts, request IDs, spacing, selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario import Scenario
from tests.support.fakes import FakeObservations, evaluate_scripted, scenario_from_yaml

SHARD = {"job_id": "attempts-under-test", "shard_id": "0000", "file_ids": [f"f-{i:04d}" for i in range(10)]}


def scenario(tmp_path: Path, expectation: str, *, files: int = 10, shard_size: int = 10) -> Scenario:
    return scenario_from_yaml(
        f"""\
name: attempts-under-test
description: The worker raises on every attempt.
job: {{files: {files}, shard_size: {shard_size}}}
faults:
  - {{function: worker, kind: exception, exception: {{type: ConnectionError}}}}
expect:
  - {expectation}
""",
        tmp_path,
    )


def three_failures(observations: FakeObservations) -> None:
    observations.add_invocation("worker", SHARD, ["error", "error", "error"], at=0.1, fault="exception")


def test_three_attempts_under_one_request_id_pass(tmp_path: Path) -> None:
    expectation = (
        "attempts: {function: worker, invocations: 1, count: 3, same_request_id: true, min_spacing_seconds: 1}"
    )
    report, _, _ = evaluate_scripted(scenario(tmp_path, expectation), three_failures)
    assert report.passed, report.render()
    assert "3 attempts (exception error, exception error, exception error)" in report.outcomes[0].observed


def test_two_attempts_expected_where_three_happen_fails_with_location(tmp_path: Path) -> None:
    report, _, _ = evaluate_scripted(
        scenario(tmp_path, "attempts: {function: worker, invocations: 1, count: 2}"), three_failures
    )
    assert not report.passed
    outcome = report.outcomes[0]
    assert outcome.location == f"{tmp_path / 'scenario.yaml'}:7:5"
    assert "each with exactly 2 attempts" in outcome.expected
    assert "got 3 attempts, expected 2" in outcome.observed
    text = report.render()
    assert f"FAILED attempts at {tmp_path / 'scenario.yaml'}:7:5" in text
    assert "expected: exactly 1 worker invocations" in text
    assert "observed: " in text and "got 3 attempts, expected 2" in text


def test_wrong_number_of_invocations_fails(tmp_path: Path) -> None:
    report, _, _ = evaluate_scripted(
        scenario(tmp_path, "attempts: {function: worker, invocations: 2, count: 3}"), three_failures
    )
    assert not report.passed
    assert "1 invocation, expected 2" in report.outcomes[0].observed


def test_invocations_zero_holds_only_when_the_function_never_ran(tmp_path: Path) -> None:
    never = scenario(tmp_path, "attempts: {function: error_handler, invocations: 0}")
    report, _, _ = evaluate_scripted(never, three_failures)
    assert report.passed, report.render()

    def handler_ran(observations: FakeObservations) -> None:
        three_failures(observations)
        observations.add_invocation("error_handler", {"Records": []}, ["ok"], at=5.0)

    report, _, _ = evaluate_scripted(never, handler_ran)
    assert not report.passed
    assert "1 invocation, expected 0" in report.outcomes[0].observed


def test_count_without_invocations_needs_at_least_one(tmp_path: Path) -> None:
    report, _, _ = evaluate_scripted(scenario(tmp_path, "attempts: {function: worker, count: 3}"), lambda _: None)
    assert not report.passed
    assert "no matching invocation" in report.outcomes[0].observed


def test_a_retry_with_a_new_request_id_breaks_same_request_id(tmp_path: Path) -> None:
    def new_id_per_retry(observations: FakeObservations) -> None:
        for number, at in enumerate((0.1, 1.6, 4.6)):
            observations.add_invocation(
                "worker", SHARD, ["error"], at=at, request_id=f"req{number}-0000", fault="exception"
            )

    expectation = "attempts: {function: worker, invocations: 1, count: 3, same_request_id: true}"
    report, _, _ = evaluate_scripted(scenario(tmp_path, expectation), new_id_per_retry)
    assert not report.passed
    # Only same_request_id is asked here, so that its own complaint is what fails the expectation.
    report, _, _ = evaluate_scripted(
        scenario(tmp_path, "attempts: {function: worker, invocations: 3, same_request_id: true}"), new_id_per_retry
    )
    assert not report.passed
    assert "a retry got a new request ID" in report.outcomes[0].observed


def test_the_same_event_in_a_later_run_is_not_a_new_request_id_for_a_retry(tmp_path: Path) -> None:
    def two_runs(observations: FakeObservations) -> None:
        observations.runs = [0.0, 3.0]
        observations.add_invocation("worker", SHARD, ["ok"], at=0.1, request_id="run1-000")
        observations.add_invocation("worker", SHARD, ["ok"], at=3.1, request_id="run2-000")

    expectation = "attempts: {function: worker, invocations: 2, count: 1, same_request_id: true}"
    report, _, _ = evaluate_scripted(scenario(tmp_path, expectation), two_runs)
    assert report.passed, report.render()


@pytest.mark.parametrize(("spacing", "passes"), [(1.0, True), (2.0, False)])
def test_min_spacing_between_attempts(tmp_path: Path, spacing: float, passes: bool) -> None:
    def retries_1_5_s_apart(observations: FakeObservations) -> None:
        observations.add_invocation(
            "worker", SHARD, ["error", "error", "error"], at=0.1, took=0.0, retry_delays=(1.5, 3.0)
        )

    expectation = f"attempts: {{function: worker, count: 3, min_spacing_seconds: {spacing}}}"
    report, _, _ = evaluate_scripted(scenario(tmp_path, expectation), retries_1_5_s_apart)
    assert report.passed is passes, report.render()
    if not passes:
        assert "attempt 2 started 1.50 s after attempt 1, expected at least 2 s" in report.outcomes[0].observed


def test_files_and_shard_size_select_invocations(tmp_path: Path) -> None:
    files = [f"f-{j:04d}" for j in range(10)]
    shards = [
        {"job_id": "attempts-under-test", "shard_id": f"{i:04d}", "file_ids": files[i * 5 : i * 5 + 5]} for i in (0, 1)
    ]
    halves = [
        {"job_id": "attempts-under-test", "shard_id": "0000.0", "file_ids": ["f-0000", "f-0001", "f-0002"]},
        {"job_id": "attempts-under-test", "shard_id": "0000.1", "file_ids": ["f-0003", "f-0004"]},
    ]

    def script(observations: FakeObservations) -> None:
        observations.add_invocation("worker", shards[0], ["error", "error", "error"], at=0.1)
        observations.add_invocation("worker", shards[1], ["ok"], at=0.1)
        for half in halves:
            observations.add_invocation("worker", half, ["ok"], at=6.0)

    def run(expectation: str) -> bool:
        report, _, _ = evaluate_scripted(scenario(tmp_path, expectation, shard_size=5), script)
        return report.passed

    assert run("attempts: {function: worker, shard_size: 5, invocations: 2}")
    assert run("attempts: {function: worker, files: [f-0003], invocations: 2}")
    assert run("attempts: {function: worker, files: [f-0003], shard_size: 5, invocations: 1, count: 3}")
    assert run("attempts: {function: worker, files: [f-0007], invocations: 1, count: 1}")
    assert not run("attempts: {function: worker, files: [f-0003], invocations: 1}")


@pytest.mark.parametrize(("released", "handler_late", "problem"), [
    ((0.15, 60.15), 1.6, None),  # on time; its handler started 1.6 s later (8 scenarios on 2 cores)
    ((0.15, 60.45), 0.0, "attempt 2 was released 60.30 s after attempt 1 failed, expected 60 s"),
    (None, 0.0, None),  # no word from the platform: the handler's start, within 0.5 s
    (None, 1.6, "attempt 2 started 61.60 s after attempt 1 failed, expected 60 s"),
])
def test_a_retry_delay_is_the_platforms_release_where_it_tells_and_the_handlers_start_where_it_does_not(
        tmp_path: Path, released: tuple[float, float] | None, handler_late: float, problem: str | None) -> None:
    expectation = "attempts: {function: worker, count: 2, retry_delays_seconds: [60]}"
    request_id = "wor00000-0000-4000-8000-000000000000"

    def script(observations: FakeObservations) -> None:
        observations.add_attempt("worker", request_id, 1, at=0.1, took=0.05, outcome="error", event=SHARD)
        observations.add_attempt("worker", request_id, 2, at=60.15 + handler_late, took=0.05, event=SHARD,
                                 released=released)

    report, _, _ = evaluate_scripted(scenario(tmp_path, expectation), script)
    assert report.passed is (problem is None), report.render()
    if problem is not None:
        assert problem in report.outcomes[0].observed
