"""The seed pipeline deployed as real Lambdas on LocalStack with a real PostgreSQL."""

from __future__ import annotations

import json

from harness.model.content import expected_row_counts
from harness.observe.taps import QueueTap
from tests.integration.conftest import Clocks
from tests.support.taps import wait_until


def _job(count: int, shard_size: int, job_id: str = "job-40") -> dict:
    return {"job_id": job_id, "file_ids": [f"f-{i:04d}" for i in range(count)], "shard_size": shard_size}


def _succeeded(tap: QueueTap, count: int, deadline_s: float = 20) -> list[dict]:
    wait_until(tap, lambda msgs: sum(m.subject == "JOB SUCCEEDED" for m in msgs) >= count, deadline_s,
               what=f"{count} JOB SUCCEEDED")
    return [json.loads(m.message) for m in tap.messages if m.subject == "JOB SUCCEEDED"]


def test_forty_files_load_exactly_once_with_four_success_reports(pipeline_stack):
    stack = pipeline_stack("forty")
    job = _job(40, 10)
    answer = stack.run_job(job)
    assert answer["status"] == 200 and answer["function_error"] is None, answer
    assert answer["body"]["shard_sizes"] == [10, 10, 10, 10]

    reports = _succeeded(stack.taps["notifications"], 4)
    assert len(reports) == 4
    expected_rows = expected_row_counts(job["file_ids"])
    assert sorted(f for r in reports for f in r["file_ids"]) == job["file_ids"]
    for report in reports:
        assert report["job_id"] == "job-40" and report["files"] == 10
        assert report["files_inserted"] == 10
        assert report["rows_inserted"] == sum(expected_rows[f] for f in report["file_ids"])
        assert report["rows_already_present"] == 0
        assert report["duration_ms"] >= 0 and report["shard_id"]
    assert stack.db.rows_per_file() == expected_rows
    assert stack.db.duplicate_rows() == 0
    # Nothing failed: no JOB FAILED, nothing dead-lettered.
    assert not any(m.subject == "JOB FAILED" for m in stack.taps["notifications"].poll(wait_s=1))
    assert stack.taps["dlq"].poll(wait_s=0) == []

    # Re-running the same job inserts nothing new.
    stack.run_job(job)
    stack.taps["notifications"].messages.clear()
    again = _succeeded(stack.taps["notifications"], 4)
    assert sum(r["rows_inserted"] for r in again) == 0
    assert sum(r["rows_already_present"] for r in again) == sum(expected_rows.values())
    assert stack.db.rows_per_file() == expected_rows


def test_two_stacks_side_by_side_do_not_see_each_others_messages(pipeline_stack):
    first, second = pipeline_stack("left"), pipeline_stack("right")
    first.run_job(_job(6, 3, "job-left"))
    second.run_job(_job(4, 4, "job-right"))
    left = _succeeded(first.taps["notifications"], 2)
    right = _succeeded(second.taps["notifications"], 1)
    # Give any stray delivery a moment to arrive before asserting absence.
    first.taps["notifications"].poll(wait_s=1)
    second.taps["notifications"].poll(wait_s=1)
    assert {r["job_id"] for r in left} == {"job-left"}
    assert {r["job_id"] for r in right} == {"job-right"}
    assert all(json.loads(m.message)["job_id"] == "job-left" for m in first.taps["notifications"].messages)
    assert set(first.db.rows_per_file()) == {f"f-{i:04d}" for i in range(6)}
    assert set(second.db.rows_per_file()) == {f"f-{i:04d}" for i in range(4)}


def _alarm_notifications(tap: QueueTap, alarm_name: str) -> list[dict]:
    notifications = [json.loads(m.message) for m in tap.messages]
    return [n for n in notifications if n.get("AlarmName") == alarm_name]


def _wait_state(clocks: Clocks, tap: QueueTap, alarm_name: str, state: str, what: str,
                from_data: bool = False) -> dict:
    """Until the alarm's notification of `state` is on the tap, moving the stack's clock over idle time to
    its next evaluation (the alarms have AWS's periods)."""
    def seen() -> bool:
        tap.poll(wait_s=0.05)
        # LocalStack says "no datapoints were received" when missing data decided the state.
        return any(n["NewStateValue"] == state and not (from_data and "no datapoints" in n["NewStateReason"])
                   for n in _alarm_notifications(tap, alarm_name))

    clocks.run_until(seen, deadline_s=40, what=what)
    return [n for n in _alarm_notifications(tap, alarm_name) if n["NewStateValue"] == state][-1]


def test_alarms_follow_idle_clean_and_failed_runs(pipeline_stack, harness_endpoint):
    from harness.scenario import ExceptionFault

    fault = ExceptionFault(kind="exception", function="worker", files=["f-bad"])
    # "When in doubt, throw": the worker raises its own code's errors, so Lambda counts them as Errors.
    stack = pipeline_stack("alarms", alarm_period_seconds=60, faults=[fault],
                           worker={"on_error": {"programmatic": "raise"}})
    clocks = Clocks(harness_endpoint, [stack.prefix])
    alarms, not_run, failed = stack.taps["alarms"], stack.alarm_names["job_not_run"], stack.alarm_names["job_failed"]
    # Idle: no invocation in the period and missing data is breaching, so JOB NOT RUN alarms.
    _wait_state(clocks, alarms, not_run, "ALARM", "JOB NOT RUN in ALARM while idle")
    # A clean run: invocations for JOB NOT RUN, and Errors=0 datapoints bring JOB FAILED to OK.
    stack.run_job(_job(2, 2, "job-clean"))
    _wait_state(clocks, alarms, not_run, "OK", "JOB NOT RUN back to OK after the job ran")
    _wait_state(clocks, alarms, failed, "OK", "JOB FAILED to OK after a clean run")
    # A failing run: the worker's errors cross the threshold; the reason names the datapoint.
    stack.run_job({"job_id": "job-bad", "file_ids": ["f-bad"], "shard_size": 1})
    alarm = _wait_state(clocks, alarms, failed, "ALARM", "JOB FAILED in ALARM after a worker error", from_data=True)
    assert alarm["OldStateValue"] == "OK"
    # Raised, not reported: the one alert comes from the error handler once the event is dead-lettered, after
    # Lambda's two retries (1 and 2 minutes, on the stack's clock).
    notifications = stack.taps["notifications"]

    def reported() -> bool:
        notifications.poll(wait_s=0.05)
        return any(m.subject == "JOB FAILED" and json.loads(m.message)["reason"] == "needs_attention"
                   for m in notifications.messages)

    clocks.run_until(reported, deadline_s=30, what="the error handler's JOB FAILED")
    reports = [json.loads(m.message) for m in stack.taps["notifications"].messages if m.subject == "JOB FAILED"]
    assert [(r["reason"], r["file_ids"]) for r in reports] == [("needs_attention", ["f-bad"])]
    # The report ties the dead letter to the worker's failed invocation: its request ID, as the DLQ gave it.
    failed = {a.request_id for a in stack.attempts() if a.function == "worker" and "f-bad" in a.file_ids}
    assert [r["dlq_request_id"] for r in reports] == sorted(failed)
