"""`dlq`, `sns` and `alarm` expectations on scripted topic messages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.expect import Report
from tests.support.fakes import FakeObservations, evaluate_scripted, scenario_from_yaml

JOB = "messages-under-test"
SHARD = {"job_id": JOB, "shard_id": "0000", "file_ids": ["f-0000", "f-0001", "f-0002", "f-0003"], "reshard_depth": 0}
TIMED_OUT = "RequestId: 1f2e Error: Task timed out after 1.00 seconds"


def evaluate(tmp_path: Path, expectation: str, script: Callable[[FakeObservations], object], **job: int) -> Report:
    settings = {"files": 4, "shard_size": 4, "runs": 1, **job}
    scenario = scenario_from_yaml(
        f"""\
name: {JOB}
description: The worker times out on every attempt of the shard holding f-0001.
stack:
  worker: {{timeout_seconds: 1}}
  alarm_period_seconds: 10  # the fake observations run alarms in real time: 10 s between evaluations
job: {{files: {settings["files"]}, shard_size: {settings["shard_size"]}, runs: {settings["runs"]}}}
faults:
  - {{function: worker, kind: timeout, files: [f-0001]}}
expect:
  - {expectation}
""",
        tmp_path,
    )
    report, _, _ = evaluate_scripted(scenario, script)
    return report


def dead_lettered(observations: FakeObservations, body: dict | None = None, error: str = TIMED_OUT) -> None:
    end = observations.add_invocation("worker", SHARD, [None, None, None], at=0.1, fault="timeout")
    observations.add_dead_letter(body or SHARD, at=end + 0.1, error_message=error)
    observations.add_decision("quarantine", at=end + 0.3, shard_id="0000", file_ids=SHARD["file_ids"], job_id=JOB)


# dlq


def test_a_dead_letter_with_the_original_event_passes(tmp_path: Path) -> None:
    expectation = (
        "dlq: {count: 1, files: [f-0002], error_message: 'Task timed out after \\d', error_code: '200', "
        "body_is_original_event: true}"
    )
    report = evaluate(tmp_path, expectation, dead_lettered)
    assert report.passed, report.render()


@pytest.mark.parametrize(
    ("expectation", "complaint"),
    [
        ("dlq: {count: 2}", "1 message, expected exactly 2"),
        ("dlq: {min_count: 2}", "1 message, expected at least 2"),
        ("dlq: {count: 1, error_message: 'Runtime exited'}", "does not match /Runtime exited/"),
        ("dlq: {count: 1, error_code: 'Unhandled'}", "ErrorCode '200', expected 'Unhandled'"),
        ("dlq: {count: 1, files: [f-0000, f-0003]}", None),
        ("dlq: {count: 0, files: [f-0002]}", "1 message, expected exactly 0"),
    ],
)
def test_dead_letter_conditions(tmp_path: Path, expectation: str, complaint: str | None) -> None:
    report = evaluate(tmp_path, expectation, dead_lettered)
    assert report.passed is (complaint is None), report.render()
    if complaint:
        assert complaint in report.outcomes[0].observed


def test_files_filter_selects_dead_letters_by_their_original_event(tmp_path: Path) -> None:
    report = evaluate(tmp_path, "dlq: {count: 0, files: [f-0005]}", dead_lettered, files=8)
    assert report.passed, report.render()


def test_a_body_that_is_not_the_worker_event_fails(tmp_path: Path) -> None:
    altered = {**SHARD, "reshard_depth": 1}
    report = evaluate(
        tmp_path, "dlq: {count: 1, body_is_original_event: true}", lambda o: dead_lettered(o, body=altered)
    )
    assert not report.passed
    assert "differs from the worker's event" in report.outcomes[0].observed


def test_a_body_no_worker_attempt_carried_fails(tmp_path: Path) -> None:
    def letter_only(observations: FakeObservations) -> None:
        observations.add_dead_letter(SHARD, at=0.5, error_message=TIMED_OUT)
        observations.add_decision("quarantine", at=0.6, shard_id="0000", file_ids=SHARD["file_ids"], job_id=JOB)

    report = evaluate(tmp_path, "dlq: {count: 1, body_is_original_event: true}", letter_only)
    assert not report.passed
    assert "no worker attempt had these files" in report.outcomes[0].observed


# sns


def succeeded(observations: FakeObservations, *, at: float = 0.3, shard: str = "0000", **stats: object) -> None:
    body = {"job_id": JOB, "shard_id": shard, "files": 4, "files_inserted": 4, "rows_inserted": 40, **stats}
    file_stats = [{"file_id": "f-0000", "rows": 10, "rows_inserted": 10, "file_inserted": True}]
    observations.add_notification("JOB SUCCEEDED", {"file_stats": file_stats, **body}, at=at)


def test_fields_dotted_paths_and_totals(tmp_path: Path) -> None:
    def two_shards(observations: FakeObservations) -> None:
        succeeded(observations, shard="0000")
        succeeded(observations, shard="0001", files_inserted=3)

    expectation = (
        "sns: {topic: notifications, subject: JOB SUCCEEDED, count: 2, fields: {files: 4, file_stats.0.rows: 10}, "
        "field_patterns: {shard_id: '^000[01]$'}, totals: {files_inserted: 7, rows_inserted: 80}}"
    )
    report = evaluate(tmp_path, expectation, two_shards, files=8)
    assert report.passed, report.render()
    assert "totals files_inserted=7, rows_inserted=80" in report.outcomes[0].observed


@pytest.mark.parametrize(
    ("expectation", "complaint"),
    [
        ("sns: {topic: notifications, subject: JOB SUCCEEDED, count: 2}", "1 matching, expected exactly 2"),
        ("sns: {topic: notifications, subject: JOB FAILED, min_count: 1}", "subjects: 1 x JOB SUCCEEDED"),
        ("sns: {topic: notifications, count: 1, fields: {files: 5}}", "files=4, not 5"),
        ("sns: {topic: notifications, count: 1, fields: {files: '4'}}", "files=4, not '4'"),
        ("sns: {topic: notifications, count: 1, fields: {file_stats.1.rows: 4}}", "no field file_stats.1.rows"),
        ("sns: {topic: notifications, count: 1, field_patterns: {shard_id: '^1'}}", "does not match /^1/"),
        ("sns: {topic: notifications, count: 1, totals: {files_inserted: 5}}", "total files_inserted=4, expected 5"),
        ("sns: {topic: notifications, count: 1, totals: {shard_id: 5}}", "shard_id is not a number"),
        ("sns: {topic: notifications, count: 0}", "1 matching, expected exactly 0"),
    ],
)
def test_sns_conditions_that_do_not_hold(tmp_path: Path, expectation: str, complaint: str) -> None:
    report = evaluate(tmp_path, expectation, succeeded)
    assert not report.passed
    assert complaint in report.outcomes[0].observed, report.outcomes[0].observed


def test_messages_are_attributed_to_the_run_they_follow(tmp_path: Path) -> None:
    def two_runs(observations: FakeObservations) -> None:
        observations.runs = [0.0, 5.0]
        succeeded(observations, at=0.3)
        succeeded(observations, at=5.3, files_inserted=0)

    def run(expectation: str) -> bool:
        return evaluate(tmp_path, expectation, two_runs, runs=2).passed

    assert run("sns: {topic: notifications, run: 1, count: 1, totals: {files_inserted: 4}}")
    assert run("sns: {topic: notifications, run: 2, count: 1, fields: {files_inserted: 0}}")
    assert not run("sns: {topic: notifications, run: 2, count: 1, fields: {files_inserted: 4}}")


def test_a_bool_field_is_not_a_number(tmp_path: Path) -> None:
    report = evaluate(
        tmp_path,
        "sns: {topic: notifications, count: 1, fields: {files: 1}}",
        lambda o: succeeded(o, files=True),
    )
    assert not report.passed


# alarm


def alarms(*transitions: tuple[str, str, float]) -> Callable[[FakeObservations], None]:
    def script(observations: FakeObservations) -> None:
        previous = {"job_failed": "INSUFFICIENT_DATA", "job_not_run": "INSUFFICIENT_DATA"}
        for alarm, state, at in transitions:
            observations.add_alarm(alarm, state, at=at, old_state=previous[alarm])
            previous[alarm] = state

    return script


def test_alarm_states_are_an_ordered_subsequence(tmp_path: Path) -> None:
    script = alarms(("job_failed", "ALARM", 9.5), ("job_failed", "OK", 19.5), ("job_failed", "ALARM", 29.5))
    assert evaluate(tmp_path, "alarm: {alarm: job_failed, transitions: [ALARM]}", script).passed
    assert evaluate(tmp_path, "alarm: {alarm: job_failed, transitions: [ALARM, OK, ALARM]}", script).passed
    assert evaluate(tmp_path, "alarm: {alarm: job_failed, transitions: [OK, ALARM]}", script).passed
    report = evaluate(tmp_path, "alarm: {alarm: job_failed, transitions: [OK, ALARM, OK]}", script)
    assert not report.passed
    assert report.outcomes[0].observed == (
        "entered ALARM at +9.50 s (datapoints); OK at +19.50 s (datapoints); ALARM at +29.50 s (datapoints)"
    )


MISSING = (
    "Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [Breaching]."
)


def caused(*transitions: tuple[str, str, float, str]) -> Callable[[FakeObservations], None]:
    """Alarm notifications with their NewStateReason, the alarms created 0.5 s before the job started."""

    def script(observations: FakeObservations) -> None:
        previous = {"job_failed": "INSUFFICIENT_DATA", "job_not_run": "INSUFFICIENT_DATA"}
        for alarm, state, at, reason in transitions:
            observations.add_alarm(alarm, state, at=at, old_state=previous[alarm], reason=reason, created=-0.5)
            previous[alarm] = state

    return script


def test_the_evaluation_at_creation_is_reported_not_counted(tmp_path: Path) -> None:
    # Missing data treated as breaching: ALARM at creation, before the job. A clean job must not pass
    # `transitions: [ALARM]`, and the failure says why and how to write the file instead.
    script = caused(("job_failed", "ALARM", -0.5, MISSING), ("job_failed", "OK", 9.5, "Threshold Crossed"))
    report = evaluate(tmp_path, "alarm: {alarm: job_failed, transitions: [ALARM]}", script)
    assert not report.passed
    observed = report.outcomes[0].observed
    assert "ALARM at -0.50 s (missing data, initial evaluation at creation, not counted)" in observed
    assert "reported, not counted" in observed and "since: creation" in observed
    assert evaluate(tmp_path, "alarm: {alarm: job_failed, transitions: [OK]}", script).passed
    assert evaluate(
        tmp_path, "alarm: {alarm: job_failed, transitions: [ALARM], because: missing_data, since: creation}", script
    ).passed


def test_the_evaluation_at_creation_is_told_apart_by_its_state_and_time_even_when_it_comes_late() -> None:
    from harness.records import is_initial

    # 60 s intervals: the first evaluation came 0.8 s after the creation (at +100 s).
    assert is_initial("INSUFFICIENT_DATA", 100.8, 100.0, 60.0)
    # The second evaluation comes an interval after the first at the earliest.
    assert not is_initial("INSUFFICIENT_DATA", 160.0, 100.0, 60.0)
    # Every alarm starts in INSUFFICIENT_DATA: a change from another state is a later evaluation's.
    assert not is_initial("OK", 100.8, 100.0, 60.0)
    # Without the alarm's configuration time, nothing is taken for the evaluation at creation.
    assert not is_initial("INSUFFICIENT_DATA", 100.8, None, 60.0)


def test_a_transition_counts_only_for_its_stated_cause(tmp_path: Path) -> None:
    # After a clean job, an idle period with missing data breaching takes JOB FAILED back to ALARM.
    script = caused(
        ("job_failed", "ALARM", -0.5, MISSING), ("job_failed", "OK", 9.5, "Threshold Crossed"),
        ("job_failed", "ALARM", 39.5, MISSING),
    )
    window = "within_seconds: 45"
    report = evaluate(tmp_path, f"alarm: {{alarm: job_failed, transitions: [OK, ALARM], {window}}}", script)
    assert not report.passed
    assert "say `because: missing_data`" in report.outcomes[0].observed
    for cause in ("[datapoints, missing_data]", "any"):
        expectation = f"alarm: {{alarm: job_failed, transitions: [OK, ALARM], because: {cause}, {window}}}"
        assert evaluate(tmp_path, expectation, script).passed


def test_never_holds_for_its_whole_window_and_fails_as_soon_as_it_is_broken(tmp_path: Path) -> None:
    quiet = caused(("job_failed", "OK", 9.5, "Threshold Crossed"))
    report = evaluate(tmp_path, "alarm: {alarm: job_failed, never: [ALARM], within_seconds: 20}", quiet)
    assert report.passed and report.outcomes[0].decided_at >= 20.0
    broken = caused(("job_failed", "OK", 9.5, "Threshold Crossed"), ("job_failed", "ALARM", 12.0, "Threshold Crossed"))
    report = evaluate(tmp_path, "alarm: {alarm: job_failed, never: [ALARM], within_seconds: 20}", broken)
    assert not report.passed
    assert report.outcomes[0].decided_at < 13.0
    assert "entered ALARM, which it must never enter" in report.outcomes[0].observed


def test_another_alarms_transitions_do_not_count(tmp_path: Path) -> None:
    report = evaluate(tmp_path, "alarm: {alarm: job_failed, transitions: [ALARM]}", alarms(("job_not_run", "ALARM", 9)))
    assert not report.passed
    assert "no transition of stack-job_failed" in report.outcomes[0].observed


def test_alarm_order_follows_state_change_time_not_arrival(tmp_path: Path) -> None:
    def late_delivery(observations: FakeObservations) -> None:
        observations.add_alarm("job_failed", "ALARM", at=9.5)
        message = observations.add_alarm("job_failed", "OK", at=19.5, old_state="ALARM")
        # The OK notification arrives first: taps poll queues in no particular order.
        observations._messages.remove(message)
        observations.add_message("alarms", message.body, at=9.0, subject=message.subject)

    report = evaluate(tmp_path, "alarm: {alarm: job_failed, transitions: [ALARM, OK]}", late_delivery)
    assert report.passed, report.render()


def test_sns_on_the_alarms_topic_reads_the_alarm_json(tmp_path: Path) -> None:
    script = alarms(("job_failed", "ALARM", 9.5))
    expectation = "sns: {topic: alarms, min_count: 1, fields: {NewStateValue: ALARM, AlarmName: stack-job_failed}}"
    assert evaluate(tmp_path, expectation, script).passed
    assert not evaluate(tmp_path, "sns: {topic: alarms, min_count: 1, fields: {NewStateValue: OK}}", script).passed


# fields no message carried (tests/unit/test_expect_unseen_fields.py has a template's)


def test_a_field_of_the_pipelines_vocabulary_is_not_asked_of_the_messages_that_came(tmp_path: Path) -> None:
    # `reason` is a JOB FAILED field (checked at load); that no JOB FAILED came is what count: 0 asserts.
    expectation = "sns: {topic: notifications, subject: JOB FAILED, count: 0, fields: {reason: error}}"
    report = evaluate(tmp_path, expectation, succeeded)
    assert report.passed, report.render()


@pytest.mark.parametrize("expectation", ["sns: {topic: dlq, count: 0, fields: {shard_idd: '0000'}}",
                                         "dlq: {count: 0, fields: {shard_idd: '0000'}}"])
def test_a_dead_letter_field_no_message_carried_fails_on_the_pipeline_too(tmp_path: Path, expectation: str) -> None:
    # Dead letters are whatever events failed: no vocabulary states their fields, the messages that came do.
    report = evaluate(tmp_path, expectation, dead_lettered)
    assert not report.passed
    assert "had field 'shard_idd'; did you mean 'shard_id'?" in report.outcomes[0].observed
    assert report.outcomes[0].location.endswith(f":10:{expectation.index('shard_idd') + 5}")
