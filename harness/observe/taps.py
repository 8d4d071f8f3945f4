"""Taps: SQS queues that see every message a topic or a dead-letter config delivers."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TappedMessage:
    body: str
    attributes: dict[str, str]
    received_at: float
    # For messages that came through an SNS subscription (not raw delivery): the SNS envelope.
    sns: dict[str, Any] | None = None

    @property
    def subject(self) -> str | None:
        return (self.sns or {}).get("Subject")

    @property
    def message(self) -> str:
        return (self.sns or {}).get("Message", self.body)

    def attribute(self, name: str) -> str | None:
        if name in self.attributes:
            return self.attributes[name]
        sns_attrs = (self.sns or {}).get("MessageAttributes") or {}
        if name in sns_attrs:
            return sns_attrs[name].get("Value")
        return None


def _parse(raw: dict[str, Any]) -> TappedMessage:
    """A received SQS message; its time is when the queue got it (SentTimestamp, wall clock)."""
    attributes = {k: v.get("StringValue") for k, v in (raw.get("MessageAttributes") or {}).items()}
    sent = (raw.get("Attributes") or {}).get("SentTimestamp")
    body = raw["Body"]
    sns = None
    try:
        decoded = json.loads(body)
        if isinstance(decoded, dict) and decoded.get("Type") == "Notification" and "TopicArn" in decoded:
            sns = decoded
    except ValueError:
        pass
    return TappedMessage(body=body, attributes=attributes, received_at=int(sent) / 1000 if sent else time.time(),
                         sns=sns)


DRAIN_RECEIVES = 100


@dataclass
class QueueTap:
    """A tap's queue. By default each message is received once and deleted (a scenario's own stack).
    With `consume=False` (`harness check` on a stack someone else owns) nothing is deleted: a message stays
    hidden for `hide_s` so that a check reads each one once, and `release()` shows them again for the next
    check. A message's time is when the tap queue got it (its SentTimestamp), not when it was read."""

    sqs: Any
    url: str
    name: str = "queue"
    messages: list[TappedMessage] = field(default_factory=list)
    consume: bool = True
    hide_s: int = 300
    _held: list[str] = field(default_factory=list)

    def poll(self, wait_s: float = 0.0) -> list[TappedMessage]:
        """Receive what is there now (long-polling up to ``wait_s``), keep it, and delete it from SQS."""
        options: dict[str, Any] = {} if self.consume else {"VisibilityTimeout": self.hide_s}
        response = self.sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=int(wait_s),
            MessageAttributeNames=["All"], AttributeNames=["SentTimestamp"], **options,
        )
        fresh = [_parse(raw) for raw in response.get("Messages", [])]
        if not self.consume:
            self._held += [raw["ReceiptHandle"] for raw in response.get("Messages", [])]
        elif response.get("Messages"):
            self.sqs.delete_message_batch(
                QueueUrl=self.url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                         for i, m in enumerate(response["Messages"])],
            )
        self.messages.extend(fresh)
        return fresh

    @property
    def queue_name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def drain(self) -> list[TappedMessage]:
        """Receive until a receive finds nothing: everything the queue holds now (at most DRAIN_RECEIVES
        receives, should messages keep coming faster than they are read)."""
        fresh: list[TappedMessage] = []
        for _ in range(DRAIN_RECEIVES):
            batch = self.poll(wait_s=0)
            if not batch:
                break
            fresh.extend(batch)
        return fresh

    def release(self) -> None:
        """Show the messages read without consuming them again, at once (`consume=False`)."""
        while self._held:
            batch, self._held = self._held[:10], self._held[10:]
            self.sqs.change_message_visibility_batch(QueueUrl=self.url, Entries=[
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0} for i, handle in enumerate(batch)])
