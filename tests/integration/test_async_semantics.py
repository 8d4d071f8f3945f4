"""LocalStack's own Lambda machinery driving our environments: async retries, DLQs, destinations,
SNS triggers, function-to-function calls and metrics, held to AWS's documented semantics."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from harness.observe.taps import QueueTap
from harness.waiting import wait_for
from harness.wire import StackTime
from tests.integration.conftest import invoke, unique_name
from tests.support.taps import wait_for_count

# Each attempt reports itself to a ledger queue, so attempts are counted by the function, not by logs.
FAILING = """
import json, os, time, boto3
SQS = boto3.client("sqs")
def handler(event, context):
    SQS.send_message(QueueUrl=os.environ["LEDGER_URL"],
                     MessageBody=json.dumps({"request_id": context.aws_request_id, "t": time.time()}))
    raise RuntimeError("shard exploded: " + json.dumps(event))
"""

# Retry delays are AWS's 1 and 2 minutes, on the function's clock, which `clocks` moves over them: a failure
# reaches its DLQ within seconds of wall time.
ASYNC_DEADLINE_S = 30


def arrived(tap: QueueTap, count: int) -> Callable[[], list[Any]]:
    """A condition for `Clocks.run_until`: the tap has received at least `count` messages."""
    def check() -> list[Any]:
        tap.poll(wait_s=0.05)
        return tap.messages if len(tap.messages) >= count else []

    return check


def _async_invoke(lam, name: str, event: dict) -> str:
    response = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event))
    assert response["StatusCode"] == 202
    return response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]


def test_failed_async_invoke_retries_twice_then_dead_letters_and_notifies_on_failure(aws, deploy, queue, clocks):
    lam, sqs, sns = aws("lambda"), aws("sqs"), aws("sns")
    ledger_url, _ = queue("ledger")
    dlq_url, dlq_arn = queue("dlq")
    dest_url, dest_arn = queue("on-failure")
    topic_arn = sns.create_topic(Name=unique_name("dlq-topic"))["TopicArn"]
    topic_tap_url, topic_tap_arn = queue("dlq-topic-tap")
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=topic_tap_arn)

    to_queue = deploy(FAILING, env={"LEDGER_URL": ledger_url}, DeadLetterConfig={"TargetArn": dlq_arn})
    lam.put_function_event_invoke_config(
        FunctionName=to_queue, DestinationConfig={"OnFailure": {"Destination": dest_arn}})
    to_topic = deploy(FAILING, env={"LEDGER_URL": ledger_url}, DeadLetterConfig={"TargetArn": topic_arn})

    event = {"job_id": "job-1", "file_ids": ["f-1", "f-2"]}
    queue_request = _async_invoke(lam, to_queue, event)
    topic_request = _async_invoke(lam, to_topic, event)

    dlq = clocks.run_until(arrived(QueueTap(sqs, dlq_url, "SQS DLQ"), 1), deadline_s=ASYNC_DEADLINE_S)
    topic_dlq = clocks.run_until(arrived(QueueTap(sqs, topic_tap_url, "SNS DLQ"), 1), deadline_s=ASYNC_DEADLINE_S)
    destination = wait_for_count(QueueTap(sqs, dest_url, "OnFailure"), 1, 10)
    ledger = wait_for_count(QueueTap(sqs, ledger_url, "ledger"), 6, 5)

    attempts: dict[str, list[float]] = {}
    for entry in ledger:
        record = json.loads(entry.message)
        attempts.setdefault(record["request_id"], []).append(record["t"])
    # Exactly three attempts each, all under the request ID the caller got back.
    assert {k: len(v) for k, v in attempts.items()} == {queue_request: 3, topic_request: 3}
    # On the function's clock, a minute and then two minutes apart (the function reads the wall clock).
    on_its_clock = StackTime.of(clocks.state(to_queue)).at
    times = sorted(on_its_clock(t) for t in attempts[queue_request])
    assert 60 <= times[1] - times[0] < 62 and 120 <= times[2] - times[1] < 122, times

    for message, request in ((dlq[0], queue_request), (topic_dlq[0], topic_request)):
        assert json.loads(message.message) == event
        # AWS: the request ID of the failed invocation (LocalStack alone writes a fresh UUID there).
        assert message.attribute("RequestID") == request
        assert message.attribute("ErrorCode") == "200"
        assert "shard exploded" in message.attribute("ErrorMessage")
        assert len(message.attribute("ErrorMessage").encode()) <= 1024
    assert dlq[0].sns is None and topic_dlq[0].sns is not None

    record = json.loads(destination[0].message)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["requestId"] == queue_request
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == event
    assert record["responsePayload"]["errorType"] == "RuntimeError"


@pytest.mark.parametrize(("age", "attempts", "condition"), [(150, 2, "EventAgeExceeded"),
                                                             (240, 3, "RetriesExhausted")])
def test_maximum_event_age_is_kept_on_the_functions_clock(aws, deploy, queue, clocks, age, attempts, condition):
    # AWS: a 150 s age limit lets the first retry (60 s after the failure) run, not the second (another
    # 120 s, at 180 s): 2 attempts, then EventAgeExceeded. 240 s outlasts both: 3 attempts, RetriesExhausted.
    lam, sqs = aws("lambda"), aws("sqs")
    ledger_url, _ = queue("ledger")
    dest_url, dest_arn = queue("on-failure")
    name = deploy(FAILING, env={"LEDGER_URL": ledger_url})
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2, MaximumEventAgeInSeconds=age,
                                         DestinationConfig={"OnFailure": {"Destination": dest_arn}})
    request_id = _async_invoke(lam, name, {"age": age})
    [failure] = clocks.run_until(arrived(QueueTap(sqs, dest_url, "OnFailure"), 1), deadline_s=ASYNC_DEADLINE_S)
    record = json.loads(failure.message)
    assert record["requestContext"]["condition"] == condition
    assert record["requestContext"]["approximateInvokeCount"] == attempts
    ledger = QueueTap(sqs, ledger_url, "ledger")
    wait_for_count(ledger, attempts, 5)
    ledger.poll(wait_s=1)  # the failure record comes after the last attempt: nothing more can arrive
    assert [json.loads(m.message)["request_id"] for m in ledger.messages] == [request_id] * attempts


@pytest.mark.parametrize("max_retries", [0, 1])
def test_maximum_retry_attempts_bounds_the_attempts(aws, deploy, queue, clocks, max_retries):
    lam, sqs = aws("lambda"), aws("sqs")
    ledger_url, _ = queue("ledger")
    dlq_url, dlq_arn = queue("dlq")
    name = deploy(FAILING, env={"LEDGER_URL": ledger_url}, DeadLetterConfig={"TargetArn": dlq_arn})
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=max_retries)
    request_id = _async_invoke(lam, name, {"n": max_retries})
    clocks.run_until(arrived(QueueTap(sqs, dlq_url, "DLQ"), 1), deadline_s=ASYNC_DEADLINE_S)
    ledger = QueueTap(sqs, ledger_url, "ledger")
    wait_for_count(ledger, 1 + max_retries, 5)
    # The DLQ message is only sent after the last attempt, so nothing more can arrive now.
    ledger.poll(wait_s=1)
    assert [json.loads(m.message)["request_id"] for m in ledger.messages] == [request_id] * (1 + max_retries)


def test_reserved_concurrency_zero_dead_letters_new_events_without_running_or_retrying(aws, deploy, queue, clocks):
    # AWS: "When you set reserved concurrency to zero for an asynchronously invoked function, Lambda begins
    # sending new events to the configured dead-letter queue or the on-failure event destination, without any
    # retries." LocalStack 2026.3 sends the OnFailure record but loses the dead letter (its payload is None).
    lam, sqs = aws("lambda"), aws("sqs")
    ledger_url, _ = queue("ledger")
    dlq_url, dlq_arn = queue("dlq")
    dest_url, dest_arn = queue("on-failure")
    name = deploy(FAILING, env={"LEDGER_URL": ledger_url}, DeadLetterConfig={"TargetArn": dlq_arn})
    lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnFailure": {"Destination": dest_arn}})
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    events = {_async_invoke(lam, name, {"job_id": f"kill-switch-{n}"}): {"job_id": f"kill-switch-{n}"}
              for n in range(3)}
    # At once: a throttled call retried out of sight (LocalStack's client did, for up to 15 s at random) fails
    # this for each of the three events with a chance of 4 in 5.
    dead = clocks.run_until(arrived(QueueTap(sqs, dlq_url, "DLQ"), 3), deadline_s=3, what="three dead letters")
    records = wait_for_count(QueueTap(sqs, dest_url, "OnFailure"), 3, 10)
    assert {letter.attribute("RequestID"): json.loads(letter.message) for letter in dead} == events
    for letter in dead:
        # The throttled call's HTTP status and message (AWS documents the attributes, not a throttle's values).
        assert (letter.attribute("ErrorCode"), letter.attribute("ErrorMessage")) == ("429", "Rate Exceeded.")
    contexts = [json.loads(record.message)["requestContext"] for record in records]
    assert sorted((c["requestId"], c["condition"], c["approximateInvokeCount"]) for c in contexts) == sorted(
        (request_id, "ZeroReservedConcurrency", 0) for request_id in events)
    # Both are sent after the last attempt would have run: the function never ran, and nothing is pending.
    assert QueueTap(sqs, ledger_url, "ledger").poll() == []
    assert clocks.state(name)["timers"] == []


def test_function_subscribed_to_sns_runs_on_publish(aws, deploy, queue):
    lam, sqs, sns = aws("lambda"), aws("sqs"), aws("sns")
    ledger_url, _ = queue("ledger")
    name = deploy("""
        import json, os, boto3
        def handler(event, context):
            record = event["Records"][0]["Sns"]
            boto3.client("sqs").send_message(QueueUrl=os.environ["LEDGER_URL"], MessageBody=json.dumps(
                {"subject": record["Subject"], "message": record["Message"]}))
    """, env={"LEDGER_URL": ledger_url})
    topic_arn = sns.create_topic(Name=unique_name("trigger"))["TopicArn"]
    function_arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="lambda", Endpoint=function_arn)
    sns.publish(TopicArn=topic_arn, Subject="JOB SUCCEEDED", Message='{"job_id": "j"}')
    [seen] = wait_for_count(QueueTap(sqs, ledger_url, "ledger"), 1, 10)
    assert json.loads(seen.message) == {"subject": "JOB SUCCEEDED", "message": '{"job_id": "j"}'}


def test_function_invokes_another_with_boto3(aws, deploy):
    lam = aws("lambda")
    callee = deploy("""
        def handler(event, context):
            return {"doubled": event["n"] * 2}
    """)
    caller = deploy("""
        import json, os, boto3
        def handler(event, context):
            lam = boto3.client("lambda")
            sync = lam.invoke(FunctionName=os.environ["CALLEE"], Payload=json.dumps({"n": event["n"]}))
            queued = lam.invoke(FunctionName=os.environ["CALLEE"], InvocationType="Event", Payload=b"{}")
            return {"sync": json.loads(sync["Payload"].read()), "async_status": queued["StatusCode"]}
    """, env={"CALLEE": callee}, timeout=10)
    response, body = invoke(lam, caller, {"n": 21})
    assert "FunctionError" not in response, body
    assert body == {"sync": {"doubled": 42}, "async_status": 202}


def test_invocations_and_errors_metrics_appear(aws, deploy):
    lam, cloudwatch = aws("lambda"), aws("cloudwatch")
    name = deploy("""
        def handler(event, context):
            if event.get("fail"):
                raise ValueError("metric me")
            return "ok"
    """)
    for event in ({}, {}, {"fail": True}):
        invoke(lam, name, event)

    def metric_sum(metric: str) -> float:
        now = datetime.now(UTC)
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/Lambda", MetricName=metric, Dimensions=[{"Name": "FunctionName", "Value": name}],
            StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=1), Period=60,
            Statistics=["Sum"])["Datapoints"]
        return sum(p["Sum"] for p in points)

    assert wait_for(lambda: metric_sum("Invocations"), lambda s: s >= 3, deadline_s=10,
                    what="Invocations metric") == 3
    assert wait_for(lambda: metric_sum("Errors"), lambda s: s >= 1, deadline_s=10, what="Errors metric") == 1


# Fails the first attempt of each event and lets its retry succeed (the retry finds the same warm runtime).
FAILS_ONCE = """
SEEN = set()
def handler(event, context):
    if context.aws_request_id not in SEEN:
        SEEN.add(context.aws_request_id)
        raise RuntimeError("first attempt fails")
    return "retried fine"
"""


def _async_metric_sums(cloudwatch: Any, name: str) -> dict[str, float]:
    """The function's Invocations and Errors summed over two hours around now (its datapoints are stamped on
    its stack's clock, minutes ahead of the wall clock after retries)."""
    now = datetime.now(UTC)
    sums = {}
    for metric in ("Invocations", "Errors"):
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/Lambda", MetricName=metric, Dimensions=[{"Name": "FunctionName", "Value": name}],
            StartTime=now - timedelta(hours=1), EndTime=now + timedelta(hours=1), Period=3600,
            Statistics=["Sum"])["Datapoints"]
        sums[metric] = sum(p["Sum"] for p in points)
    return sums


def test_invocations_and_errors_are_counted_once_per_async_attempt(aws, deploy, queue, clocks):
    # AWS: every run of the code is one Invocation and every failed one an Error, retries included. An event
    # that fails 3 times: 3 and 3. One that fails once and then succeeds: 2 and 1.
    lam, sqs, cloudwatch = aws("lambda"), aws("sqs"), aws("cloudwatch")
    ledger_url, _ = queue("ledger")
    dest_url, dest_arn = queue("destinations")
    always = deploy(FAILING, env={"LEDGER_URL": ledger_url})
    once = deploy(FAILS_ONCE)
    for name in (always, once):
        lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2, DestinationConfig={
            "OnFailure": {"Destination": dest_arn}, "OnSuccess": {"Destination": dest_arn}})
        _async_invoke(lam, name, {"metric": name})
    records = clocks.run_until(arrived(QueueTap(sqs, dest_url, "destinations"), 2), deadline_s=ASYNC_DEADLINE_S)
    conditions = {json.loads(r.message)["requestContext"]["functionArn"].split(":")[6]:
                  json.loads(r.message)["requestContext"]["condition"] for r in records}
    assert conditions == {always: "RetriesExhausted", once: "Success"}

    expected = {always: {"Invocations": 3, "Errors": 3}, once: {"Invocations": 2, "Errors": 1}}
    for name, counts in expected.items():
        # Read once the stack has stored every datapoint (recording a metric keeps it busy), not before.
        def settled(name: str = name) -> tuple[bool, dict[str, float]]:
            return clocks.state(name)["busy"], _async_metric_sums(cloudwatch, name)

        _, sums = wait_for(settled, lambda found: not found[0] and found[1]["Invocations"] >= 2, deadline_s=10,
                           what=f"the metrics of {name}")
        assert sums == counts, (name, sums)


# Records the moment each attempt starts, so the spacing is measured from the start of an attempt plus its
# Duration (Lambda's REPORT line: until the runtime reported the error) to the start of the retry.
FAILING_TIMED = """
import json, os, time, boto3
SQS = boto3.client("sqs")
def handler(event, context):
    SQS.send_message(QueueUrl=os.environ["LEDGER_URL"],
                     MessageBody=json.dumps({"request_id": context.aws_request_id, "started": time.time()}))
    raise RuntimeError("fails every time")
"""


def test_retries_start_one_and_two_minutes_after_the_failure_on_the_functions_clock(
        aws, deploy, queue, clocks, harness_resources):
    # The delay counts from the failure (the end of the failed attempt), as AWS's does, to the retry's start;
    # a timer on the function's clock keeps it, not SQS's delayed-message poll (harness/localstack/retries.py).
    if harness_resources.attached:
        pytest.skip("the retry timer is part of the harness's LocalStack; an attached one polls as it likes")
    lam, sqs = aws("lambda"), aws("sqs")
    ledger_url, _ = queue("ledger")
    dlq_url, dlq_arn = queue("dlq")
    name = deploy(FAILING_TIMED, env={"LEDGER_URL": ledger_url}, DeadLetterConfig={"TargetArn": dlq_arn})
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2)
    requests = [_async_invoke(lam, name, {}) for _ in range(2)]
    clocks.run_until(arrived(QueueTap(sqs, dlq_url, "DLQ"), 2), deadline_s=ASYNC_DEADLINE_S)
    records = [json.loads(m.message) for m in wait_for_count(QueueTap(sqs, ledger_url, "ledger"), 6, 5)]
    state = clocks.state(name)
    on_its_clock = StackTime.of(state).at
    # Lambda's delays, as the platform measured them: from the failure the executor saw to the retry's release.
    for request_id in requests:
        released = [r for r in state["retries"] if r["request_id"] == request_id]
        assert [r["delay"] for r in released] == [60, 120], state["retries"]
        for release in released:
            assert release["released_at"] - release["failed_at"] == pytest.approx(release["delay"], abs=0.1)
        # Each retry's handler starts after its release: LocalStack's poller takes the event, the executor
        # calls the runtime (real work the clock runs through, well under half a second here).
        starts = sorted(on_its_clock(r["started"]) for r in records if r["request_id"] == request_id)
        assert len(starts) == 3
        for release, start in zip(released, starts[1:], strict=True):
            assert 0 <= start - release["released_at"] <= 0.5, (
                f"a retry's handler started {start - release['released_at']:.3f} s after its release")
        # and the release comes its delay after the attempt before it ended: the handler raises at once.
        for release, before in zip(released, starts[:-1], strict=True):
            assert 0 <= release["failed_at"] - before <= 0.5


LONG_ERROR = """
def handler(event, context):
    raise RuntimeError("x" * 3000 + " the end")
"""


def test_a_dead_letters_error_message_is_the_whole_message_not_cut_to_1_kb(aws, deploy, queue, clocks):
    # AWS: "ErrorMessage String Error message (truncated to 1 KB)". LocalStack, and the harness with it, pass
    # the whole message (docs/aws-parity.md B4).
    lam, sqs = aws("lambda"), aws("sqs")
    dlq_url, dlq_arn = queue("dlq")
    name = deploy(LONG_ERROR, DeadLetterConfig={"TargetArn": dlq_arn})
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    _async_invoke(lam, name, {"long": True})
    [letter] = clocks.run_until(arrived(QueueTap(sqs, dlq_url, "DLQ"), 1), deadline_s=ASYNC_DEADLINE_S)
    assert letter.attribute("ErrorMessage") == "x" * 3000 + " the end"


def test_the_on_success_record_has_condition_success_and_no_function_error(aws, deploy, queue):
    # AWS: an on-success destination gets the invocation record of the successful invocation.
    lam, sqs = aws("lambda"), aws("sqs")
    dest_url, dest_arn = queue("on-success")
    name = deploy("def handler(event, context):\n    return {'echo': event}\n")
    lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": dest_arn}})
    event = {"job_id": "fine"}
    request_id = _async_invoke(lam, name, event)
    [message] = wait_for_count(QueueTap(sqs, dest_url, "OnSuccess"), 1, 10)
    record = json.loads(message.message)
    function_arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    assert record["requestContext"] == {"requestId": request_id, "functionArn": f"{function_arn}:$LATEST",
                                        "condition": "Success", "approximateInvokeCount": 1}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert (record["requestPayload"], record["responsePayload"]) == (event, {"echo": event})
    assert set(record) == {"version", "timestamp", "requestContext", "requestPayload", "responseContext",
                           "responsePayload"}


FAILS_IF_ASKED = """
def handler(event, context):
    if event.get("fail"):
        raise RuntimeError("asked to fail")
    return "ok"
"""


def _lambda_metric_names(cloudwatch: Any, name: str) -> set[str]:
    metrics = cloudwatch.get_paginator("list_metrics").paginate(Namespace="AWS/Lambda")
    return {metric["MetricName"] for page in metrics for metric in page["Metrics"]
            if {"Name": "FunctionName", "Value": name} in metric["Dimensions"]}


def test_only_invocations_and_errors_are_emitted_not_throttles_nor_the_async_or_delivery_metrics(
        aws, deploy, queue, clocks):
    # AWS also emits Throttles, DeadLetterErrors, DestinationDeliveryFailures, AsyncEventsReceived,
    # AsyncEventAge, AsyncEventsDropped and Duration. Here an event dead-lettered after its OnFailure record, a
    # success and a throttled call leave only Invocations and Errors (docs/aws-parity.md E5, E6).
    lam, sqs, cloudwatch = aws("lambda"), aws("sqs"), aws("cloudwatch")
    dlq_url, dlq_arn = queue("dlq")
    _, dest_arn = queue("on-failure")
    name = deploy(FAILS_IF_ASKED, DeadLetterConfig={"TargetArn": dlq_arn})
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0,
                                         DestinationConfig={"OnFailure": {"Destination": dest_arn}})
    _async_invoke(lam, name, {"fail": True})
    clocks.run_until(arrived(QueueTap(sqs, dlq_url, "DLQ"), 1), deadline_s=ASYNC_DEADLINE_S)
    response, _ = invoke(lam, name, {})
    assert "FunctionError" not in response
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(lam.exceptions.TooManyRequestsException):
        invoke(lam, name, {})

    def settled() -> tuple[bool, dict[str, float]]:
        return bool(clocks.state(name)["busy"]), _async_metric_sums(cloudwatch, name)

    _, sums = wait_for(settled, lambda found: not found[0] and found[1]["Invocations"] >= 2, deadline_s=10,
                       what=f"the metrics of {name}")
    assert sums == {"Invocations": 2, "Errors": 1}
    assert _lambda_metric_names(cloudwatch, name) == {"Invocations", "Errors"}


@pytest.mark.parametrize(("age", "retries"), [(59, 3), (21_601, 2)])
def test_localstack_accepts_an_event_invoke_config_outside_aws_ranges(harness_endpoint, deploy, age, retries):
    # AWS: MaximumEventAgeInSeconds 60 to 21,600, MaximumRetryAttempts 0 to 2 (API_FunctionEventInvokeConfig).
    # botocore checks only the minimums before sending, so this client does not check (docs/aws-parity.md A8).
    lam = harness_endpoint.client("lambda", parameter_validation=False)
    name = deploy("def handler(event, context):\n    return 'ok'\n")
    lam.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=age,
                                         MaximumRetryAttempts=retries)
    config = lam.get_function_event_invoke_config(FunctionName=name)
    assert (config["MaximumEventAgeInSeconds"], config["MaximumRetryAttempts"]) == (age, retries)


# Reads its remaining time, waits on its stack's clock through the harness's Runtime API (as an injected
# `latency` does: harness/faults/lambda_wrapper.py `_clock_sleep`), and reads it again.
SKIPS_A_WAIT = """
import json, os, urllib.request
def handler(event, context):
    before = context.get_remaining_time_in_millis()
    if event.get("wait"):
        request = urllib.request.Request(f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/_harness/sleep",
                                         method="POST", data=json.dumps({"seconds": event["wait"]}).encode())
        with urllib.request.urlopen(request) as response:
            json.loads(response.read())
    return {"before": before, "after": context.get_remaining_time_in_millis()}
"""


def test_the_remaining_time_is_on_the_wall_clock_and_does_not_go_down_over_a_skipped_wait(
        aws, deploy, queue, clocks, harness_resources):
    # AWS: Lambda-Runtime-Deadline-Ms is when the function times out; 600 s of waiting leave 600 s less. Here
    # the deadline is wall time (docs/aws-parity.md J3): the stack's clock skips the wait, and the handler's
    # remaining time has not gone down.
    if harness_resources.attached:
        pytest.skip("the stack clock is part of the harness's LocalStack")
    lam, sqs = aws("lambda"), aws("sqs")
    dest_url, dest_arn = queue("on-success")
    name = deploy(SKIPS_A_WAIT, timeout=900)
    lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": dest_arn}})
    _async_invoke(lam, name, {"wait": 600})
    [message] = clocks.run_until(arrived(QueueTap(sqs, dest_url, "OnSuccess"), 1), deadline_s=ASYNC_DEADLINE_S)
    assert clocks.state(name)["offset"] > 590  # the wait was skipped (the offset is of stack over wall time)
    waited = json.loads(message.message)["responsePayload"]
    assert 880_000 < waited["before"] <= 900_000
    assert waited["before"] - 20_000 < waited["after"] <= waited["before"], waited
    # The next invocation, with the stack's clock 600 s ahead of the wall clock: a Timeout's worth, no more.
    _, fresh = invoke(lam, name, {})
    assert 880_000 < fresh["before"] <= 900_000, fresh
