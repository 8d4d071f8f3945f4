"""Virtual time for a stack's alarms: idle days pass in milliseconds, and CloudWatch still decides.

The embedded LocalStack runs alarms compressed (`harness.localstack.retries`, 1 min = 1 s), which makes a
1-day period 1,440 s: too long to wait for. A stack's alarms therefore run on the stack's own clock, which
is the wall clock plus an offset. While the stack works, its clock runs with the wall clock. Once it is
idle, the harness may move the clock forward (`POST /_harness/clock/<stack>`), as a test server with time
skipping does: nothing of the stack can happen in the skipped time, except CloudWatch evaluating its
alarms, and those evaluations are made here, by LocalStack's own `calculate_alarm_state`, each at its
moment on the skipped clock.

Which evaluations: an alarm evaluates every Period x EvaluationPeriods on a grid from its creation (on
the stack's clock, that grid moves with each skip: LocalStack's scheduler keeps the wall clock's); its
state can only change at an evaluation that sees different data than the one before,
that is, the first one after a datapoint moved from one looked-back period to the next or out of the
look-back, or the first one at all. So a skip of four days evaluates a 1-day alarm a handful of times and
a 60 s alarm a few times too, not 5,760 times.

What the stack's clock changes (for names owned by the stack: its functions, and its alarms by name or by
their FunctionName dimension): the timestamps of its metrics when stored, the "now" of its alarms'
evaluations, and the StateChangeTime and history of its alarms' state changes. Everything else in the
LocalStack (Lambda, SQS, SNS, logs, other stacks) keeps the wall clock.

The clock cannot move while the stack is busy, by the LocalStack's own count (`busy`): an invocation of
one of its functions is running, a retry is held by a timer, an event is on a function's event queue or
being handled (the invocation, then its retry or dead letter), or an SNS message of one of its topics is
on its way. The same count is the settling evidence of the harness (`harness.expect.settling`), which
moves the clock only once that evidence, and its own, say the pipeline has settled
(`harness.expect.engine`).

This module runs inside the LocalStack process (`harness.localstack.launch`).
"""

from __future__ import annotations

import datetime as _datetime
import itertools
import json
import logging
import math
import sqlite3
import threading
import time
import types
from collections import Counter, OrderedDict
from typing import Any

from harness.localstack import taps as tapping

LOG = logging.getLogger(__name__)

ROUTE = "/_harness/clock"

_LOCK = threading.RLock()
_ADVANCING = threading.Lock()
_OFFSETS: dict[str, float] = {}
"""Stack prefix -> seconds its clock is ahead of the wall clock."""
_ALIASES: dict[str, str] = {}
"""Alarm name -> the stack prefix that owns it (an alarm whose name does not start with the prefix)."""
_LOCAL = threading.local()


# -- what a name belongs to, and its clock -----------------------------------------------------------------

def belongs(name: str, prefix: str) -> bool:
    """Whether `name` (a function, topic or alarm) is of the stack `prefix`: the harness names them so."""
    return name == prefix or name.startswith(prefix + "-")


def owner(name: str) -> str | None:
    """The registered stack prefix that `name` (a function or an alarm) belongs to, or None."""
    with _LOCK:
        if name in _ALIASES:
            return _ALIASES[name]
        found = [prefix for prefix in _OFFSETS if belongs(name, prefix)]
    return max(found, key=len) if found else None


def offset_for(name: str) -> float:
    """Seconds the clock of `name`'s stack is ahead of the wall clock (0 for a name of no stack)."""
    prefix = owner(name)
    with _LOCK:
        return _OFFSETS.get(prefix, 0.0) if prefix is not None else 0.0


class _StackDatetime(_datetime.datetime):
    """`datetime` whose now() is the clock of the stack being evaluated in this thread (`_LOCAL.offset`)."""

    @classmethod
    def now(cls, tz: _datetime.tzinfo | None = None) -> Any:
        return _datetime.datetime.now(tz) + _datetime.timedelta(seconds=getattr(_LOCAL, "offset", 0.0))

    @classmethod
    def utcnow(cls) -> Any:
        return cls.now(_datetime.UTC).replace(tzinfo=None)


class _OnStackClock:
    """Within it, this thread's "now" (in the patched CloudWatch modules) is the clock of `name`'s stack."""

    def __init__(self, name: str) -> None:
        self.offset = offset_for(name)

    def __enter__(self) -> None:
        self.previous = getattr(_LOCAL, "offset", 0.0)
        _LOCAL.offset = self.offset

    def __exit__(self, *exc: object) -> None:
        _LOCAL.offset = self.previous


# -- what keeps a clock from moving: the stack's activity ----------------------------------------------

# A queued event is picked up by its function's poller within milliseconds; one still unclaimed after this
# long was consumed elsewhere (a deleted function), and is no longer counted.
QUEUED_FOR_AT_MOST_S = 10.0
_WORDS = {
    "running": "invocation(s) of {name} running",
    "held": "retry(ies) of {name} due",
    "queued": "event(s) for {name} queued",
    "handling": "event(s) of {name} being handled",
    "delivering": "message(s) of topic {name} being delivered",
}
_ACTIVITY: dict[int, tuple[str, str, float]] = {}
"""Token -> (kind, function or topic name, since): what the LocalStack is doing for some stack now."""
_TOKENS = itertools.count()
_QUEUED: dict[str, int] = {}
"""Event-queue message ID -> its "queued" token, until the function's poller takes the message."""
_TAKEN_EARLY: OrderedDict[str, bool] = OrderedDict()
"""Message IDs the poller took before their sender had recorded them."""


def begin(kind: str, name: str) -> int:
    """Something of `name` (a function or topic) is now under way; `end` the token when it is over."""
    token = next(_TOKENS)
    with _LOCK:
        _ACTIVITY[token] = (kind, name, time.monotonic())
    return token


def end(token: int | None) -> None:
    if token is not None:
        with _LOCK:
            _ACTIVITY.pop(token, None)


def event_queued(message_id: str, token: int) -> None:
    """The event counted by `token` (`begin("queued", function)` before it was sent) is on its function's
    event queue as `message_id`, until its poller takes it (which may already have happened)."""
    with _LOCK:
        if _TAKEN_EARLY.pop(message_id, None) is None:
            _QUEUED[message_id] = token
            return
    end(token)


def event_taken(message_id: str) -> None:
    """The function's poller took the event off its queue."""
    with _LOCK:
        token = _QUEUED.pop(message_id, None)
        if token is None:  # taken before its sender had the message ID back
            _TAKEN_EARLY[message_id] = True
            while len(_TAKEN_EARLY) > 4096:
                _TAKEN_EARLY.popitem(last=False)
    end(token)


def busy(prefix: str) -> list[str]:
    """Why the stack `prefix` cannot have its clock moved now, in words; [] when it is idle: none of its
    invocations runs, no retry of one is due, no event of one is queued or being handled (an event's
    retries and dead letter are handled in the same step), and no message of its topics is on its way."""
    now = time.monotonic()
    counts: Counter[tuple[str, str]] = Counter()
    with _LOCK:
        for token, (kind, name, since) in list(_ACTIVITY.items()):
            if kind == "queued" and now - since > QUEUED_FOR_AT_MOST_S:
                del _ACTIVITY[token]  # consumed elsewhere: see QUEUED_FOR_AT_MOST_S
            elif belongs(name, prefix):
                counts[(kind, name)] += 1
    order = list(_WORDS)
    return [f"{count} " + _WORDS[kind].format(name=name)
            for (kind, name), count in sorted(counts.items(), key=lambda item: (order.index(item[0][0]), item[0][1]))]


# -- moving a clock ---------------------------------------------------------------------------------------

def _epoch(value: Any) -> float:
    if isinstance(value, _datetime.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=_datetime.UTC)).timestamp()
    return float(value)


def evaluation_points(*, now: float, until: float, grid_from: float, interval: float, period: float,
                      looked_back: int, datapoints: list[float]) -> list[float]:
    """The moments in (now, until] at which an alarm evaluated every `interval` seconds on the grid through
    `grid_from` can change state: its first evaluation after `now`; the first after each datapoint moved
    into the next of its `looked_back` periods of `period` seconds, or out of them; and the last one.

    LocalStack's evaluation at t looks at [t - (k + 1) period, t - k period) for k < looked_back, in whole
    seconds (the metric store truncates both ends), so a datapoint at whole second d is in period k when
    floor(t) is in (d + k period, d + (k + 1) period]: it moves on at the first t >= d + k period + 1.
    """
    if until <= now or interval <= 0:
        return []

    def steps(moment: float) -> float:
        # How many intervals from grid_from, a whole number when it is within rounding of one.
        count = (moment - grid_from) / interval
        return float(round(count)) if abs(count - round(count)) < 1e-6 else count

    def first_after(moment: float) -> float:
        return grid_from + (math.floor(steps(moment)) + 1) * interval

    def first_from(moment: float) -> float:
        return grid_from + math.ceil(steps(moment)) * interval

    points = {first_after(now)}
    last = first_after(until) - interval
    if last > now:
        points.add(last)
    for datapoint in datapoints:
        for k in range(1, looked_back + 1):
            crossing = datapoint + k * period + 1
            if now <= crossing <= until:
                points.add(first_from(crossing))
    return sorted(point for point in points if steps(now) < steps(point) <= steps(until))


def _owned_alarms(client: Any, prefix: str) -> list[dict[str, Any]]:
    found = []
    for page in client.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"]):
        for alarm in page.get("MetricAlarms", []):
            name = alarm["AlarmName"]
            functions = [d.get("Value", "") for d in alarm.get("Dimensions", []) if d.get("Name") == "FunctionName"]
            if belongs(name, prefix):
                found.append(alarm)
            elif any(belongs(function, prefix) for function in functions):
                with _LOCK:
                    _ALIASES[name] = prefix
                found.append(alarm)
    return found


def _datapoint_times(alarm: dict[str, Any], account: str, region: str, start: float, end: float) -> list[float]:
    """The whole-second times at which the alarm's metric has datapoints in [start, end), read from
    LocalStack's metric store with the filter its GetMetricData uses. (GetMetricData itself would need one
    query per second: 3 s for a 1-day look-back.)"""
    from localstack.services.cloudwatch.cloudwatch_database_helper import CloudwatchDatabase

    database = CloudwatchDatabase
    dimensions = [dict(d) for d in alarm.get("Dimensions") or []]
    params: list[Any] = [account, region, alarm.get("Namespace"), alarm["MetricName"]]
    dimension_filter = "AND dimensions is null"
    if dimensions:
        dimension_filter = "AND dimensions LIKE ?"
        params.append(database._get_ordered_dimensions_with_separator(database, dimensions, for_search=True))  # type: ignore[arg-type]
    query = " UNION ".join(
        f"SELECT DISTINCT timestamp FROM {table} WHERE account_id = ? AND region = ? AND namespace = ? "
        f"AND metric_name = ? {dimension_filter} AND timestamp >= ? AND timestamp < ?"
        for table in (database.TABLE_SINGLE_METRICS, database.TABLE_AGGREGATED_METRICS))
    bounds = [int(start), int(end) + 1]
    try:
        with sqlite3.connect(database.METRICS_DB_READ_ONLY, uri=True) as connection:
            rows = connection.execute(query, (params + bounds) * 2).fetchall()
    except sqlite3.OperationalError:
        return []  # no metric stored yet: no database file
    return sorted(float(row[0]) for row in rows)


def advance(prefix: str, seconds: float, *, stop_at_change: bool, region: str, account: str) -> dict[str, Any]:
    """Move the clock of stack `prefix` forward by `seconds`, evaluating its alarms on the way (see the
    module's text); with `stop_at_change`, stop at the first evaluation that changes an alarm's state.

    Raises `Busy` when the stack is not idle."""
    from localstack.aws.connect import connect_to

    from harness.localstack.retries import compressed_period, configured_scale
    from harness.model.alarms import lookback_count
    from harness.model.platform import compress

    with _ADVANCING:
        reasons = busy(prefix)
        if reasons:
            raise Busy(reasons)
        client = connect_to(region_name=region, aws_access_key_id=account).cloudwatch
        scale = configured_scale()
        with _LOCK:
            _OFFSETS.setdefault(prefix, 0.0)
            start_offset = _OFFSETS[prefix]
        now = time.time() + start_offset
        until = now + seconds
        alarms = _owned_alarms(client, prefix)
        plan: list[tuple[float, str]] = []
        for alarm in alarms:
            period = float(compressed_period(alarm["Period"], scale))
            interval = compress(float(alarm["Period"]) * alarm["EvaluationPeriods"], scale)
            looked_back = lookback_count(alarm["EvaluationPeriods"])
            # The scheduler evaluates every interval from the alarm's creation on the wall clock: on the
            # stack's clock, that grid is shifted by the offset.
            grid_from = _epoch(alarm["AlarmConfigurationUpdatedTimestamp"]) + start_offset
            datapoints = _datapoint_times(alarm, account, region, now - (looked_back + 1) * period, now)
            points = evaluation_points(now=now, until=until, grid_from=grid_from, interval=interval,
                                       period=period, looked_back=looked_back, datapoints=datapoints)
            plan += [(point, alarm["AlarmArn"]) for point in points]
        plan.sort()
        changes: list[dict[str, Any]] = []
        reached = until
        from localstack.services.cloudwatch import alarm_scheduler

        for moment, arn in plan:
            name = arn.split(":alarm:", 1)[1]
            before = _state(client, name)
            _move(prefix, moment)
            alarm_scheduler.calculate_alarm_state(arn)
            after = _state(client, name)
            if after is not None and after["StateValue"] != (before or {}).get("StateValue"):
                actions = {"OK": "OKActions", "ALARM": "AlarmActions"}.get(after["StateValue"],
                                                                           "InsufficientDataActions")
                notifies = bool(after.get("ActionsEnabled", True) and after.get(actions))
                changes.append({"alarm": name, "state": after["StateValue"], "at": moment, "notifies": notifies})
                if stop_at_change:
                    reached = moment
                    break
        offset = _move(prefix, reached)
        return {"offset": offset, "advanced": time.time() + offset - now, "changes": changes,
                "notifications": sum(1 for change in changes if change["notifies"])}


def _move(prefix: str, moment: float) -> float:
    """Set the stack's clock to `moment`, or leave it where it is if it is there already (evaluating took
    wall time): a clock never goes back. The new offset."""
    with _LOCK:
        _OFFSETS[prefix] = max(_OFFSETS.get(prefix, 0.0), moment - time.time())
        return _OFFSETS[prefix]


def _state(client: Any, name: str) -> dict[str, Any] | None:
    alarms = client.describe_alarms(AlarmNames=[name]).get("MetricAlarms", [])
    return alarms[0] if alarms else None


class Busy(Exception):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def forget(prefix: str) -> None:
    """The stack is gone: drop its clock."""
    with _LOCK:
        _OFFSETS.pop(prefix, None)
        for alarm in [name for name, owned in _ALIASES.items() if owned == prefix]:
            del _ALIASES[alarm]


# -- installation ----------------------------------------------------------------------------------------

def install() -> None:
    """Put CloudWatch's alarm evaluation, alarm state changes and metric storage on the stacks' clocks, and
    serve ``/_harness/clock/<stack>`` (GET: offset and busy reasons; POST {"seconds", "stop_at_change",
    "region", "account"}: advance; DELETE: forget)."""
    from localstack.services.cloudwatch import alarm_scheduler, provider_v2
    from localstack.services.cloudwatch.cloudwatch_database_helper import CloudwatchDatabase

    alarm_scheduler.datetime = _StackDatetime  # type: ignore[misc]  # its now() is read for the look-back
    shim = types.SimpleNamespace(**{name: getattr(_datetime, name) for name in dir(_datetime)
                                    if not name.startswith("__")})
    shim.datetime = _StackDatetime
    provider_v2.datetime = shim  # type: ignore[assignment]  # StateUpdatedTimestamp, history

    calculate = alarm_scheduler.calculate_alarm_state

    def calculate_alarm_state(alarm_arn: str) -> None:
        with _OnStackClock(alarm_arn.split(":alarm:", 1)[-1]):
            calculate(alarm_arn)

    alarm_scheduler.calculate_alarm_state = calculate_alarm_state

    set_state = provider_v2.CloudwatchProvider.set_alarm_state

    def set_alarm_state(self: Any, context: Any, alarm_name: str, *args: Any, **kwargs: Any) -> Any:
        with _OnStackClock(alarm_name):
            return set_state(self, context, alarm_name, *args, **kwargs)

    provider_v2.CloudwatchProvider.set_alarm_state = set_alarm_state  # type: ignore[method-assign]

    add = CloudwatchDatabase.add_metric_data

    def add_metric_data(self: Any, account_id: str, region: str, namespace: str, metric_data: Any) -> Any:
        timed: Any = [_on_stack_clock(metric) for metric in metric_data or []]
        return add(self, account_id, region, namespace, timed)

    CloudwatchDatabase.add_metric_data = add_metric_data  # type: ignore[method-assign]
    _track_events_and_deliveries()
    _install_route()


def _track_events_and_deliveries() -> None:
    """Count the Lambda event-queue steps and the SNS deliveries of each stack as its activity."""
    from localstack.services.lambda_.invocation.event_manager import Poller
    from localstack.services.sns.publisher import PublishDispatcher

    handle = Poller.handle_message

    def handle_message(self: Any, message: dict[str, Any]) -> None:
        token = begin("handling", self.version_manager.function_version.id.function_name)
        event_taken(str(message.get("MessageId", "")))
        try:
            handle(self, message)
        finally:
            end(token)

    Poller.handle_message = handle_message  # type: ignore[method-assign]

    submit = PublishDispatcher._submit_notification

    def _submit_notification(self: Any, notifier: Any, ctx: Any, subscriber: Any) -> None:
        token = begin("delivering", str(subscriber.get("TopicArn", "")).rsplit(":", 1)[-1])

        def publish(*args: Any, **kwargs: Any) -> Any:
            try:
                return notifier.publish(*args, **kwargs)
            finally:
                end(token)

        try:
            submit(self, types.SimpleNamespace(publish=publish), ctx, subscriber)
        except BaseException:
            end(token)
            raise

    PublishDispatcher._submit_notification = _submit_notification  # type: ignore[method-assign]


def _on_stack_clock(metric: dict[str, Any]) -> dict[str, Any]:
    """A datum of a stack's function, timed on that stack's clock."""
    functions = [d.get("Value", "") for d in metric.get("Dimensions") or [] if d.get("Name") == "FunctionName"]
    offset = max((offset_for(function) for function in functions), default=0.0)
    if not offset:
        return metric
    stamp = metric.get("Timestamp") or _datetime.datetime.now(_datetime.UTC)
    return {**metric, "Timestamp": stamp + _datetime.timedelta(seconds=offset)}


def _install_route() -> None:
    from localstack.services.edge import ROUTER
    from rolo import Response

    def reply(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status=status, mimetype="application/json")

    def endpoint(request: Any, prefix: str) -> Response:
        if request.method == "GET":
            # The count first, then the taps: a message delivered before the count said idle is in a tap.
            activity = busy(prefix)
            return reply({"offset": offset_for(prefix), "busy": activity,
                          "waiting": tapping.waiting(prefix, request.args.get("account", "000000000000"),
                                                     request.args.get("region", "us-east-1"))})
        if request.method == "DELETE":
            forget(prefix)
            return Response(status=204)
        try:
            body = json.loads(request.get_data() or b"{}")
            seconds = float(body["seconds"])
            if seconds < 0:
                raise ValueError("seconds must be 0 or more: a clock only moves forward")
        except (ValueError, KeyError, TypeError) as error:
            return reply({"error": f"give {{\"seconds\": N}}: {error}"}, 400)
        try:
            return reply(advance(prefix, seconds, stop_at_change=bool(body.get("stop_at_change")),
                                 region=str(body.get("region") or "us-east-1"),
                                 account=str(body.get("account") or "000000000000")))
        except Busy as error:
            return reply({"busy": error.reasons}, 409)

    ROUTER.add(f"{ROUTE}/<prefix>", endpoint=endpoint, methods=["GET", "POST", "DELETE"])
