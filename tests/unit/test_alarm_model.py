"""The simulator's model of LocalStack's alarm evaluation: the states and reasons a stack would show."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.format.template import ALARM_TYPES
from harness.format.template import load as load_template
from harness.model.alarms import _COMPARE, _evaluate, alarm_transitions, lookback_count
from harness.scenario import AlarmSettings

ROOT = Path(__file__).resolve().parents[2]

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


# -- the rules of docs/aws-parity.md F4, F5 and F8: LocalStack's, which the model copies, where AWS differs --------

B, K = 1.0, 0.0  # an Errors datapoint that breaches the threshold of 1, and one that does not


def localstack_decides(settings: AlarmSettings, comparison: str, newest_first: list[float | None],
                       monkeypatch: pytest.MonkeyPatch, datapoints_to_alarm: int | None = None) -> str | None:
    """The state LocalStack 2026.3's own `calculate_alarm_state` wants for an alarm whose looked-back periods
    hold `newest_first` (None: an empty period), or None when it keeps the current state."""
    from localstack.services.cloudwatch import alarm_scheduler

    alarm = {"AlarmName": "a", "StateValue": "INSUFFICIENT_DATA", "Period": settings.period_seconds,
             "EvaluationPeriods": settings.evaluation_periods, "Threshold": settings.threshold,
             "ComparisonOperator": comparison, "TreatMissingData": settings.treat_missing_data, "Statistic": "Sum"}
    if datapoints_to_alarm is not None:
        alarm["DatapointsToAlarm"] = datapoints_to_alarm
    wanted: list[str] = []
    monkeypatch.setattr(alarm_scheduler, "get_metric_alarm_details_for_alarm_arn", lambda arn: alarm)
    monkeypatch.setattr(alarm_scheduler, "get_cloudwatch_client_for_region_of_alarm", lambda arn: None)
    monkeypatch.setattr(alarm_scheduler, "collect_metric_data", lambda details, client: newest_first[::-1])
    monkeypatch.setattr(alarm_scheduler, "update_alarm_state",
                        lambda client, name, current, desired, *args, **kwargs: wanted.append(desired))
    alarm_scheduler.calculate_alarm_state("arn:aws:cloudwatch:us-east-1:000000000000:alarm:a")
    assert len(wanted) <= 1
    return wanted[0] if wanted else None


def model_decides(settings: AlarmSettings, comparison: str, newest_first: list[float | None]) -> str | None:
    assert len(newest_first) == lookback_count(int(settings.evaluation_periods or 1))
    return _evaluate(settings, _COMPARE[comparison], newest_first)[0]


def test_every_breaching_datapoint_of_the_range_counts_not_only_the_newest_n(monkeypatch) -> None:
    # F4. N = 1 looks back 3 periods: a failed run, then a clean run in the newest period. AWS decides on the
    # newest datapoint (OK); LocalStack counts every breaching datapoint of the range, and the model with it.
    newest_clean = [K, B, None]
    assert localstack_decides(BREACHING, ERRORS, newest_clean, monkeypatch) == "ALARM"
    assert model_decides(BREACHING, ERRORS, newest_clean) == "ALARM"
    # Over time: the error at 12 s keeps the alarm in ALARM past the clean run at 22 s, until it leaves the
    # 3 looked-back periods (at 50 s); AWS would be OK at the evaluation at 30 s.
    assert states(BREACHING, [(1.0, K), (12.0, B), (22.0, K)], until=55) == [
        (0.0, "ALARM", "missing"), (10.0, "OK", "data"), (20.0, "ALARM", "data"), (50.0, "OK", "data")]
    # N = 3 looks back 5: three breaching datapoints older than the newest three (clean) still alarm.
    three = AlarmSettings(period_seconds=10, evaluation_periods=3, threshold=1, treat_missing_data="breaching")
    assert localstack_decides(three, ERRORS, [K, B, B, B, None], monkeypatch) == "ALARM"
    assert model_decides(three, ERRORS, [K, B, B, B, None]) == "ALARM"


@pytest.mark.parametrize("treat", ["missing", "ignore"])
def test_partial_data_with_missing_or_ignore_compares_the_fewer_datapoints(monkeypatch, treat: str) -> None:
    # F8. AWS's table, N = 3: `- - - - X` (one clean datapoint, the newest) is INSUFFICIENT_DATA for `missing`
    # and keeps the state for `ignore`. LocalStack, and the model, compare the one datapoint: OK.
    settings = AlarmSettings(period_seconds=10, evaluation_periods=3, threshold=1, treat_missing_data=treat)
    one_clean = [K, None, None, None, None]
    assert localstack_decides(settings, ERRORS, one_clean, monkeypatch) == "OK"
    assert model_decides(settings, ERRORS, one_clean) == "OK"
    # With every period empty: INSUFFICIENT_DATA for `missing`, no change for `ignore`, as AWS documents.
    empty = [None] * 5
    expected = {"missing": "INSUFFICIENT_DATA", "ignore": None}[treat]
    assert localstack_decides(settings, ERRORS, empty, monkeypatch) == expected
    assert model_decides(settings, ERRORS, empty) == expected
    # Fewer breaching datapoints than N, none padded: OK, where AWS's table keeps or withholds the state.
    assert model_decides(settings, ERRORS, [B, B, None, None, None]) == "OK"
    assert localstack_decides(settings, ERRORS, [B, B, None, None, None], monkeypatch) == "OK"


def test_the_premature_alarm_rule_is_localstacks_only_for_datapoints_to_alarm_above_one(monkeypatch) -> None:
    # F5. AWS: with missing data, an M-of-N alarm enters ALARM when its oldest breaching datapoint is at least
    # M periods old and every newer one breaches or is missing. LocalStack applies this only to `missing` and
    # `ignore`, and only when DatapointsToAlarm is set above 1 (it defaults M to 1, AWS to N).
    missing = AlarmSettings(period_seconds=10, evaluation_periods=3, threshold=1, treat_missing_data="missing")
    oldest_breaching = [None, B, None, None, None]  # newest first: `- - - X -`, M = 2 periods old
    assert localstack_decides(missing, ERRORS, oldest_breaching, monkeypatch, datapoints_to_alarm=2) == "ALARM"
    # DatapointsToAlarm unset (M = N = 3 on AWS): LocalStack counts 1 breaching datapoint of 3, OK.
    assert localstack_decides(missing, ERRORS, [None, None, B, None, None], monkeypatch) == "OK"
    # The model has no such rule (nor DatapointsToAlarm): the one breaching datapoint is fewer than N.
    assert model_decides(missing, ERRORS, [None, None, B, None, None]) == "OK"
    # Where the rule cannot apply: `breaching` and `notBreaching` pad the missing periods instead.
    # (`notBreaching` would be ALARM by the rule: 1 breaching datapoint and 2 padded good ones give OK.)
    for treat, state in (("breaching", "ALARM"), ("notBreaching", "OK")):
        padded = AlarmSettings(period_seconds=10, evaluation_periods=3, threshold=1, treat_missing_data=treat)
        assert localstack_decides(padded, ERRORS, oldest_breaching, monkeypatch, datapoints_to_alarm=2) == state


def test_the_pipelines_alarms_never_set_datapoints_to_alarm_and_default_to_one_period_breaching() -> None:
    # F5: LocalStack's rule needs DatapointsToAlarm above 1, which the pipeline's alarms never set; as designed
    # (the template's defaults) they have N = 1 and `breaching`, where AWS's rule does not apply either.
    template = load_template(ROOT / "lambdas" / "template.yaml")
    alarms = [template.resources[logical].get("Properties") or {} for logical in template.of_type(ALARM_TYPES)]
    assert len(alarms) == 2
    for properties in alarms:
        assert "DatapointsToAlarm" not in properties
        assert template.value(properties.get("EvaluationPeriods"), {}) == 1
        assert template.value(properties.get("TreatMissingData"), {}) == "breaching"
