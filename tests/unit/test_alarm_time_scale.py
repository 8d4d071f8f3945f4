"""harness/localstack/retries.py's alarms: LocalStack's own scheduler and evaluation, with every
Period x EvaluationPeriods evaluated `scale` times sooner and each looked-back period `scale` times shorter.
The modules are LocalStack's, patched in this process as the embedded LocalStack patches its own."""

from __future__ import annotations

from typing import Any

import pytest
from localstack.services.cloudwatch import alarm_scheduler

from harness.localstack import retries as timing


@pytest.fixture
def compressed(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(alarm_scheduler, "Scheduler", alarm_scheduler.Scheduler)
    monkeypatch.setattr(alarm_scheduler, "collect_metric_data", lambda details, client: seen.append(details) or [])
    timing._compress_alarms(60.0)
    return seen


def test_evaluations_come_every_period_times_evaluation_periods_over_the_scale(compressed: Any) -> None:
    scheduler = alarm_scheduler.Scheduler()
    evaluation = scheduler.schedule(alarm_scheduler.calculate_alarm_state, period=3 * 60, args=["arn"])
    other = scheduler.schedule(print, period=180)
    assert evaluation.period == 3.0 and other.period == 180  # only the alarms' evaluations are compressed
    scheduler.close()


def test_each_evaluation_looks_at_periods_of_period_over_the_scale_and_keeps_the_alarm_s_own(
        compressed: list[dict[str, Any]]) -> None:
    alarm = {"AlarmName": "a", "Period": 300, "EvaluationPeriods": 1}
    alarm_scheduler.collect_metric_data(alarm, client=None)
    assert compressed == [{"AlarmName": "a", "Period": 5, "EvaluationPeriods": 1}] and alarm["Period"] == 300
