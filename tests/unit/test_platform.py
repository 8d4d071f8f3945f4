"""What the harness learns of the LocalStack under the scenarios: whether its stacks run on clocks of their
own (the harness's launcher answers `/_harness/health`), and that every retry delay is AWS's own."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from harness import wire
from harness.model import platform


@pytest.fixture
def health_endpoint() -> Iterator[tuple[str, dict]]:
    """A loopback server answering /_harness/health as the harness's launcher does (404 while `health` is
    empty, as a LocalStack started another way)."""
    health: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path != wire.HEALTH or not health:
                self.send_response(404)
                self.end_headers()
                return
            body = json.dumps(health).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", health
    finally:
        server.shutdown()
        server.server_close()


def test_retries_come_one_and_two_minutes_after_a_failure_as_on_aws() -> None:
    for timing in (platform.embedded(), platform.MODEL):
        assert [timing.retry_delay(1), timing.retry_delay(2)] == [60.0, 120.0]


def test_an_attached_localstack_started_by_the_harness_has_stack_clocks(health_endpoint) -> None:
    url, health = health_endpoint
    health.update({"localstack": "2026.3.0", "pinned": "2026.3.0", "problems": []})
    timing = platform.attached(url)
    assert timing.virtual_clock
    assert "LocalStack 2026.3.0" in timing.source and url in timing.source
    assert timing.describe().startswith("each stack runs on its own clock, which skips ahead")


def test_an_attached_localstack_started_otherwise_keeps_real_time(health_endpoint) -> None:
    url, _ = health_endpoint  # answers 404: no harness routes
    timing = platform.attached(url)
    assert not timing.virtual_clock
    assert "without the harness's launcher" in timing.source
    assert timing.describe().startswith("real time: this LocalStack has no stack clock")
    assert timing.retry_delay(1) == 60.0


def test_nothing_listening_is_real_time() -> None:
    assert not platform.attached("http://127.0.0.1:1", timeout_s=0.5).virtual_clock


def test_the_embedded_localstack_states_its_stack_clocks() -> None:
    timing = platform.embedded()
    assert timing.virtual_clock
    assert "AWS's timeouts, retry delays and alarm periods cost no waiting" in timing.describe()
