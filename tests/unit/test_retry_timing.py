"""harness/localstack/timing.py: a retry's delay is kept by a timer that counts from the failure, and the
event is then sent undelayed (so no 1 s SQS delayed-message poll); other sends are untouched."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from harness.localstack import timing


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
