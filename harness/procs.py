"""Child processes that cannot outlive their parent.

Linux delivers ``PR_SET_PDEATHSIG`` when the *thread* that forked a child exits, not when the process
does. LocalStack invokes from short-lived worker threads, so every child is forked from one long-lived
spawner thread; the children then die with the process that started them, even under SIGKILL.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)
# A pool of one thread that is never shut down until interpreter exit: the stable forking thread.
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-spawner")


def _die_with_parent(parent_pid: int) -> None:
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    # The parent may have died between fork and prctl; then nobody would ever signal us.
    if os.getppid() != parent_pid:
        os._exit(1)


def spawn(args: list[str], **popen_kwargs: Any) -> subprocess.Popen:
    """Start ``args`` in its own process group, bound to die when this process dies."""
    parent = os.getpid()

    def start() -> subprocess.Popen:
        return subprocess.Popen(
            args,
            start_new_session=True,
            preexec_fn=lambda: _die_with_parent(parent),
            **popen_kwargs,
        )

    return _spawner.submit(start).result()


def on_spawner_thread[T](start: Callable[[], T]) -> T:
    """`start()` (which forks a long-lived child bound to die with its parent *thread*, like `setpriv
    --pdeathsig`) run on the one long-lived spawner thread, whichever thread asks."""
    return _spawner.submit(start).result()


class Process(Protocol):
    """What the group helpers need of a process: a `subprocess.Popen`, or a runtime forked from a template
    (`harness.localstack.executor.zygote.ForkedProcess`), which also leads a process group of its own."""

    pid: int

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


def kill_group(proc: Process, timeout: float = 5.0) -> int | None:
    """SIGKILL the process group ``proc`` leads (only ours: it was started in a group of its own)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def terminate_group(proc: Process, grace: float = 10.0) -> int | None:
    """SIGTERM the group, then SIGKILL it if it has not exited within ``grace`` seconds."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            return proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    return kill_group(proc)
