"""The executor's memory watchdog (harness/localstack/executor/memory.py) polls an active runtime every INTERVAL_S, no
more often: it shares the LocalStack process with everything else, and it once spun on an event that
stayed set, taking 45% of a core per active runtime."""

from __future__ import annotations

import os
import time

import pytest

from harness.localstack.executor import memory


def test_an_active_runtime_is_polled_every_interval_not_in_a_spin(monkeypatch: pytest.MonkeyPatch) -> None:
    polls: list[float] = []
    real = memory.rss_bytes

    def counted(pid: int) -> int | None:
        polls.append(time.monotonic())
        return real(pid)

    monkeypatch.setattr(memory, "rss_bytes", counted)
    watchdog = memory.MemoryWatchdog()
    watchdog.watch(os.getpid(), 100_000, lambda: None)  # watch() wakes the thread, as a starting runtime does
    time.sleep(0.5)
    watchdog.unwatch(os.getpid())
    # At most one poll per interval (twice that, for the bound); a slow machine polls less, never more.
    assert 5 <= len(polls) <= 2 * 0.5 / memory.INTERVAL_S


def test_a_runtime_past_its_limit_is_reported_once(monkeypatch: pytest.MonkeyPatch) -> None:
    exceeded: list[int] = []
    monkeypatch.setattr(memory, "rss_bytes", lambda pid: 300 * 1024 * 1024)
    watchdog = memory.MemoryWatchdog()
    watched = watchdog.watch(12345, 128, lambda: exceeded.append(1))
    deadline = time.monotonic() + 5
    while not exceeded and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    watchdog.unwatch(12345)
    assert exceeded == [1] and watched.fired
    assert memory.MemoryWatchdog.peak_mb(12345, watched) == 300
