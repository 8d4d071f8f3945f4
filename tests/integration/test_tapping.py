"""Taps in the embedded LocalStack (`harness.localstack.taps`): a topic created under a registered prefix
has its tap queue from the start, and a tap queue, being the harness's instrument, puts no SQS metrics into
CloudWatch, while the user's own queues keep theirs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from harness import wire
from harness.observe.taps import QueueTap
from harness.services import Endpoint
from harness.waiting import wait_for
from harness.wire import tap_queue_name
from tests.support.taps import wait_for_count


def sqs_metrics(cloudwatch: Any, queue_name: str) -> set[str]:
    found = cloudwatch.list_metrics(Namespace="AWS/SQS", Dimensions=[{"Name": "QueueName", "Value": queue_name}])
    return {metric["MetricName"] for metric in found["Metrics"]}


def test_a_tap_queue_has_no_sqs_metrics_while_an_own_queue_keeps_them(harness_endpoint: Endpoint,
                                                                      aws: Callable[[str], Any]) -> None:
    prefix = f"taps-{uuid.uuid4().hex[:8]}"
    sns, sqs, cloudwatch = aws("sns"), aws("sqs"), aws("cloudwatch")
    wire.call(harness_endpoint.url, wire.STACKS, "PUT", prefix)
    try:
        topic_arn = sns.create_topic(Name=f"{prefix}-alerts")["TopicArn"]
        tap_name = tap_queue_name(prefix, f"{prefix}-alerts")
        assert tap_name == f"{prefix}-tap-alerts"
        tap = QueueTap(sqs, sqs.get_queue_url(QueueName=tap_name)["QueueUrl"], "alerts tap")
        assert tap.poll() == []  # an empty receive
        sns.publish(TopicArn=topic_arn, Subject="JOB FAILED", Message="m")
        assert [m.subject for m in wait_for_count(tap, 1, 20)] == ["JOB FAILED"]  # received and deleted
        # The same operations on a queue of the user's own, after the tap's: its metrics come.
        own_name = f"{prefix}-own"
        own = QueueTap(sqs, sqs.create_queue(QueueName=own_name)["QueueUrl"], "own queue")
        assert own.poll() == []
        sqs.send_message(QueueUrl=own.url, MessageBody="m")
        wait_for_count(own, 1, 20)
        expected = {"NumberOfEmptyReceives", "NumberOfMessagesSent", "NumberOfMessagesReceived",
                    "NumberOfMessagesDeleted"}
        wait_for(lambda: sqs_metrics(cloudwatch, own_name), lambda names: expected <= names, deadline_s=20,
                 interval_s=0.1, what=f"the SQS metrics of {own_name}")
        assert sqs_metrics(cloudwatch, tap_name) == set()
    finally:
        wire.call(harness_endpoint.url, wire.STACKS, "DELETE", prefix)


def _clock_answer(endpoint: Endpoint, prefix: str) -> dict[str, Any]:
    answer: dict[str, Any] = wire.call(endpoint.url, wire.CLOCK, "GET", prefix, query={"region": "us-east-1"})
    return answer


def test_the_stacks_count_says_how_many_messages_wait_in_each_tap_and_a_drain_reads_them_all(
        harness_endpoint: Endpoint, aws: Callable[[str], Any]) -> None:
    """Once LocalStack says a stack is idle, a snapshot reads every message it delivered: the count names
    what waits in each tap queue, and a drain reads a queue to its end (a receive returns at most 10)."""
    prefix = f"waiting-{uuid.uuid4().hex[:8]}"
    sns, sqs = aws("sns"), aws("sqs")
    wire.call(harness_endpoint.url, wire.STACKS, "PUT", prefix)
    try:
        topic_arn = sns.create_topic(Name=f"{prefix}-alerts")["TopicArn"]
        tap_name = tap_queue_name(prefix, f"{prefix}-alerts")
        assert _clock_answer(harness_endpoint, prefix)["waiting"] == {tap_name: 0}
        for index in range(25):
            sns.publish(TopicArn=topic_arn, Subject=f"m{index}", Message="m")
        answer = wait_for(lambda: _clock_answer(harness_endpoint, prefix),
                          lambda answer: answer["busy"] == [] and answer["waiting"][tap_name] == 25,
                          deadline_s=20, interval_s=0.05, what="25 messages delivered to the tap")
        assert answer["waiting"] == {tap_name: 25}
        tap = QueueTap(sqs, sqs.get_queue_url(QueueName=tap_name)["QueueUrl"], "alerts tap")
        assert tap.queue_name == tap_name
        assert sorted(m.subject for m in tap.drain()) == sorted(f"m{index}" for index in range(25))
        assert _clock_answer(harness_endpoint, prefix)["waiting"] == {tap_name: 0}
    finally:
        wire.call(harness_endpoint.url, wire.STACKS, "DELETE", prefix)
