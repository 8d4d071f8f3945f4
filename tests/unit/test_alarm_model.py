"""The simulator's model of LocalStack's alarm evaluation: the states and reasons a stack would show."""

from __future__ import annotations

from harness.model.alarms import alarm_transitions
from harness.scenario import AlarmSettings

# As the stack resolves them (a scenario's omitted settings are the template's defaults: threshold 1).
BREACHING = AlarmSettings(period_seconds=10, evaluation_periods=1, threshold=1, treat_missing_data="breaching")
ERRORS = "GreaterThanOrEqualToThreshold"


def states(
    settings: AlarmSettings, datapoints: list[tuple[float, float]], until: float
) -> list[tuple[float, str, str]]:
    return [
        (t.at, t.new_state, "missing" if "no datapoints" in t.reason else "data")
        for t in alarm_transitions(settings, ERRORS, datapoints, created=0.0, until=until)
    ]


def test_missing_data_breaching_alarms_at_creation_and_again_three_periods_after_the_last_datapoint() -> None:
    # A clean job at 1 s (Errors=0): OK at the next evaluation; LocalStack looks back EvaluationPeriods + 2
    # periods, so the idle false alarm comes at the first evaluation that sees none of it (40 s).
    assert states(BREACHING, [(1.0, 0.0)], until=60) == [
        (0.0, "ALARM", "missing"),
        (10.0, "OK", "data"),
        (40.0, "ALARM", "missing"),
    ]


def test_an_error_after_ok_alarms_on_datapoints_and_an_error_while_in_alarm_changes_nothing() -> None:
    assert states(BREACHING, [(1.0, 0.0), (12.0, 1.0)], until=25) == [
        (0.0, "ALARM", "missing"),
        (10.0, "OK", "data"),
        (20.0, "ALARM", "data"),
    ]
    # Already in ALARM from creation: the error enters nothing.
    assert states(BREACHING, [(1.0, 1.0)], until=25) == [(0.0, "ALARM", "missing")]


def test_not_breaching_is_ok_while_idle() -> None:
    quiet = AlarmSettings(period_seconds=10, evaluation_periods=1, threshold=1, treat_missing_data="notBreaching")
    assert states(quiet, [], until=60) == [(0.0, "OK", "missing")]
