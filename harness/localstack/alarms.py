"""CloudWatch on the stacks' clocks: a stack's metrics are stamped with its clock, and its alarms are evaluated
by LocalStack's own `calculate_alarm_state` at the moments of its clock when an evaluation can change their
state, so that a 1-day period costs one timer, not a day.

LocalStack evaluates a metric alarm at its creation and then every Period x EvaluationPeriods, each
evaluation looking back a few periods (`harness.model.alarms.lookback_count`). Its state can change only
at an evaluation that sees different data than the one before: the first one; the first after a datapoint
arrived; the first after a datapoint moved from one looked-back period to the next or out of them. So an
alarm of a stack has one timer, at the next such moment on the evaluation grid (`next_evaluation`), set
again after each evaluation and whenever a datapoint of the stack arrives. Alarms of no stack keep
LocalStack's own scheduler and the wall clock.

Runs inside the LocalStack process; installed by `harness.localstack.patches`.
"""

from __future__ import annotations

import datetime as _datetime
import logging
import math
import sqlite3
import threading
import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness import wire
from harness.localstack import clock

LOG = logging.getLogger(__name__)
_LOCAL = threading.local()
_LOCK = threading.Lock()
_OWNER_DIMENSIONS = ("FunctionName", "QueueName", "TopicName")


# -- "now" in CloudWatch's code: the clock of the stack being evaluated in this thread -------------------

class StackDatetime(_datetime.datetime):
    """`datetime` whose now() is the clock of the stack this thread works for (`on_clock_of`)."""

    @classmethod
    def now(cls, tz: _datetime.tzinfo | None = None) -> Any:
        return _datetime.datetime.now(tz) + _datetime.timedelta(seconds=getattr(_LOCAL, "offset", 0.0))

    @classmethod
    def utcnow(cls) -> Any:
        return cls.now(_datetime.UTC).replace(tzinfo=None)


DATETIME_MODULE = types.SimpleNamespace(**{**{name: getattr(_datetime, name) for name in dir(_datetime)
                                              if not name.startswith("__")}, "datetime": StackDatetime})
"""The `datetime` module as CloudWatch's provider sees it (its `datetime.datetime.now()` is on the clock)."""


class on_clock_of:  # noqa: N801 - used as a context manager, like contextlib's
    """Within it, this thread's "now" in CloudWatch's modules is the clock of `name`'s stack."""

    def __init__(self, name: str) -> None:
        self.offset = clock.offset_of(clock.owner(name))

    def __enter__(self) -> None:
        self.previous = getattr(_LOCAL, "offset", 0.0)
        _LOCAL.offset = self.offset

    def __exit__(self, *exc: object) -> None:
        _LOCAL.offset = self.previous


# -- when an evaluation can change an alarm's state --------------------------------------------------------

def first_grid_point(moment: float, grid_from: float, interval: float) -> float:
    """The first evaluation of the grid `grid_from + n x interval` at or after `moment`. A moment within 10 µs
    of a grid point (floating-point noise: an epoch's last bit is 0.24 µs) is that point. The tolerance is in
    seconds: one in steps grows with the interval (1e-6 steps of a day is 0.086 s, which took a crossing just
    after an evaluation for that evaluation)."""
    steps = (moment - grid_from) / interval
    nearest = round(steps)
    steps = float(nearest) if abs(steps - nearest) * interval < 1e-5 else math.ceil(steps)
    return grid_from + max(0.0, steps) * interval


def next_evaluation(*, after: float | None, grid_from: float, interval: float, period: float, looked_back: int,
                    datapoints: Sequence[float]) -> float | None:
    """The first evaluation after `after` (None: the first of all) that can see other data than the one at
    `after`; None when none can (no datapoint arrives or moves any more).

    LocalStack's evaluation at t looks at [t - (k + 1) period, t - k period) for k < looked_back, in whole
    seconds (the metric store truncates both ends), so a datapoint at whole second d is in period k when
    floor(t) is in (d + k period, d + (k + 1) period]: it enters period k (k = 0: it arrives) at the first
    t >= d + k period + 1, and leaves the last one at d + looked_back x period + 1."""
    if after is None:
        return grid_from
    candidates = []
    for datapoint in datapoints:
        for k in range(looked_back + 1):
            crossing = datapoint + k * period + 1
            if crossing > after:
                candidates.append(first_grid_point(crossing, grid_from, interval))
                break
    later = [moment for moment in candidates if moment > after + 1e-9]
    return min(later, default=None)


# -- a stack's alarms on its clock -------------------------------------------------------------------------

@dataclass
class _Alarm:
    arn: str
    name: str
    prefix: str
    account: str
    region: str
    details: dict[str, Any]
    grid_from: float
    interval: float
    period: float
    looked_back: int
    timer: clock.Timer | None = None
    evaluated_at: float | None = None


_ALARMS: dict[str, _Alarm] = {}


def _owner(name: str, details: dict[str, Any]) -> str | None:
    found = clock.owner(name)
    for dimension in details.get("Dimensions") or []:
        if found is None and dimension.get("Name") in _OWNER_DIMENSIONS:
            found = clock.owner(str(dimension.get("Value", "")))
    return found


def schedule_metric_alarm(original: Any, self: Any, alarm_arn: str) -> None:
    """LocalStack's `AlarmScheduler.schedule_metric_alarm`: an alarm of a stack goes on the stack's clock."""
    from localstack.services.cloudwatch import alarm_scheduler
    from localstack.utils.aws import arns

    details = alarm_scheduler.get_metric_alarm_details_for_alarm_arn(alarm_arn)
    name = alarm_arn.split(":alarm:", 1)[-1]
    prefix = _owner(name, dict(details or {}))
    if details is None or prefix is None:
        return original(self, alarm_arn)  # not a stack's: LocalStack's scheduler, on the wall clock
    self.delete_scheduler_for_alarm(alarm_arn)
    if not self._is_alarm_supported(details):
        return None
    clock.register_name(name, prefix)
    parsed = arns.parse_arn(alarm_arn)
    period = float(details["Period"])
    alarm = _Alarm(alarm_arn, name, prefix, parsed["account"], parsed["region"], dict(details),
                   grid_from=clock.now_of(prefix), interval=period * int(details["EvaluationPeriods"]),
                   period=period, looked_back=wire.lookback_count(int(details["EvaluationPeriods"])))
    with _LOCK:
        _ALARMS[alarm_arn] = alarm
    _reschedule(alarm)
    return None


def delete_scheduler_for_alarm(original: Any, self: Any, alarm_arn: str) -> None:
    with _LOCK:
        alarm = _ALARMS.pop(alarm_arn, None)
    if alarm is not None:
        clock.cancel(alarm.timer)
    original(self, alarm_arn)


def _reschedule(alarm: _Alarm) -> None:
    """Set the alarm's timer at its next evaluation that can change its state (none: no timer)."""
    after = alarm.evaluated_at
    start = (after if after is not None else alarm.grid_from) - (alarm.looked_back + 1) * alarm.period - 1
    moment = next_evaluation(after=after, grid_from=alarm.grid_from, interval=alarm.interval, period=alarm.period,
                             looked_back=alarm.looked_back, datapoints=_datapoint_times(alarm, start))
    with _LOCK:
        if _ALARMS.get(alarm.arn) is not alarm:
            return  # deleted meanwhile
        clock.cancel(alarm.timer)
        alarm.timer = None if moment is None else clock.schedule_on(
            alarm.prefix, moment, lambda: _evaluate(alarm), kind="alarm", what=f"alarm {alarm.name} evaluates")


def _evaluate(alarm: _Alarm) -> dict[str, Any] | None:
    """One evaluation by LocalStack's own code, at the alarm's moment on its stack's clock; the state change
    it made, if any."""
    from localstack.services.cloudwatch import alarm_scheduler

    before = _current(alarm)
    alarm_scheduler.calculate_alarm_state(alarm.arn)
    alarm.evaluated_at = clock.now_of(alarm.prefix)
    after = _current(alarm)
    _reschedule(alarm)
    if after is None or before is None or after["StateValue"] == before["StateValue"]:
        return None
    actions = {"OK": "OKActions", "ALARM": "AlarmActions"}.get(after["StateValue"], "InsufficientDataActions")
    return {"alarm": alarm.name, "state": after["StateValue"], "at": alarm.evaluated_at,
            "notifies": bool(after.get("ActionsEnabled", True) and after.get(actions))}


def _current(alarm: _Alarm) -> dict[str, Any] | None:
    from localstack.services.cloudwatch.models import cloudwatch_stores

    found = cloudwatch_stores[alarm.account][alarm.region].alarms.get(alarm.arn)
    return dict(found.alarm) if found is not None else None


def datapoint_arrived(prefix: str) -> None:
    """A datapoint of the stack was stored: each of its alarms may now change at an earlier evaluation."""
    with _LOCK:
        alarms = [alarm for alarm in _ALARMS.values() if alarm.prefix == prefix]
    for alarm in alarms:
        _reschedule(alarm)


def _datapoint_times(alarm: _Alarm, start: float) -> list[float]:
    """The whole-second times at or after `start` at which the alarm's metric has datapoints, read from
    LocalStack's metric store with the filter its GetMetricData uses."""
    from localstack.services.cloudwatch.cloudwatch_database_helper import CloudwatchDatabase

    database = CloudwatchDatabase
    dimensions = [dict(d) for d in alarm.details.get("Dimensions") or []]
    params: list[Any] = [alarm.account, alarm.region, alarm.details.get("Namespace"), alarm.details["MetricName"]]
    dimension_filter = "AND dimensions is null"
    if dimensions:
        dimension_filter = "AND dimensions LIKE ?"
        params.append(database._get_ordered_dimensions_with_separator(database, dimensions, for_search=True))  # type: ignore[arg-type]
    query = " UNION ".join(
        f"SELECT DISTINCT timestamp FROM {table} WHERE account_id = ? AND region = ? AND namespace = ? "
        f"AND metric_name = ? {dimension_filter} AND timestamp >= ?"
        for table in (database.TABLE_SINGLE_METRICS, database.TABLE_AGGREGATED_METRICS))
    try:
        with sqlite3.connect(database.METRICS_DB_READ_ONLY, uri=True) as connection:
            rows = connection.execute(query, (params + [int(start)]) * 2).fetchall()
    except sqlite3.OperationalError:
        return []  # no metric stored yet: no database file
    return sorted(float(row[0]) for row in rows)


# -- patch bodies --------------------------------------------------------------------------------------------

def calculate_alarm_state(original: Any, alarm_arn: str) -> None:
    with on_clock_of(alarm_arn.split(":alarm:", 1)[-1]):
        original(alarm_arn)


def set_alarm_state(original: Any, self: Any, context: Any, alarm_name: str, *args: Any, **kwargs: Any) -> Any:
    with on_clock_of(alarm_name):
        return original(self, context, alarm_name, *args, **kwargs)


def put_metric_alarm(original: Any, self: Any, context: Any, request: Any) -> Any:
    """CloudwatchProvider.put_metric_alarm: the alarm's configuration time is on its stack's clock."""
    with on_clock_of(str(request.get("AlarmName", ""))):
        return original(self, context, request)


def add_metric_data(original: Any, self: Any, account_id: str, region: str, namespace: str, metric_data: Any) -> Any:
    """Metrics of a stack's resources are timed on its clock; its alarms then look again when they may change."""
    owners = set()
    timed = []
    for metric in metric_data or []:
        prefix = next((owner for dimension in metric.get("Dimensions") or []
                       if dimension.get("Name") in _OWNER_DIMENSIONS
                       and (owner := clock.owner(str(dimension.get("Value", "")))) is not None), None)
        if prefix is not None:
            owners.add(prefix)
            stamp = metric.get("Timestamp") or _datetime.datetime.now(_datetime.UTC)
            metric = {**metric, "Timestamp": stamp + _datetime.timedelta(seconds=clock.offset_of(prefix))}
        timed.append(metric)
    result = original(self, account_id, region, namespace, timed)
    for prefix in owners:
        datapoint_arrived(prefix)
    return result


def get_cloudwatch_client_for_region_of_alarm(original: Any, alarm_arn: str) -> Any:
    from localstack.utils.aws import arns

    parsed = arns.parse_arn(alarm_arn)
    return ProviderMetrics(original(alarm_arn), parsed["account"], parsed["region"])


class ProviderMetrics:
    """The alarm scheduler's CloudWatch client, whose GetMetricData goes straight to CloudWatch's provider.

    An evaluation queries EvaluationPeriods + 2 periods, one GetMetricData each, through LocalStack's
    in-memory client: a request built, signed and parsed again by the gateway, then the answer serialized
    and parsed back, around a SQLite query. The provider's own get_metric_data gives the same answer without
    that. Everything else (DescribeAlarms, SetAlarmState, whose effects LocalStack's handlers see) goes
    through the client as before."""

    def __init__(self, client: Any, account_id: str, region: str, provider: Any = None) -> None:
        self._client = client
        self._account_id = account_id
        self._region = region
        self._provider = provider

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_metric_data(self, **kwargs: Any) -> Any:
        provider = self._provider or cloudwatch_provider()
        if provider is None:
            return self._client.get_metric_data(**kwargs)
        from localstack.aws.api import RequestContext

        context = RequestContext(None)
        context.account_id, context.region = self._account_id, self._region
        return provider.get_metric_data(context, kwargs["MetricDataQueries"], kwargs["StartTime"],
                                        kwargs["EndTime"])


def cloudwatch_provider() -> Any:
    """The running CloudWatch provider; None if there is none (then the client is asked)."""
    from localstack.services.plugins import SERVICE_PLUGINS

    service = SERVICE_PLUGINS.get_service("cloudwatch")
    return getattr(service, "_provider", None) if service is not None else None
