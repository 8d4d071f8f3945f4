"""Lambda's asynchronous invocations on the stacks' clocks: retry delays, event age, and what the stack is doing.

LocalStack schedules retry n of an event invocation by sending it back to the function's internal event
queue with `DelaySeconds = n x LAMBDA_RETRY_BASE_DELAY` (AWS's 60 s: 1 and 2 minutes), which SQS would keep
on the wall clock. Here the delay is a timer on the function's stack clock (`harness.localstack.clock`), and
the message is sent undelayed when it falls due: a stack that has nothing to do until then has its clock
moved to it by the harness, so a 2-minute retry costs no waiting. The delay counts from the failure, as
AWS's does: from the moment the executor saw the attempt fail (`note_failure`). The throttling back-off
(1 s doubling to 5 min) goes the same way.

`MaximumEventAgeInSeconds` is compared on the same clock: an event's age is its stack's time since the
invoke, so a retry that would come after the age limit is not made, and the event goes to the DLQ and the
OnFailure destination with `EventAgeExceeded`, as on AWS.

The rest counts what LocalStack does for a stack's functions, so that its clock never moves while it does:
a call being served (`LambdaService.invoke`), an event queued and being handled (the poller), a metric
being recorded (LocalStack records them in a thread of their own).

Runs inside the LocalStack process; installed by `harness.localstack.patches`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from harness import wire
from harness.localstack import clock
from harness.wire import retry_in_time

LOG = logging.getLogger(__name__)


_FAILED_AT: OrderedDict[str, float] = OrderedDict()
"""Request ID -> when (on its stack's clock) its latest attempt failed; the newest few thousand."""
_KEPT = 4096
_LOCK = threading.Lock()


def note_failure(request_id: str, function_name: str) -> None:
    """Called by the executor when an attempt ends in an error, a timeout or a crash."""
    with _LOCK:
        _FAILED_AT[request_id] = clock.now(function_name)
        _FAILED_AT.move_to_end(request_id)
        while len(_FAILED_AT) > _KEPT:
            _FAILED_AT.popitem(last=False)


def _failure_of(message_body: str) -> tuple[str | None, float | None]:
    """The request ID of the event this event-queue message carries, and when its attempt that failed last
    failed, taken once: a later delayed send of the same event (the throttling back-off, which follows no
    failed attempt) has None."""
    try:
        request_id = json.loads(message_body)["request_id"]
    except (TypeError, ValueError, KeyError):
        request_id = None
    with _LOCK:
        failed_at = _FAILED_AT.pop(request_id, None) if request_id else None
    return request_id, failed_at


_RELEASED: OrderedDict[str, list[wire.RetryRelease]] = OrderedDict()
"""Request ID -> the retries of its event released after a failure, in order: the retry's delay as Lambda
applied it, on its stack's clock; the newest few thousand."""


def _note_release(request_id: str, function_name: str, failed_at: float, delay: float) -> None:
    release: wire.RetryRelease = {"request_id": request_id, "function": function_name, "failed_at": failed_at,
                                  "released_at": clock.now(function_name), "delay": delay}
    with _LOCK:
        _RELEASED.setdefault(request_id, []).append(release)
        _RELEASED.move_to_end(request_id)
        while len(_RELEASED) > _KEPT:
            _RELEASED.popitem(last=False)


def released(prefix: str) -> list[wire.RetryRelease]:
    """Every retry of the stack's functions that Lambda released after a failure, oldest first per event:
    when the attempt before failed (as the executor saw it) and when the retry's delay ran out, both on the
    stack's clock. What comes between the release and the handler (the poller, a busy machine) is the
    platform's own time, which the ledger's handler-entry times include."""
    with _LOCK:
        return [release for releases in _RELEASED.values() for release in releases
                if clock.belongs(release["function"], prefix)]


class DelaysOnTheClock:
    """The event manager's SQS client: a delayed send is a timer on the function's stack clock, then an
    undelayed send; every send counts the event as its stack's activity until the poller takes it."""

    def __init__(self, client: Any, function_name: str = "") -> None:
        self._client = client
        self._function_name = function_name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def _send(self, **kwargs: Any) -> dict[str, Any]:
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

        request_id, failed_at = _failure_of(kwargs.get("MessageBody", ""))

        def send() -> None:
            if request_id is not None and failed_at is not None:
                _note_release(request_id, self._function_name, failed_at, delay)
            try:
                self._send(**undelayed)
            except Exception:  # the function may have been deleted meanwhile, as a delayed message would go too
                LOG.warning("harness: a delayed Lambda retry could not be sent to %s", kwargs.get("QueueUrl"),
                            exc_info=True)

        due = (clock.now(self._function_name) if failed_at is None else failed_at) + delay
        clock.schedule(self._function_name, due, send, kind="retry",
                       what=f"retry of {self._function_name} ({delay} s after its failure)")
        return None  # LocalStack does not read the response of this send


def get_sqs_client(original: Any, function_version: Any, client_config: Any = None) -> Any:
    name = getattr(getattr(function_version, "id", None), "function_name", "") or ""
    return DelaysOnTheClock(original(function_version, client_config=client_config), name)


def has_enough_time_for_retry(original: Any, sqs_invocation: Any, event_invoke_config: Any) -> bool:
    """Whether the next retry still comes within MaximumEventAgeInSeconds: the event's age on its stack's
    clock plus the retry's delay, exactly (LocalStack rounds the age up to a whole second)."""
    from localstack import config

    function = _function_name(sqs_invocation.invocation.invoked_arn)
    prefix = clock.owner(function)
    limit = getattr(event_invoke_config, "maximum_event_age_in_seconds", None)
    invoked = sqs_invocation.invocation.invoke_time
    invoked_at = clock.stack_time(prefix, invoked.timestamp() if isinstance(invoked, datetime) else float(invoked))
    passed = clock.now_of(prefix) - invoked_at
    next_delay = (sqs_invocation.retries + 1) * config.LAMBDA_RETRY_BASE_DELAY_SECONDS
    return retry_in_time(passed, next_delay, limit)


def _function_name(arn: str) -> str:
    """The function's name in an ARN (`...:function:<name>[:qualifier]`), or the text itself."""
    parts = arn.split(":")
    return parts[6] if len(parts) > 6 and parts[5] == "function" else arn


def poller_init(original: Any, self: Any, *args: Any, **kwargs: Any) -> None:
    """`Poller.__init__`: the poller invokes the function once per attempt. LocalStack's client for it retried a
    throttled call (429) up to 4 more times, with botocore's random back-off of up to 15 s of the stack's time,
    before Lambda's own handling saw it: with reserved concurrency 0, AWS sends the event on at once."""
    from localstack.aws.connect import connect_to

    original(self, *args, **kwargs)
    function_id = self.version_manager.function_version.id
    self.lambda_client = connect_to(aws_access_key_id=function_id.account, region_name=function_id.region,
                                    config=_one_attempt()).lambda_


def _one_attempt() -> Any:
    """The one botocore `Config` of a single attempt: LocalStack's client factory caches a client per config
    object, so a new `Config` per poller built a new client for every function (1.5% of its CPU)."""
    global _ONE_ATTEMPT
    if _ONE_ATTEMPT is None:
        from botocore.config import Config

        _ONE_ATTEMPT = Config(retries={"total_max_attempts": 1})
    return _ONE_ATTEMPT


_ONE_ATTEMPT: Any = None


def handle_message(original: Any, self: Any, message: dict[str, Any]) -> None:
    """The poller takes an event off the queue and handles it: the invocation, then its retry, its dead
    letter and destination, all counted as the stack's activity for that invocation."""
    try:
        request = json.loads(message.get("Body") or "{}").get("request_id")
    except ValueError:
        request = None
    token = clock.begin("handling", self.version_manager.function_version.id.function_name, request)
    clock.event_taken(str(message.get("MessageId", "")))
    try:
        original(self, message)
    finally:
        clock.end(token)


_DEAD_LETTERING = threading.local()
"""In this thread: the request ID of the invocation whose event is being dead-lettered (`request_id`), the
failed invoke call being handled (`invoke_error`: its HTTP status and message), and the status the dead letter
gives as its `ErrorCode` (`error_code`)."""


def handle_invoke_exception(original: Any, self: Any, sqs_invocation: Any, error: Exception,
                            event_invoke_config: Any) -> Any:
    """`Poller._handle_invoke_exception`: the invoke call itself failed (a throttle; with reserved concurrency
    0, every call). LocalStack then dead-letters the event with no response payload, and loses the dead letter
    on it; the call's status and message are kept here for `process_dead_letter_queue`."""
    response = getattr(error, "response", None) or {}
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 500
    _DEAD_LETTERING.invoke_error = (str(status), (response.get("Error") or {}).get("Message") or str(error))
    try:
        return original(self, sqs_invocation, error, event_invoke_config)
    finally:
        _DEAD_LETTERING.invoke_error = None


def process_dead_letter_queue(original: Any, self: Any, sqs_invocation: Any, response_payload: Any) -> Any:
    """An event's dead letter carries the failed invocation's request ID in its `RequestID` attribute, as AWS
    documents (LocalStack 2026.3 writes a fresh UUID there: `prepare_messages_to_dlq`). An event whose invoke
    call failed (reserved concurrency 0 sends it here at once, as on AWS) has no response payload: its dead
    letter says the call's HTTP status (`ErrorCode` 429) and message, where LocalStack fails on the None and
    sends nothing."""
    _DEAD_LETTERING.request_id = getattr(sqs_invocation.invocation, "request_id", None)
    invoke_error = getattr(_DEAD_LETTERING, "invoke_error", None)
    if response_payload is None and invoke_error is not None:
        _DEAD_LETTERING.error_code, message = invoke_error
        response_payload = {"errorMessage": message}
    try:
        return original(self, sqs_invocation, response_payload)
    finally:
        _DEAD_LETTERING.request_id = _DEAD_LETTERING.error_code = None


def prepare_messages_to_dlq(original: Any, source_arn: str, event: dict[str, Any], error_message: str) -> Any:
    messages = original(source_arn, event, error_message)
    written = {"RequestID": getattr(_DEAD_LETTERING, "request_id", None),
               "ErrorCode": getattr(_DEAD_LETTERING, "error_code", None)}
    for message in messages:
        attributes = message.get("MessageAttributes") or {}
        for name, value in written.items():
            if value and isinstance(attributes.get(name), dict):
                attributes[name]["StringValue"] = str(value)
    return messages


def invoke(original: Any, self: Any, function_name: str, *args: Any, **kwargs: Any) -> Any:
    """`LambdaService.invoke`: a call of a function (a cold start included) is the stack's activity."""
    # (qualifier, region, account_id, invocation_type, client_context, request_id, payload, ...)
    request = kwargs.get("request_id", args[5] if len(args) > 5 else None)
    token = clock.begin("invoking", function_name, request)
    try:
        return original(self, function_name, *args, **kwargs)
    finally:
        clock.end(token)


def start_thread(original: Any, func: Any, *args: Any, name: str | None = None, **kwargs: Any) -> Any:
    """The version manager's threads that record an invocation's metrics count as the stack's activity from
    the moment the invocation ends, until the datapoints are stored."""
    function = _metric_thread_function(name or "")
    if function is None:
        return original(func, *args, name=name, **kwargs)
    token = clock.begin("recording", function)

    def counted(*inner_args: Any, **inner_kwargs: Any) -> Any:
        try:
            return func(*inner_args, **inner_kwargs)
        finally:
            clock.end(token)

    try:
        return original(counted, *args, name=name, **kwargs)
    except BaseException:
        clock.end(token)
        raise


def _metric_thread_function(thread_name: str) -> str | None:
    """The function in `record-cloudwatch-metric[-error]-<function>:<qualifier>`, LocalStack's thread names."""
    for marker in ("record-cloudwatch-metric-error-", "record-cloudwatch-metric-"):
        if thread_name.startswith(marker):
            return thread_name.removeprefix(marker).rsplit(":", 1)[0]
    return None
