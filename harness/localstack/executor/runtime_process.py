"""One running runtime client (``python -m awslambdaric``) and the Runtime API server it talks to.

An execution environment owns one of these at a time; after a timeout, an out-of-memory kill or an
exit, the environment throws it away and starts a fresh one, as Lambda resets a sandbox.
"""

from __future__ import annotations

import enum
import json
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from harness import procs
from harness.faults.plan import out_of_memory_error
from harness.localstack import clock
from harness.localstack.executor import zygote
from harness.localstack.executor.memory import WATCHDOG
from harness.localstack.executor.runtime_api import RuntimeApiServer


class Ended(enum.Enum):
    RESPONSE = "response"
    ERROR = "error"
    TIMEOUT = "timeout"
    EXIT = "exit"
    OUT_OF_MEMORY = "out_of_memory"


@dataclass
class Outcome:
    ended: Ended
    body: bytes = b""
    exit_status: int | None = None
    duration_ms: float = 0.0


class StartupFailed(Exception):
    def __init__(self, payload: bytes, message: str) -> None:
        super().__init__(message)
        self.payload = payload


class RuntimeProcess:
    def __init__(self, python: Path, handler: str, env: dict[str, str], task_root: Path, log_path: Path,
                 memory_limit_mb: int, command_prefix: list[str] | None = None, clock_name: str = "") -> None:
        self.clock_name = clock_name
        """The function whose stack's clock times its invocations (`harness.localstack.clock`)."""
        self.server = RuntimeApiServer(clock_name)
        self.memory_limit_mb = memory_limit_mb
        self.oom_killed = threading.Event()
        self.exited = threading.Event()
        self.log_path = log_path
        env = dict(env, AWS_LAMBDA_RUNTIME_API=self.server.address)
        self.started_at = time.perf_counter()
        template = None
        if not command_prefix and zygote.enabled() and env.get("LAMBDA_RUNTIME_DIR"):
            template = zygote.template_for(python, Path(env["LAMBDA_RUNTIME_DIR"]))
            if template is not None and (refused := template.refuses(env, task_root)) is not None:
                zygote.say_once(env.get("AWS_LAMBDA_FUNCTION_NAME", ""), f"starts a fresh interpreter: {refused}")
                template = None
        forked = None
        if template is not None:
            try:
                # The same command, forked from the runtime's template, which has boto3 imported.
                forked = template.fork(["-m", handler], "awslambdaric", env, task_root, log_path,
                                       stash=template.stashes(env, task_root))
            except OSError as error:  # the template ended meanwhile: this one starts from nothing
                zygote.LOG.warning("harness: a fresh interpreter for %s: %s",
                                   env.get("AWS_LAMBDA_FUNCTION_NAME"), error)
        self.proc: subprocess.Popen | zygote.ForkedProcess
        if forked is not None:
            self.proc = forked
        else:
            with open(log_path, "ab", buffering=0) as log:
                # -S: the function must not see the interpreter's own site-packages, only its code
                # (cwd, first on sys.path) and the runtime directory on PYTHONPATH, as under /var/runtime.
                self.proc = procs.spawn(
                    [*(command_prefix or []), str(python), "-S", "-m", "awslambdaric", handler],
                    cwd=str(task_root),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        self.pid = self.proc.pid
        threading.Thread(target=self._wait_exit, name=f"harness-runtime-{self.pid}", daemon=True).start()
        self._memory = WATCHDOG.watch(self.pid, memory_limit_mb, self._on_memory_exceeded)

    def _wait_exit(self) -> None:
        self.proc.wait()
        WATCHDOG.unwatch(self.pid)
        self.exited.set()
        clock.notify()  # an invocation waiting on the clock for this process sees it end

    def _on_memory_exceeded(self) -> None:
        self.oom_killed.set()
        procs.kill_group(self.proc, timeout=0)

    @property
    def alive(self) -> bool:
        return not self.exited.is_set()

    def exit_status(self) -> int | None:
        return self.proc.returncode

    def wait_ready(self, timeout_s: float, cancelled: threading.Event) -> float:
        """Block until the runtime asks for its first invocation; returns the init duration in ms."""
        state = self.server.state
        deadline = time.monotonic() + timeout_s
        while not state.ready.is_set():
            if state.init_error is not None:
                raise StartupFailed(state.init_error, "runtime init failed")
            if self.exited.is_set():
                if state.init_error is not None:
                    raise StartupFailed(state.init_error, "runtime init failed")
                raise StartupFailed(exit_error_payload("", self.proc.returncode, self.oom_killed.is_set(),
                                                       self.memory_limit_mb),
                                    f"runtime exited during init ({describe_exit(self.proc.returncode)})")
            if cancelled.is_set():
                raise StartupFailed(b"", "environment stopped during startup")
            if time.monotonic() > deadline:
                raise StartupFailed(
                    json.dumps({"errorType": "Runtime.InitTimeout",
                                "errorMessage": f"init did not complete within {timeout_s:.0f} s"}).encode(),
                    "runtime init timed out",
                )
            state.ready.wait(0.01)
        WATCHDOG.set_active(self.pid, False)
        return (time.perf_counter() - self.started_at) * 1000

    def invoke(self, request_id: str, payload: bytes, arn: str, trace_id: str, timeout_s: float) -> Outcome:
        """Hand the runtime one invocation and wait, on the stack's clock, for its answer, its death, or its
        Timeout. While the runtime computes, that clock runs with the wall clock, so real code is killed
        after Timeout seconds of wall time; while it waits on the clock (an injected fault), the clock may
        skip to the Timeout. The duration is the stack clock's."""
        started = clock.now(self.clock_name)
        WATCHDOG.set_active(self.pid, True)
        pending = self.server.submit(request_id, payload, arn, trace_id, timeout_s)
        timed_out = clock.wait_until(self.clock_name, started + timeout_s, request=request_id,
                                     stop=lambda: pending.done.is_set() or self.exited.is_set(),
                                     what=f"{self.clock_name} {request_id[:8]}: its Timeout")
        duration_ms = (clock.now(self.clock_name) - started) * 1000
        WATCHDOG.set_active(self.pid, False)
        if pending.result is not None:
            return Outcome(Ended.ERROR if pending.is_error else Ended.RESPONSE, pending.result,
                           duration_ms=min(duration_ms, timeout_s * 1000))
        if timed_out:
            self.kill()
            return Outcome(Ended.TIMEOUT, duration_ms=timeout_s * 1000)
        # Woken without a result: the process is gone.
        self.exited.wait(5)
        ended = Ended.OUT_OF_MEMORY if self.oom_killed.is_set() else Ended.EXIT
        return Outcome(ended, exit_status=self.proc.returncode, duration_ms=duration_ms)

    def max_memory_used_mb(self) -> int:
        return WATCHDOG.peak_mb(self.pid, self._memory)

    def kill(self) -> None:
        WATCHDOG.unwatch(self.pid)
        procs.kill_group(self.proc)
        self.exited.wait(5)
        self.server.close()


def describe_exit(status: int | None) -> str:
    if status is None:
        return "unknown"
    if status < 0:
        import signal

        try:
            name = signal.Signals(-status).name.removeprefix("SIG").lower()
        except ValueError:
            name = str(-status)
        return f"signal: {'killed' if name == 'kill' else name}"
    return f"exit status {status}"


def exit_error_payload(request_id: str, status: int | None, oom: bool, memory_limit_mb: int) -> bytes:
    """AWS's payload when the runtime dies mid-invoke (Runtime.ExitError / Runtime.OutOfMemory)."""
    prefix = f"RequestId: {request_id} Error: " if request_id else "Error: "
    if oom:
        error_type, message = out_of_memory_error(memory_limit_mb)
        return json.dumps({"errorType": error_type, "errorMessage": f"{prefix}{message}"}).encode()
    # AWS's own wording: a clean exit (status 0) mid-invoke gives no reason, any other says what it was.
    reason = "Runtime exited without providing a reason" if status == 0 else \
        f"Runtime exited with error: {describe_exit(status)}"
    return json.dumps({"errorType": "Runtime.ExitError", "errorMessage": f"{prefix}{reason}"}).encode()


def read_new_output(path: Path, offset: int) -> tuple[str, int]:
    """Output the runtime wrote since ``offset``; writes land in the file before the runtime replies."""
    try:
        with open(path, "rb") as log:
            log.seek(offset)
            data = log.read()
    except FileNotFoundError:
        return "", offset
    return data.decode("utf-8", errors="replace"), offset + len(data)

