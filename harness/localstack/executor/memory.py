"""Enforces each function's MemorySize on its runtime process.

One thread for all environments reads resident memory from /proc every few milliseconds and kills a
runtime that grows past its limit, the way Lambda's sandbox kills a function that runs out of memory.
Polling (rather than a cgroup) works unprivileged and in containers without a writable cgroup tree;
the cost is that a very fast allocation can overshoot the limit by what it allocates in one interval.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

_PAGE = os.sysconf("SC_PAGE_SIZE")
INTERVAL_S = 0.005


@dataclass
class _Watched:
    limit_bytes: int
    on_exceeded: Callable[[], None]
    peak_bytes: int = 0
    fired: bool = False
    # Only a runtime that is initialising or invoking can grow; idle ones are not polled.
    active: bool = True


def rss_bytes(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None


class MemoryWatchdog:
    def __init__(self) -> None:
        self._watched: dict[int, _Watched] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, pid: int, limit_mb: int, on_exceeded: Callable[[], None]) -> _Watched:
        watched = _Watched(limit_mb * 1024 * 1024, on_exceeded)
        with self._lock:
            self._watched[pid] = watched
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="harness-memory-watchdog", daemon=True)
                self._thread.start()
        self._wake.set()
        return watched

    def set_active(self, pid: int, active: bool) -> None:
        with self._lock:
            watched = self._watched.get(pid)
            if watched is not None:
                watched.active = active
        if active:
            self._wake.set()

    def unwatch(self, pid: int) -> None:
        with self._lock:
            self._watched.pop(pid, None)

    @staticmethod
    def peak_mb(pid: int, watched: _Watched) -> int:
        peak = max(rss_bytes(pid) or 0, watched.peak_bytes)
        return -(-peak // (1024 * 1024))

    def _run(self) -> None:
        while True:
            with self._lock:
                items = [(pid, w) for pid, w in self._watched.items() if w.active]
            if not items:
                self._wake.clear()
                self._wake.wait(1.0)
                continue
            for pid, watched in items:
                rss = rss_bytes(pid)
                if rss is None:
                    continue
                watched.peak_bytes = max(watched.peak_bytes, rss)
                if rss > watched.limit_bytes and not watched.fired:
                    watched.fired = True
                    watched.on_exceeded()
            # Not `self._wake.wait`: the event stays set once a runtime woke the thread, and waiting on a set
            # event returns at once, which made this loop spin (45% of a core per active runtime, measured).
            time.sleep(INTERVAL_S)


WATCHDOG = MemoryWatchdog()
