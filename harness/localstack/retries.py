"""Time in the embedded LocalStack: Lambda's async retries start when their delay says, not at the next
tick of a poll; CloudWatch alarms run at the harness's time scale.

LocalStack schedules retry n of an event invocation by sending it back to the function's internal event
queue with `DelaySeconds = n x LAMBDA_RETRY_BASE_DELAY`. SQS makes a delayed message visible only when its
queue-update worker next runs, once a second, so a retry starts up to a second late (0.5 s on average; with
a 1 s base delay, retries landed at +1.5 s and +3 s instead of +1 s and +2 s). Here the delay is kept by a
timer instead, and the message is sent undelayed when it runs out, which wakes the function's long poll
at once. Nothing else changes: the delay is LocalStack's own figure, and every other send goes as it was.

The delay counts from the failure, as AWS's does: from the moment the harness's executor saw the attempt
fail (`note_failure`), not from when LocalStack, having stored the attempt's logs and metrics through its
own API (25 to 130 ms measured), gets to scheduling the retry.

Alarms: a scenario states AWS's periods (60 s, 5 min, ...). With `HARNESS_ALARM_TIME_SCALE` = S, the
alarm scheduler evaluates every Period x EvaluationPeriods / S seconds and each evaluation looks at periods
of Period / S seconds, through LocalStack's own evaluation (`alarm_scheduler.calculate_alarm_state`), so
missing data, the look-back and the reasons stay LocalStack's. Metrics keep whole seconds, so Period / S
must be a whole number of seconds (the harness refuses other periods before deploying;
`Platform.alarm_period_problem`). S is the retries' compression: 60 s of AWS in the base delay.

This module runs inside the LocalStack process (`harness.localstack.launch`), before LocalStack starts.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from datetime import datetime
from typing import Any

LOG = logging.getLogger(__name__)

_FAILED_AT: OrderedDict[str, float] = OrderedDict()
"""Request ID -> time.monotonic() when its latest attempt failed; the newest few thousand."""
_KEPT = 4096
_LOCK = threading.Lock()


def note_failure(request_id: str) -> None:
    """Called by the executor when an attempt ends in an error, a timeout or a crash."""
    with _LOCK:
        _FAILED_AT[request_id] = time.monotonic()
        _FAILED_AT.move_to_end(request_id)
        while len(_FAILED_AT) > _KEPT:
            _FAILED_AT.popitem(last=False)


def _since_failure(message_body: str) -> float:
    """Seconds since the failure of the attempt this event-queue message retries; 0 when unknown."""
    try:
        request_id = json.loads(message_body)["request_id"]
    except (TypeError, ValueError, KeyError):
        return 0.0
    with _LOCK:
        failed_at = _FAILED_AT.get(request_id)
    return 0.0 if failed_at is None else max(0.0, time.monotonic() - failed_at)


class _PromptDelays:
    """An SQS client whose delayed sends are held by a timer and then sent with no delay."""

    def __init__(self, client: Any, function_name: str = "") -> None:
        self._client = client
        self._function_name = function_name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _send(self, **kwargs: Any) -> dict[str, Any]:
        """Send to the event queue, counting the event as its stack's activity until its poller takes it."""
        from harness.localstack import clock

        token = clock.begin("queued", self._function_name)
        try:
            response = self._client.send_message(**kwargs)
        except BaseException:
            clock.end(token)
            raise
        clock.event_queued(str(response.get("MessageId", "")), token)
        return dict(response)

    def send_message(self, **kwargs: Any) -> dict[str, Any] | None:
        delay = kwargs.get("DelaySeconds") or 0
        if delay <= 0:
            return self._send(**kwargs)
        undelayed = {**kwargs, "DelaySeconds": 0}
        from harness.localstack import clock

        def send() -> None:
            try:
                self._send(**undelayed)
            except Exception:  # the function may have been deleted meanwhile, as a delayed message would go too
                LOG.warning("harness: a delayed Lambda retry could not be sent to %s", kwargs.get("QueueUrl"),
                            exc_info=True)
            finally:
                clock.end(held)  # queued now: its poller takes it from there

        held = clock.begin("held", self._function_name)  # a stack's clock cannot skip a retry that is due

        timer = threading.Timer(max(0.0, delay - _since_failure(kwargs.get("MessageBody", ""))), send)
        timer.daemon = True
        timer.name = f"harness-retry-{delay}s"
        timer.start()
        return None  # LocalStack does not read the response of this send


def install(alarm_time_scale: float = 1.0) -> None:
    """Route the Lambda event manager's SQS sends through `_PromptDelays`, and compress alarm periods."""
    from localstack.services.lambda_.invocation import event_manager

    original = event_manager.get_sqs_client

    def get_sqs_client(function_version: Any, client_config: Any = None) -> Any:
        name = getattr(getattr(function_version, "id", None), "function_name", "") or ""
        return _PromptDelays(original(function_version, client_config=client_config), name)

    event_manager.get_sqs_client = get_sqs_client
    global _SCALE
    _SCALE = alarm_time_scale
    _compress_event_age(alarm_time_scale)
    if alarm_time_scale != 1.0:
        _compress_alarms(alarm_time_scale)


_SCALE = 1.0


def configured_scale() -> float:
    """The alarm time scale this LocalStack was started with (`install`)."""
    return _SCALE


def compressed_period(period: float, scale: float) -> int:
    """An alarm Period of `period` AWS seconds at `scale`, in whole seconds (at least 1; the harness refuses
    a period that is not a whole number of seconds here, `Platform.alarm_period_problem`)."""
    from harness.model.platform import compress

    return max(1, round(compress(period, scale)))


DEFAULT_MAXIMUM_EVENT_AGE_S = 6 * 60 * 60
"""How long Lambda keeps an async event for retries when MaximumEventAgeInSeconds is not set (6 hours)."""


def _compress_event_age(scale: float) -> None:
    """MaximumEventAgeInSeconds is stated in AWS's seconds, like the retry delays that count against it, so
    it is compared at their compression: with 60 s of AWS in 1 s, an event with a 90 s age limit gets its
    first retry (1 s) but not its second (3 s). LocalStack compares the AWS figure with compressed delays,
    and rounds the time passed up to a whole second (60 s of AWS here); both are done exactly instead."""
    from localstack import config
    from localstack.services.lambda_.invocation import event_manager

    from harness.model.platform import compress

    def has_enough_time_for_retry(sqs_invocation: Any, event_invoke_config: Any) -> bool:
        age = getattr(event_invoke_config, "maximum_event_age_in_seconds", None)
        limit = DEFAULT_MAXIMUM_EVENT_AGE_S if age is None else age
        passed = (datetime.now() - sqs_invocation.invocation.invoke_time).total_seconds()
        next_delay = (sqs_invocation.retries + 1) * config.LAMBDA_RETRY_BASE_DELAY_SECONDS
        return bool(limit) and passed + next_delay <= compress(limit, scale)

    event_manager.has_enough_time_for_retry = has_enough_time_for_retry


def _compress_alarms(scale: float) -> None:
    from localstack.services.cloudwatch import alarm_scheduler
    from localstack.utils.scheduler import Scheduler

    from harness.model.platform import compress

    class CompressedScheduler(Scheduler):
        """The alarm scheduler's: an evaluation every Period x EvaluationPeriods / scale seconds."""

        def schedule(self, func: Any, period: float | None = None, *args: Any, **kwargs: Any) -> Any:
            if period is not None and func is alarm_scheduler.calculate_alarm_state:
                period = compress(period, scale)
            return super().schedule(func, period, *args, **kwargs)

    collect = alarm_scheduler.collect_metric_data

    def collect_metric_data(alarm_details: Any, client: Any) -> list[float]:
        # Each looked-back period lasts Period / scale seconds; the state reason keeps AWS's Period.
        return collect({**alarm_details, "Period": compressed_period(alarm_details["Period"], scale)}, client)

    alarm_scheduler.Scheduler = CompressedScheduler  # type: ignore[misc]  # patching LocalStack's module
    alarm_scheduler.collect_metric_data = collect_metric_data
    client_for_alarm = alarm_scheduler.get_cloudwatch_client_for_region_of_alarm

    def get_cloudwatch_client_for_region_of_alarm(alarm_arn: str) -> Any:
        from localstack.utils.aws import arns

        parsed = arns.parse_arn(alarm_arn)
        return ProviderMetrics(client_for_alarm(alarm_arn), parsed["account"], parsed["region"])

    alarm_scheduler.get_cloudwatch_client_for_region_of_alarm = get_cloudwatch_client_for_region_of_alarm


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
        provider = self._provider or _cloudwatch_provider()
        if provider is None:
            return self._client.get_metric_data(**kwargs)
        from localstack.aws.api import RequestContext

        context = RequestContext(None)
        context.account_id, context.region = self._account_id, self._region
        return provider.get_metric_data(context, kwargs["MetricDataQueries"], kwargs["StartTime"],
                                        kwargs["EndTime"])


def _cloudwatch_provider() -> Any:
    """The running CloudWatch provider; None if there is none (then the client is asked)."""
    from localstack.services.plugins import SERVICE_PLUGINS

    service = SERVICE_PLUGINS.get_service("cloudwatch")
    return getattr(service, "_provider", None) if service is not None else None
