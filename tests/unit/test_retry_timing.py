"""harness/localstack/retries.py: a retry's delay is kept by a timer that counts from the failure, and the
event is then sent undelayed (so no 1 s SQS delayed-message poll); other sends are untouched."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from harness.localstack import retries as timing


class FakeSqs:
    def __init__(self) -> None:
        self.sent: list[tuple[float, dict[str, Any]]] = []
        self.arrived = threading.Event()

    def send_message(self, **kwargs: Any) -> dict[str, Any]:
        self.sent.append((time.monotonic(), kwargs))
        self.arrived.set()
        return {"MessageId": "m"}

    def delete_message(self, **kwargs: Any) -> str:
        return "deleted"


def body(request_id: str) -> str:
    return json.dumps({"request_id": request_id, "retries": 1})


def test_an_undelayed_send_goes_at_once_and_other_calls_pass_through() -> None:
    sqs = FakeSqs()
    client = timing._PromptDelays(sqs)
    assert client.send_message(QueueUrl="q", MessageBody=body("r0")) == {"MessageId": "m"}
    assert client.send_message(QueueUrl="q", MessageBody=body("r0"), DelaySeconds=0) == {"MessageId": "m"}
    assert len(sqs.sent) == 2 and client.delete_message(QueueUrl="q") == "deleted"


def test_a_delayed_retry_is_sent_undelayed_when_its_delay_since_the_failure_runs_out() -> None:
    sqs = FakeSqs()
    timing.note_failure("r1")
    time.sleep(0.15)  # LocalStack's own work between the failure and scheduling the retry
    scheduled = time.monotonic()
    assert timing._PromptDelays(sqs).send_message(QueueUrl="q", MessageBody=body("r1"), DelaySeconds=1) is None
    assert sqs.arrived.wait(timeout=5)
    at, kwargs = sqs.sent[0]
    assert kwargs == {"QueueUrl": "q", "MessageBody": body("r1"), "DelaySeconds": 0}
    # 1 s after the failure, so about 0.85 s after the send was asked for, not 1 s or 2 s.
    assert 0.8 <= at - scheduled < 0.99, at - scheduled


def test_a_retry_of_an_unknown_failure_waits_its_whole_delay() -> None:
    sqs = FakeSqs()
    scheduled = time.monotonic()
    timing._PromptDelays(sqs).send_message(QueueUrl="q", MessageBody="not json", DelaySeconds=1)
    assert sqs.arrived.wait(timeout=5)
    assert 0.95 <= sqs.sent[0][0] - scheduled <= 1.2


def test_an_event_counts_as_its_stacks_activity_from_its_send_until_its_poller_takes_it() -> None:
    from harness.localstack import clock

    class Numbered(FakeSqs):
        def send_message(self, **kwargs: Any) -> dict[str, Any]:
            super().send_message(**kwargs)
            return {"MessageId": f"m-{len(self.sent)}"}

    sqs = Numbered()
    client = timing._PromptDelays(sqs, "actstack-worker")
    client.send_message(QueueUrl="q", MessageBody=body("r1"))
    assert clock.busy("actstack") == ["1 event(s) for actstack-worker queued"]
    clock.event_taken("m-1")
    assert clock.busy("actstack") == []
    # A retry: due while its timer runs, then queued, then taken.
    timing.note_failure("r2")
    client.send_message(QueueUrl="q", MessageBody=body("r2"), DelaySeconds=1)
    assert clock.busy("actstack") == ["1 retry(ies) of actstack-worker due"]
    assert sqs.arrived.wait(5)
    deadline = time.monotonic() + 5
    while clock.busy("actstack") != ["1 event(s) for actstack-worker queued"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert clock.busy("actstack") == ["1 event(s) for actstack-worker queued"]
    # Taken before its sender recorded the message ID (the poller can be that quick): not counted after.
    clock.event_taken("m-3")
    client.send_message(QueueUrl="q", MessageBody=body("r3"))
    clock.event_taken("m-2")
    assert clock.busy("actstack") == []


class _Calls:
    """A stand-in for a client or the provider: records each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, Any]] = []

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> str:
            self.calls.append((name, args, kwargs))
            return name

        return call


def test_an_alarm_evaluation_reads_metric_data_from_the_provider_and_the_rest_through_the_client() -> None:
    from harness.localstack.retries import ProviderMetrics

    client, provider = _Calls(), _Calls()
    metrics = ProviderMetrics(client, "000000000000", "eu-west-1", provider=provider)
    queries = [{"Id": "m1", "MetricStat": {"Metric": {"MetricName": "Errors"}, "Period": 1, "Stat": "Sum"}}]
    assert metrics.get_metric_data(MetricDataQueries=queries, StartTime="start", EndTime="end") == "get_metric_data"
    (name, args, _), = provider.calls
    context = args[0]
    assert (name, context.account_id, context.region, args[1:]) == (
        "get_metric_data", "000000000000", "eu-west-1", (queries, "start", "end"))
    assert metrics.describe_alarms(AlarmNames=["a"]) == "describe_alarms"  # the rest: through the client
    assert [call[0] for call in client.calls] == ["describe_alarms"]
