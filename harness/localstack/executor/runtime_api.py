"""The Lambda Runtime API, served inside LocalStack to one execution environment's runtime client.

``awslambdaric`` long-polls ``GET /2018-06-01/runtime/invocation/next`` and answers with ``.../response``
or ``.../error``; a failed init posts ``/runtime/init/error``. Serving this from a thread of the
LocalStack process (one small server per environment) keeps each environment down to a single child
process: the runtime itself.

Two more routes serve the harness's fault wrapper in that process (`harness/faults/lambda_wrapper.py`):
``POST /_harness/sleep`` with ``{"seconds": S}`` waits S seconds on the stack's clock, during which the
invocation runs no code (an injected delay or timeout: the clock may skip it), and ``GET /_harness/now``
answers the stack's clock.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness.localstack import clock

PREFIX = "/2018-06-01/runtime"
HARNESS_SLEEP = "/_harness/sleep"
HARNESS_NOW = "/_harness/now"


@dataclass
class PendingInvocation:
    request_id: str
    payload: bytes
    invoked_function_arn: str
    trace_id: str
    deadline_ms: int
    done: threading.Event = field(default_factory=threading.Event)
    result: bytes | None = None
    is_error: bool = False
    error_type: str | None = None

    def resolve(self, body: bytes, is_error: bool, error_type: str | None = None) -> bool:
        if self.done.is_set():
            return False
        self.result, self.is_error, self.error_type = body, is_error, error_type
        self.done.set()
        clock.notify()  # the invoking thread waits on the clock for this
        return True


class RuntimeApiState:
    """What the server shares with the executor: the next invocation, readiness, and init errors."""

    def __init__(self) -> None:
        self.invocations: queue.Queue[PendingInvocation] = queue.Queue()
        self.current: PendingInvocation | None = None
        self.ready = threading.Event()
        self.init_error: bytes | None = None
        self.init_error_event = threading.Event()
        self.closed = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without this every response waits on delayed ACKs: about 40 ms per call on loopback.
    disable_nagle_algorithm = True
    server: RuntimeApiServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if self.path == HARNESS_NOW:
            name = self.server.clock_name
            now = {"now": clock.now(name), "offset": clock.offset_of(clock.owner(name))}
            self._reply(200, json.dumps(now).encode())
            return
        if self.path != f"{PREFIX}/invocation/next":
            self._reply(404)
            return
        state = self.server.state
        state.ready.set()
        while True:
            if state.closed.is_set():
                self.close_connection = True
                return
            try:
                invocation = state.invocations.get(timeout=0.5)
            except queue.Empty:
                continue
            if invocation.done.is_set():
                continue
            break
        state.current = invocation
        self._reply(
            200,
            invocation.payload,
            {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": invocation.invoked_function_arn,
                "Lambda-Runtime-Trace-Id": invocation.trace_id,
            },
        )

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        body = self._body()
        state = self.server.state
        if self.path == HARNESS_SLEEP:
            self._sleep(body)
            return
        if self.path == f"{PREFIX}/init/error":
            state.init_error = body or json.dumps(
                {"errorType": "Runtime.Unknown", "errorMessage": "init failed"}
            ).encode()
            state.init_error_event.set()
            self._reply(202, b'{"status":"OK"}')
            return
        parts = self.path.removeprefix(f"{PREFIX}/invocation/").split("/")
        if len(parts) != 2 or parts[1] not in ("response", "error"):
            self._reply(404)
            return
        request_id, outcome = parts
        current = state.current
        if current is None or current.request_id != request_id:
            # AWS answers a stale or unknown request ID with 400 InvalidRequestID.
            self._reply(400, b'{"errorType":"InvalidRequestID","errorMessage":"unknown request id"}')
            return
        error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
        current.resolve(body, is_error=outcome == "error", error_type=error_type)
        self._reply(202, b'{"status":"OK"}')


    def _sleep(self, body: bytes) -> None:
        """The wrapper waits on the stack's clock; meanwhile its invocation runs no code."""
        try:
            seconds = float(json.loads(body or b"{}")["seconds"])
        except (ValueError, KeyError, TypeError):
            self._reply(400, json.dumps({"error": 'give {"seconds": S}'}).encode())
            return
        state, name = self.server.state, self.server.clock_name
        current = state.current
        ended = clock.sleep(name, seconds, request=current.request_id if current else None, stop=state.closed.is_set)
        self._reply(200, json.dumps({"now": clock.now(name), "slept": ended}).encode())


class RuntimeApiServer(ThreadingHTTPServer):
    daemon_threads = True
    # One runtime client talks to this server; a small backlog is plenty.
    request_queue_size = 16

    def __init__(self, clock_name: str = "") -> None:
        self.state = RuntimeApiState()
        self.clock_name = clock_name
        """The function this environment runs: its stack's clock is the one its waits are on."""
        super().__init__(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.25}, name="harness-runtime-api", daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host.decode() if isinstance(host, bytes) else host}:{port}"

    def submit(
        self, request_id: str, payload: bytes, invoked_function_arn: str, trace_id: str, timeout_s: float
    ) -> PendingInvocation:
        invocation = PendingInvocation(
            request_id=request_id,
            payload=payload,
            invoked_function_arn=invoked_function_arn,
            trace_id=trace_id,
            deadline_ms=int((time.time() + timeout_s) * 1000),
        )
        self.state.invocations.put(invocation)
        return invocation

    def close(self) -> None:
        self.state.closed.set()
        # shutdown() blocks for up to one poll interval; the invoking thread must not wait for that.
        def finish() -> None:
            self.shutdown()
            self.server_close()

        threading.Thread(target=finish, name="harness-runtime-api-close", daemon=True).start()
