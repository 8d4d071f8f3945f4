"""The ``process`` runtime executor: LocalStack's Lambda service runs each execution environment as a
local ``awslambdaric`` process instead of a Docker container.

LocalStack keeps everything that makes Lambda Lambda (the async event queue, retries, dead-letter
delivery, destinations, metrics, concurrency, keep-alive); this class only does what a sandbox does:
start the runtime, pass it invocations, enforce Timeout and MemorySize, and report logs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from localstack import config
from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.executor_endpoint import StatusErrorException
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult, S3Code
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

from harness import runtimes as interpreters
from harness.localstack import clock, retries
from harness.localstack.executor import injection, lambda_logs, zygote
from harness.localstack.executor.runtime_process import (
    Ended,
    RuntimeProcess,
    StartupFailed,
    exit_error_payload,
    read_new_output,
)

LOG = logging.getLogger(__name__)

# AWS gives a function's init phase 10 s before it counts as failed.
INIT_TIMEOUT_S = float(os.environ.get("HARNESS_INIT_TIMEOUT", "10"))
# Variables of LocalStack's Docker init protocol that mean nothing to a process-based runtime.
_INTERNAL_VARS = ("LOCALSTACK_RUNTIME_ID", "LOCALSTACK_RUNTIME_ENDPOINT", "LOCALSTACK_CHMOD_PATHS",
                  "LOCALSTACK_USER", "LOCALSTACK_INIT_LOG_LEVEL", "LOCALSTACK_POST_INVOKE_WAIT_MS",
                  "LOCALSTACK_MAX_PAYLOAD_SIZE")


def _runtime(cfg: Any) -> str:
    """The function's runtime, like python3.12: a Zip package always names one."""
    if cfg.runtime is None:
        raise LambdaRuntimeException("the harness process executor needs a function with a runtime")
    runtime: str = cfg.runtime
    return runtime


def _environments_root() -> Path:
    root = Path(os.environ.get("HARNESS_ENVIRONMENTS_DIR") or Path(tempfile.gettempdir()) / "harness-envs")
    root.mkdir(parents=True, exist_ok=True)
    return root


def shared_code_dir(code: Any) -> Path | None:
    """Where functions whose zip has this content run from, in this LocalStack's run: None for code that is
    not an uploaded zip (hot-reloaded code changes under the same name)."""
    if not isinstance(code, S3Code):
        return None
    digest = hashlib.sha256(str(code.code_sha256).encode()).hexdigest()[:32]
    return _environments_root() / ".code" / digest


def share_code(code: Any) -> Path | None:
    """The function's code, unzipped by LocalStack, copied once per content to `shared_code_dir`.

    Every function of the run with the same zip (the pipeline's three, in every stack) then runs from one
    folder, and the bytecode its first cold start writes (__pycache__) serves all later ones. Run each from
    LocalStack's own folder, as before, and each stack's functions compiled pg8000, asn1crypto and the
    pipeline's modules again at their first cold start: a third of the runtimes' CPU in `make run`.
    (Lambda's task root is read-only, so a function that works on AWS writes nothing there.)"""
    target = shared_code_dir(code)
    if target is None:
        return None
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".copy-", dir=target.parent))
        try:
            shutil.copytree(Path(code.get_unzipped_code_location()), staging, symlinks=True, dirs_exist_ok=True,
                            copy_function=_link_or_copy)
            staging.rename(target)
        except OSError:
            if not target.is_dir():  # not another version with the same zip, which got there first
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _link_or_copy(source: str, destination: str) -> None:
    """A hard link (the same bytes, no copy) where the file system allows one, else a copy."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


class ProcessRuntimeExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:  # noqa: A002 - LocalStack API
        super().__init__(id=id, function_version=function_version)
        self._runtime: RuntimeProcess | None = None
        self._env: dict[str, str] = {}
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._dir = Path(tempfile.mkdtemp(prefix=f"{function_version.id.function_name}-{id[:8]}-",
                                          dir=_environments_root()))
        self._log_path = self._dir / "runtime.log"
        self._log_offset = 0
        self._pending_init: str | None = None
        self._init_ms: float | None = None
        self._failed_init_ms = 0.0
        self._interpreter: interpreters.Interpreter | None = None
        self._handler = ""
        self._command_prefix: list[str] = []
        self._deployed_env: dict[str, str] = {}
        self._generation = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self, env_vars: dict[str, str]) -> None:
        cfg = self.function_version.config
        self._interpreter = interpreters.resolve(_runtime(cfg))
        assert cfg.code is not None  # a Zip package (prepare_version refuses the rest) has its code
        assert cfg.handler is not None  # and names its handler
        shared = shared_code_dir(cfg.code)
        code_dir = shared if shared is not None and shared.is_dir() else Path(cfg.code.get_unzipped_code_location())
        tmp = self._dir / "tmp"
        tmp.mkdir()
        opt = self._unpack_layers()
        env = {k: str(v) for k, v in env_vars.items() if v is not None and k not in _INTERNAL_VARS}
        # AWS's sys.path: the code, then the layers' python/ folders, then the runtime's own packages.
        python_path = [str(opt / "python" / "lib" / f"python{self._interpreter.version}" / "site-packages"),
                       str(opt / "python"), str(self._interpreter.runtime_dir)] if opt else \
            [str(self._interpreter.runtime_dir)]
        env.update(
            LAMBDA_TASK_ROOT=str(code_dir),
            LAMBDA_RUNTIME_DIR=str(self._interpreter.runtime_dir),
            PYTHONPATH=":".join(python_path),
            PATH=zygote.TEMPLATE_ENV["PATH"],
            LANG=zygote.TEMPLATE_ENV["LANG"],  # a runtime's template starts with the same (zygote.py)
            TMPDIR=str(tmp),
            AWS_EXECUTION_ENV=f"AWS_Lambda_{cfg.runtime}",
        )
        # The function's own environment variables win, as on AWS (set last by LocalStack already).
        env.update({k: str(v) for k, v in (cfg.environment or {}).items()})
        self._command_prefix = self._exec_wrapper(env.get("AWS_LAMBDA_EXEC_WRAPPER"), opt)
        self._deployed_env = env
        try:
            self._init_as_deployed()
        except StartupFailed as failure:
            if self._stopped.is_set() or not failure.payload:
                raise StatusErrorException(str(failure), payload=failure.payload) from failure
            # As on AWS, the environment stays, and its first invocation runs init again and reports the
            # error with both inits' lines (`_invoke`); LocalStack would drop a failed start's logs.

    def _init_as_deployed(self) -> None:
        """The environment's own init (Phase: init), with the fault plan the harness registered for this
        function, which applies to this process only."""
        name = self.function_version.id.function_name
        self._generation = injection.generation(name)
        self._handler, self._env = injection.runtime_for(name, self.function_version.config.handler or "",
                                                         self._deployed_env)
        self._start_runtime_and_wait("init")

    def _unpack_layers(self) -> Path | None:
        """The function's layers merged in order into this environment's /opt, as Lambda extracts them."""
        layers = self.function_version.config.layers or []
        if not layers:
            return None
        opt = self._dir / "opt"
        for layer in layers:
            if layer.code is None:
                continue
            layer.code.prepare_for_execution()
            shutil.copytree(Path(layer.code.get_unzipped_code_location()), opt, dirs_exist_ok=True, symlinks=True)
        return opt

    def _exec_wrapper(self, wrapper: str | None, opt: Path | None) -> list[str]:
        """AWS_LAMBDA_EXEC_WRAPPER: a script Lambda runs with the runtime's command as its arguments. A path
        under /opt is one of the function's layers (here: this environment's copy of them)."""
        if not wrapper:
            return []
        path = Path(wrapper)
        if opt is not None and path.is_relative_to("/opt"):
            path = opt / path.relative_to("/opt")
        if not path.is_file():
            raise StatusErrorException(
                f"AWS_LAMBDA_EXEC_WRAPPER {wrapper} not found",
                payload=json.dumps({"errorType": "Runtime.InvalidWrapper",
                                    "errorMessage": f"AWS_LAMBDA_EXEC_WRAPPER {wrapper} does not exist"}).encode())
        if not os.access(path, os.X_OK):
            path.chmod(path.stat().st_mode | 0o755)  # layers are extracted 0755 on AWS
        return [str(path)]

    def _start_runtime_and_wait(self, phase: str, request: dict[str, str] | None = None) -> None:
        """Start a runtime and wait for its init; `phase` is AWS's name for when it runs: `init` (the
        environment's start) or `invoke` (again, after a failure: reported to the next invocation, or run for
        `request`, the invocation that needs it, whose attempt a fault plan's broken init records)."""
        cfg = self.function_version.config
        assert self._interpreter is not None  # start() resolved it
        runtime = RuntimeProcess(
            python=self._interpreter.python,
            handler=self._handler,
            command_prefix=self._command_prefix,
            env=self._env if request is None else
            injection.for_request(self._env, request["invoke-id"], request["payload"], self._dir),
            task_root=Path(self._env["LAMBDA_TASK_ROOT"]),
            log_path=self._log_path,
            memory_limit_mb=int(cfg.memory_size),
            clock_name=self.function_version.id.function_name,
        )
        self._runtime = runtime
        # Lines of an earlier failed init stay in front: the next invocation reports them all, as AWS does.
        earlier = (self._pending_init or "") + lambda_logs.init_start(_runtime(cfg))
        try:
            # AWS: an init past its 10 s is run again at the first invocation, under the function's Timeout.
            limit = INIT_TIMEOUT_S if phase == "init" else float(cfg.timeout)
            init_ms = runtime.wait_ready(limit, self._stopped)
        except StartupFailed as failure:
            output, self._log_offset = read_new_output(self._log_path, self._log_offset)
            self._failed_init_ms = (time.perf_counter() - runtime.started_at) * 1000
            self._pending_init = earlier + output + lambda_logs.init_report(
                self._failed_init_ms, phase, lambda_logs.error_type_of(failure.payload))
            runtime.kill()
            self._runtime = None
            raise
        output, self._log_offset = read_new_output(self._log_path, self._log_offset)
        self._pending_init = earlier + output
        self._init_ms = init_ms

    def stop(self) -> None:
        self._stopped.set()
        runtime, self._runtime = self._runtime, None
        if runtime is not None:
            runtime.kill()
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- invocation --------------------------------------------------------------------------------
    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        # Its stack is busy, unless the invocation waits on the clock (`RuntimeProcess.invoke`).
        running = clock.begin("running", self.function_version.id.function_name, payload["invoke-id"])
        try:
            return self._invoke(payload)
        finally:
            clock.end(running)

    def _invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        cfg = self.function_version.config
        with self._lock:
            if self._stopped.is_set():
                raise LambdaRuntimeException(f"execution environment {self.id} is stopped")
            failed = self._ready_runtime(payload)
            if failed is not None:
                return failed
            runtime = self._runtime
            assert runtime is not None  # alive, or just started (a failed start returned above)
            init_part, self._pending_init = self._pending_init, None
            init_ms = self._init_ms if init_part is not None else None
            outcome = runtime.invoke(
                request_id,
                payload["payload"].encode(),
                payload["invoked-function-arn"],
                payload.get("trace-id") or "",
                float(cfg.timeout),
            )
            output, self._log_offset = read_new_output(self._log_path, self._log_offset)
            memory_used = runtime.max_memory_used_mb()
            logs = (init_part or "") + lambda_logs.start_line(request_id) + output
            result_body, is_error, status, error_type = outcome.body, False, None, None
            if outcome.ended is Ended.ERROR:
                is_error = True
            elif outcome.ended is Ended.TIMEOUT:
                is_error, status = True, "timeout"
                result_body = lambda_logs.timeout_payload(request_id, float(cfg.timeout))
                logs += lambda_logs.timeout_line(request_id, float(cfg.timeout))
                self._restart_in_background()
            elif outcome.ended in (Ended.EXIT, Ended.OUT_OF_MEMORY):
                oom = outcome.ended is Ended.OUT_OF_MEMORY
                is_error, status = True, "error"
                error_type = "Runtime.OutOfMemory" if oom else "Runtime.ExitError"
                if oom:
                    memory_used = max(memory_used, int(cfg.memory_size))
                result_body = exit_error_payload(request_id, outcome.exit_status, oom, int(cfg.memory_size))
                logs += lambda_logs.exit_lines(result_body)
                runtime.kill()
                self._restart_in_background()
            logs += lambda_logs.end_and_report(request_id, outcome.duration_ms, int(cfg.memory_size),
                                               memory_used, init_ms, status=status, error_type=error_type)
            if is_error:
                # An async retry's delay counts from here.
                retries.note_failure(request_id, self.function_version.id.function_name)
            return InvocationResult(request_id, result_body, is_error=is_error, logs=logs)

    def _ready_runtime(self, payload: dict[str, str]) -> InvocationResult | None:
        """A live runtime for this invocation, or the invocation's result when its init fails."""
        if self._generation != injection.generation(self.function_version.id.function_name):
            # The function's fault plan was registered again: a deploy, on AWS, whose environments are new
            # ones. This one starts over as a new one would, with its own init (Phase: init).
            if self._runtime is not None:
                self._runtime.kill()
                self._runtime = None
            self._pending_init, self._init_ms = None, None
            try:
                self._init_as_deployed()
            except StartupFailed:
                if self._stopped.is_set():
                    raise LambdaRuntimeException(f"execution environment {self.id} is stopped") from None
                # As in `start`: init runs again, for this invocation, below.
        if self._runtime is None or not self._runtime.alive:
            # A previous invocation timed out or killed the runtime, or the init failed: a fresh one, as
            # after a sandbox reset, which runs init inside this invocation (Phase: invoke).
            if self._runtime is not None:
                self._runtime.kill()
            try:
                self._start_runtime_and_wait("invoke", payload)
            except StartupFailed as failure:
                return self._init_failed(payload["invoke-id"], failure)
        return None

    def _init_failed(self, request_id: str, failure: StartupFailed) -> InvocationResult:
        """The invocation fails with the init's error: the init's lines, then START, END and a REPORT whose
        Duration is the failed init's and whose Error Type is the runtime's (AWS's order and fields)."""
        logs = (self._pending_init or "") + lambda_logs.start_line(request_id)
        memory_size = int(self.function_version.config.memory_size)
        logs += lambda_logs.end_and_report(request_id, self._failed_init_ms, memory_size, 0, None, status="error",
                                           error_type=lambda_logs.error_type_of(failure.payload))
        self._pending_init = None
        retries.note_failure(request_id, self.function_version.id.function_name)
        return InvocationResult(request_id, failure.payload, is_error=True, logs=logs)

    def _restart_in_background(self) -> None:
        """Start the next runtime now, so its init overlaps the wait before Lambda's retry."""
        self._runtime = None
        if self._stopped.is_set():
            return

        def restart() -> None:
            with self._lock:
                if self._runtime is None and not self._stopped.is_set():
                    try:
                        self._start_runtime_and_wait("invoke")
                    except StartupFailed:
                        # Reported to the next invocation, which tries again.
                        self._runtime = None

        threading.Thread(target=restart, name=f"harness-restart-{self.id[:8]}", daemon=True).start()

    # -- addresses and logs ------------------------------------------------------------------------
    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        return f"http://127.0.0.1:{config.GATEWAY_LISTEN[0].port}/_localstack_lambda/{self.id}"

    def get_logs(self) -> str:
        try:
            return self._log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # -- versions ----------------------------------------------------------------------------------
    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        cfg = function_version.config
        if cfg.package_type != PackageType.Zip:
            raise LambdaRuntimeException(
                "the harness process executor runs Zip-packaged functions only, not container images"
            )
        # Raises RuntimeUnavailable with what was looked for; LocalStack marks the function Failed with it.
        interpreters.resolve(_runtime(cfg))
        shared = shared_code_dir(cfg.code) if cfg.code else None
        if cfg.code and (shared is None or not shared.is_dir()):
            # Not when a function with the same zip ran in this LocalStack before: its environments run from
            # the shared copy, so LocalStack's download and unzip of the same files again (0.15 s of each
            # function's creation, a third of a warm deploy of the pipeline) would serve nothing.
            cfg.code.prepare_for_execution()
            share_code(cfg.code)
        for layer in cfg.layers or []:
            if layer.code is not None:
                layer.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        return True
