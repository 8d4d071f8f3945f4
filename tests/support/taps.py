"""Waiting on a tap until the messages a test expects have come (`harness.observe.taps.QueueTap`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from harness.observe.taps import QueueTap, TappedMessage
from harness.waiting import DeadlineExceeded


def wait_until(tap: QueueTap, done: Callable[[list[TappedMessage]], bool], deadline_s: float,
               what: str = "messages") -> list[TappedMessage]:
    """Poll `tap` until `done` holds for everything it has received; DeadlineExceeded after `deadline_s`."""
    give_up = time.monotonic() + deadline_s
    while not done(tap.messages):
        remaining = give_up - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded(
                f"{tap.name}: {what} not seen within {deadline_s:g} s; saw {len(tap.messages)}: "
                + "; ".join(m.message[:200] for m in tap.messages[-5:])
            )
        wait_s = min(1, int(remaining))
        if not tap.poll(wait_s=wait_s) and wait_s == 0:
            time.sleep(0.05)
    return tap.messages


def wait_for_count(tap: QueueTap, count: int, deadline_s: float) -> list[TappedMessage]:
    """Poll `tap` until it has received at least `count` messages."""
    return wait_until(tap, lambda messages: len(messages) >= count, deadline_s, what=f"{count} message(s)")
