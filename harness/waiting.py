"""Polling as data: what to wait for, how often, until when. Every wait in the harness has a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class DeadlineExceeded(AssertionError):
    """Raised when a condition did not hold before its deadline; says what was last observed."""


def wait_for[T](
    probe: Callable[[], T],
    until: Callable[[T], bool],
    *,
    deadline_s: float,
    interval_s: float = 0.05,
    what: str = "condition",
) -> T:
    """Call ``probe`` every ``interval_s`` until ``until(result)`` holds; return that result."""
    give_up = time.monotonic() + deadline_s
    while True:
        observed = probe()
        if until(observed):
            return observed
        if time.monotonic() >= give_up:
            raise DeadlineExceeded(f"{what}: not reached within {deadline_s:g} s; last observed: {observed!r}")
        time.sleep(min(interval_s, max(0.0, give_up - time.monotonic())))
