"""How CloudWatch, as LocalStack implements it, moves an alarm between states: the platform's alarm timing.

Read by the deadlines (when an evaluation can see a cause) and by the unit tests' scripted stand-in.

LocalStack evaluates a metric alarm at its creation and then every Period x EvaluationPeriods seconds (on
the stack's clock: `harness.localstack.alarms` makes the evaluations that can change a state, at their moment).
Each evaluation looks back EvaluationPeriods + max(EvaluationPeriods // 3, 2) periods ending at that
moment (`alarm_scheduler.collect_metric_data`): when every period is empty, TreatMissingData decides
(breaching: ALARM, notBreaching: OK, missing: INSUFFICIENT_DATA, ignore: no change) and the reason says
"no datapoints were received"; otherwise the non-empty periods are compared with the threshold, padded
with missing ones up to EvaluationPeriods for breaching/notBreaching, and EvaluationPeriods breaching
values make ALARM, fewer make OK, with the reason "Threshold Crossed". A state is entered only when it
differs from the current one, which is why an alarm that starts in ALARM (missing data, breaching) cannot
"enter ALARM" when its job later fails.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness import wire

if TYPE_CHECKING:
    from harness.scenario import AlarmSettings

MISSING_DATA_REASON = "Threshold Crossed: no datapoints were received for {n} period(s) and {n} missing " \
    "datapoint(s) were treated as [{how}]."
DATAPOINTS_REASON = "Threshold Crossed"

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
}


def evaluation_interval(settings: AlarmSettings) -> float:
    """Seconds between two evaluations of the alarm: LocalStack evaluates every Period x EvaluationPeriods."""
    return float(settings.period_seconds or 60) * int(settings.evaluation_periods or 1)


def lookback_periods(settings: AlarmSettings) -> int:
    """How many periods one evaluation looks back (`alarm_scheduler.collect_metric_data`)."""
    return lookback_count(int(settings.evaluation_periods or 1))


lookback_count = wire.lookback_count


@dataclass(frozen=True)
class ModelTransition:
    at: float
    old_state: str
    new_state: str
    reason: str


def alarm_transitions(
    settings: AlarmSettings,
    comparison: str,
    datapoints: list[tuple[float, float]],
    *,
    created: float,
    until: float,
) -> list[ModelTransition]:
    """The transitions of an alarm created at `created`, evaluated until `until`, over `datapoints`
    (time, value) of its metric; times in seconds of the stack's clock."""
    period = float(settings.period_seconds or 60)
    interval = evaluation_interval(settings)
    looked_back = lookback_periods(settings)
    compare = _COMPARE[comparison]
    state, transitions = "INSUFFICIENT_DATA", []
    for index in range(int((until - created) // interval) + 1):
        now = created + index * interval
        sums: list[float | None] = []
        for back in range(looked_back):
            end, start = now - back * period, now - (back + 1) * period
            values = [value for at, value in datapoints if start < at <= end]
            sums.append(sum(values) if values else None)
        wanted, reason = _evaluate(settings, compare, sums)
        if wanted is not None and wanted != state:
            transitions.append(ModelTransition(now, state, wanted, reason))
            state = wanted
    return transitions


def _evaluate(
    settings: AlarmSettings, compare: Callable[[float, float], bool], sums: list[float | None]
) -> tuple[str | None, str]:
    treat, periods = settings.treat_missing_data, int(settings.evaluation_periods or 1)
    if all(value is None for value in sums):
        how = {"breaching": "Breaching", "notBreaching": "NonBreaching", "missing": "Missing"}.get(treat)
        state = {"breaching": "ALARM", "notBreaching": "OK", "missing": "INSUFFICIENT_DATA"}.get(treat)
        return state, MISSING_DATA_REASON.format(n=periods, how=how)
    collected: list[float | None] = [value for value in sums if value is not None]
    if treat in ("breaching", "notBreaching"):
        collected += [None] * max(0, periods - len(collected))
    threshold = float(settings.threshold or 0)
    breaching = sum(1 for value in collected if (treat == "breaching" if value is None else compare(value, threshold)))
    return ("ALARM" if breaching >= periods else "OK"), DATAPOINTS_REASON
