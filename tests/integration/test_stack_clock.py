"""A stack's clock in the embedded LocalStack (`harness.localstack.clock`): it moves only over idle time;
the alarms of the stack are evaluated on the way, by LocalStack's own evaluation; the stack's metrics and
alarm state changes are on its clock; other stacks keep the wall clock."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from harness import wire
from harness.services import Endpoint
from harness.waiting import wait_for
from tests.integration.conftest import invoke

DAY = 86400


def clock(endpoint: Endpoint, prefix: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(f"{endpoint.url}{wire.CLOCK}/{prefix}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def on_its_clock(harness_endpoint: Endpoint) -> Iterator[Callable[[str], str]]:
    """Register a function's name as a stack of its own (its clock, its timers), forgotten afterwards."""
    registered: list[str] = []

    def register(name: str) -> str:
        wire.call(harness_endpoint.url, wire.STACKS, "PUT", name)
        registered.append(name)
        return name

    yield register
    for name in registered:
        wire.call(harness_endpoint.url, wire.STACKS, "DELETE", name)


def test_the_clock_does_not_move_while_the_stack_runs_an_invocation(harness_endpoint: Endpoint, aws, deploy,
                                                                    on_its_clock) -> None:
    name = on_its_clock(deploy("""
        import time
        def handler(event, context):
            time.sleep(3)
            return "done"
    """, timeout=10))
    aws("lambda").invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    running = f"1 invocation(s) of {name} running"
    busy = wait_for(lambda: clock(harness_endpoint, name)[1]["busy"], lambda reasons: running in reasons,
                    deadline_s=20, interval_s=0.05, what=f"{name} running")
    # The event is being handled (its invocation, then its retries or dead letter) while it runs; the poller's
    # call of the function is being served.
    assert busy == [f"1 call(s) of {name} being served", running, f"1 event(s) of {name} being handled"]
    status, answer = clock(harness_endpoint, name, "POST", {"seconds": DAY})
    assert (status, answer) == (409, {"busy": busy})
    wait_for(lambda: clock(harness_endpoint, name)[1]["busy"], lambda reasons: reasons == [], deadline_s=20,
             interval_s=0.05, what=f"{name} idle")
    before = time.time()
    status, answer = clock(harness_endpoint, name, "POST", {"seconds": DAY})
    assert status == 200 and answer["busy"] == [] and answer["offset"] >= DAY - 1
    assert answer["now"] == pytest.approx(before + DAY, abs=2)
    assert clock(harness_endpoint, name)[1]["offset"] == pytest.approx(answer["offset"])
    # Another name's clock has not moved.
    assert clock(harness_endpoint, f"other-{name}")[1]["offset"] == 0


def test_a_retry_is_a_wake_up_of_the_stack_one_minute_after_the_failure_on_its_clock(
        harness_endpoint: Endpoint, aws, deploy, on_its_clock) -> None:
    name = on_its_clock(deploy("def handler(event, context):\n    raise RuntimeError('fails every attempt')\n"))
    lam = aws("lambda")
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    started = time.monotonic()
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    # While its retry is due, none of the stack's code runs: the retry is a timer, not work.
    state = wait_for(lambda: clock(harness_endpoint, name)[1],
                     lambda found: found["busy"] == [] and [t["kind"] for t in found["timers"]] == ["retry"],
                     deadline_s=20, interval_s=0.02, what=f"the retry of {name} scheduled")
    [retry] = state["timers"]
    assert retry["due"] - state["now"] == pytest.approx(60, abs=2)
    status, answer = clock(harness_endpoint, name, "POST", {"seconds": 3600})
    # The advance stops at the retry, which puts the event back to work.
    assert status == 200 and [fired["kind"] for fired in answer["fired"]] == ["retry"]
    assert answer["now"] == pytest.approx(retry["due"], abs=0.5)
    wait_for(lambda: clock(harness_endpoint, name)[1], lambda found: found["busy"] == [] and not found["timers"],
             deadline_s=20, interval_s=0.05, what=f"{name} idle after its retry")
    assert time.monotonic() - started < 20  # a minute of AWS's retry delay cost no waiting


def _history(cloudwatch: Any, alarm: str) -> list[tuple[str, datetime]]:
    """(state entered, when the evaluation that entered it ran). LocalStack dates a history item with the
    state change before it, so the evaluation's own queryDate is read instead."""
    items = cloudwatch.describe_alarm_history(AlarmName=alarm, HistoryItemType="StateUpdate")["AlarmHistoryItems"]
    changes = []
    for item in items:
        new_state = json.loads(item["HistoryData"])["newState"]
        changes.append((new_state["stateValue"], datetime.strptime(new_state["stateReasonData"]["queryDate"],
                                                                   "%Y-%m-%dT%H:%M:%S%z")))
    return sorted(changes, key=lambda change: change[1])


def _invocations(cloudwatch: Any, function: str, around: datetime) -> float:
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda", MetricName="Invocations", Dimensions=[{"Name": "FunctionName", "Value": function}],
        StartTime=around - timedelta(seconds=30), EndTime=around + timedelta(seconds=30), Period=60,
        Statistics=["Sum"])["Datapoints"]
    return sum(point["Sum"] for point in points)


def test_a_daily_alarm_is_evaluated_over_skipped_days_and_metrics_follow_the_stack_clock(
        harness_endpoint: Endpoint, aws: Callable[[str], Any], deploy, on_its_clock) -> None:
    cloudwatch, lam = aws("cloudwatch"), aws("lambda")
    name = on_its_clock(deploy("def handler(event, context):\n    return 'ok'\n"))
    alarm = f"{name}-not-run"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm, Namespace="AWS/Lambda", MetricName="Invocations", Statistic="Sum",
        Dimensions=[{"Name": "FunctionName", "Value": name}], Period=DAY, EvaluationPeriods=1, Threshold=1,
        ComparisonOperator="LessThanThreshold", TreatMissingData="breaching")
    try:
        created = time.time()
        wait_for(lambda: _history(cloudwatch, alarm), lambda history: [s for s, _ in history] == ["ALARM"],
                 deadline_s=10, interval_s=0.05, what="the evaluation at the alarm's creation")
        invoke(lam, name)
        wait_for(lambda: _invocations(cloudwatch, name, datetime.now(UTC)), lambda total: total >= 1, deadline_s=10,
                 interval_s=0.05, what="the Invocations datapoint")
        # Invocations is one of the invocation's metrics; LocalStack records the others (Duration, ...) in a
        # thread of its own, and the clock refuses to move while one is being recorded (409, busy).
        wait_for(lambda: clock(harness_endpoint, name)[1]["busy"], lambda reasons: reasons == [], deadline_s=10,
                 interval_s=0.05, what="the invocation's metrics recorded")
        day = DAY  # the alarm's period, as on AWS: the stack's clock skips the idle days
        status, answer = clock(harness_endpoint, name, "POST", {"seconds": 6 * day})
        assert status == 200, answer
        # OK at the first daily evaluation (it sees the job's datapoint), ALARM once the datapoint has left
        # the 3 looked-back periods: at the first daily evaluation after 3 days.
        states = [(state, moment.timestamp() - created) for state, moment in _history(cloudwatch, alarm)]
        assert [state for state, _ in states] == ["ALARM", "OK", "ALARM"]
        assert states[1][1] == pytest.approx(day, abs=5)
        assert states[2][1] == pytest.approx(4 * day, abs=5)
        assert [change["state"] for change in answer["changes"]] == ["OK", "ALARM"]
        # The state change is dated on the stack's clock too (its notifications carry this time).
        [described] = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
        assert described["StateUpdatedTimestamp"].timestamp() - created == pytest.approx(4 * day, abs=5)

        # A datapoint of the stack's function, stored now, is on the stack's clock, six days on.
        invoke(lam, name)
        stack_now = datetime.now(UTC) + timedelta(seconds=answer["offset"])
        wait_for(lambda: _invocations(cloudwatch, name, stack_now), lambda total: total >= 1, deadline_s=10,
                 interval_s=0.05, what="the new Invocations datapoint on the stack's clock")
        assert _invocations(cloudwatch, name, datetime.now(UTC)) == 1  # only the first invocation's
        # Another stack's clock has not moved.
        assert clock(harness_endpoint, f"other-{name}")[1]["offset"] == 0
    finally:
        cloudwatch.delete_alarms(AlarmNames=[alarm])


def test_an_errors_datapoint_is_dated_when_it_happened_on_the_stack_clock_not_up_to_a_second_before(
        harness_endpoint: Endpoint, aws: Callable[[str], Any], deploy, on_its_clock) -> None:
    """LocalStack dates Lambda's datapoints with a wall-clock stamp that arrives cut to the whole second. Read
    on a stack's clock whose offset has a fraction, such a datapoint was dated up to a second before the
    moment it happened: before an alarm evaluation that came first, in a period already judged
    (`job-failed-alarm-sums-errors` then saw its two errors split between two periods, once in 24 runs under
    load). Here the offset's fraction (0.9) and the invocation's moment in its wall second (0.15 to 0.35)
    put the cut stamp in the second before the invocation, every time."""
    cloudwatch, lam = aws("cloudwatch"), aws("lambda")
    name = on_its_clock(deploy("def handler(event, context):\n    raise RuntimeError('fails')\n"))
    state = clock(harness_endpoint, name)[1]
    fraction = 0.9 - (state["offset"] % 1.0)
    status, answer = clock(harness_endpoint, name, "POST", {"seconds": DAY + fraction % 1.0})
    assert status == 200, answer
    assert answer["offset"] % 1.0 == pytest.approx(0.9, abs=0.05)
    wait_for(lambda: time.time() % 1.0, lambda part: 0.15 <= part <= 0.35, deadline_s=3, interval_s=0.005,
             what="the start of a wall second")
    before = clock(harness_endpoint, name)[1]["now"]
    response, _ = invoke(lam, name)
    assert response.get("FunctionError")
    wait_for(lambda: clock(harness_endpoint, name)[1]["busy"], lambda reasons: reasons == [], deadline_s=10,
             interval_s=0.05, what="the invocation's metrics recorded")
    start = datetime.fromtimestamp(int(before), UTC)
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/Lambda", MetricName="Errors", Dimensions=[{"Name": "FunctionName", "Value": name}],
        StartTime=start - timedelta(seconds=60), EndTime=start + timedelta(seconds=60), Period=1,
        Statistics=["Sum"])["Datapoints"]
    dated = [point["Timestamp"].timestamp() for point in points if point["Sum"] >= 1]
    assert dated, points
    assert min(dated) >= int(before), (f"the error was dated {int(before) - min(dated):.0f} s before the stack's "
                                       f"clock at the invoke ({before:.3f})")


def test_a_users_own_queue_keeps_the_wall_clock_when_the_stack_s_clock_moves(harness_endpoint: Endpoint, aws,
                                                                           on_its_clock) -> None:
    """Only Lambda's internal event queue runs on the stack's clock (aws-parity A4); a queue of the stack's own
    keeps SQS's wall-clock timers (G4): a message sent with DelaySeconds=2 is not there after the stack's
    clock moved a day on, and arrives about 2 s of wall time after it was sent."""
    import uuid

    name = on_its_clock(f"queue-{uuid.uuid4().hex[:8]}")
    sqs = aws("sqs")
    url = sqs.create_queue(QueueName=f"{name}-work")["QueueUrl"]
    try:
        sent = time.monotonic()
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=2)
        status, answer = clock(harness_endpoint, name, "POST", {"seconds": DAY})
        assert status == 200 and answer["offset"] >= DAY - 1
        assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages") is None
        [message] = wait_for(lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages"),
                             lambda found: bool(found), deadline_s=10, what="the delayed message")
        assert message["Body"] == "later" and time.monotonic() - sent >= 1.5
    finally:
        sqs.delete_queue(QueueUrl=url)


def test_sns_does_not_retry_a_failed_delivery_to_lambda_it_goes_to_the_subscription_s_dlq(aws) -> None:
    """AWS retries a delivery to Lambda 100,015 times over 23 days before a subscription's DLQ gets it;
    LocalStack does not retry: the message is in the DLQ within seconds, once (aws-parity G3)."""
    import uuid

    sns, sqs = aws("sns"), aws("sqs")
    suffix = uuid.uuid4().hex[:8]
    topic = sns.create_topic(Name=f"g3-{suffix}")["TopicArn"]
    url = sqs.create_queue(QueueName=f"g3-dlq-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    missing = f"arn:aws:lambda:us-east-1:000000000000:function:g3-missing-{suffix}"
    try:
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=missing,
                      Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": queue_arn})})
        sent = time.monotonic()
        sns.publish(TopicArn=topic, Message="to nobody")
        [letter] = wait_for(lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages"),
                            lambda found: bool(found), deadline_s=20, what="the failed delivery in the DLQ")
        assert "to nobody" in letter["Body"] and time.monotonic() - sent < 20
        sqs.delete_message(QueueUrl=url, ReceiptHandle=letter["ReceiptHandle"])
        assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages") is None  # delivered once
    finally:
        sns.delete_topic(TopicArn=topic)
        sqs.delete_queue(QueueUrl=url)
