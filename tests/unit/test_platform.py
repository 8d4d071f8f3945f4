"""Platform timing travels from the running LocalStack: the embedded one's setting, or an attached one's."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from harness.model import platform


@pytest.fixture
def config_endpoint() -> Iterator[tuple[str, dict]]:
    """A loopback server answering /_localstack/config as a LocalStack with ENABLE_CONFIG_UPDATES=1 does."""
    config: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            if self.path != "/_localstack/config" or not config:
                self.send_response(404)
                self.end_headers()
                return
            body = json.dumps(config).encode()
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
        yield f"http://127.0.0.1:{server.server_port}", config
    finally:
        server.shutdown()
        server.server_close()


def test_an_attached_localstack_that_shows_its_config_is_believed(config_endpoint, monkeypatch) -> None:
    url, config = config_endpoint
    config["LAMBDA_RETRY_BASE_DELAY_SECONDS"] = 7
    monkeypatch.setenv("HARNESS_RETRY_BASE_DELAY", "3")  # what LocalStack says wins over the environment
    timing = platform.attached(url)
    assert timing.retry_base_delay_s == 7.0
    assert timing.retry_delay(2) == 14.0
    assert "_localstack/config" in timing.source


def test_an_attached_localstack_without_its_config_takes_the_environment_then_aws(config_endpoint,
                                                                                  monkeypatch) -> None:
    url, _ = config_endpoint  # answers 404, as a LocalStack without ENABLE_CONFIG_UPDATES
    monkeypatch.setenv("HARNESS_RETRY_BASE_DELAY", "3")
    assert platform.attached(url).retry_base_delay_s == 3.0
    monkeypatch.delenv("HARNESS_RETRY_BASE_DELAY")
    timing = platform.attached(url)
    assert timing.retry_base_delay_s == 60.0 and not timing.compressed
    assert "time is real" in timing.describe() and "HARNESS_RETRY_BASE_DELAY" in timing.describe()


def test_nothing_listening_is_no_config(monkeypatch) -> None:
    monkeypatch.delenv("HARNESS_RETRY_BASE_DELAY", raising=False)
    assert platform.attached("http://127.0.0.1:1", timeout_s=0.5).retry_base_delay_s == 60.0


@pytest.mark.parametrize("raw", ["soon", "-1", "301"])
def test_a_bad_retry_delay_in_the_environment_names_the_variable(monkeypatch, raw: str) -> None:
    monkeypatch.setenv("HARNESS_RETRY_BASE_DELAY", raw)
    with pytest.raises(ValueError, match="HARNESS_RETRY_BASE_DELAY"):
        platform.env_retry_base_delay()


def test_the_embedded_localstack_states_its_compression() -> None:
    timing = platform.embedded(1)
    assert timing.compressed
    assert timing.describe().startswith("time is compressed: Lambda async retries wait 1 s, then 2 s")


def test_the_embedded_localstack_runs_alarms_at_the_retries_compression() -> None:
    timing = platform.embedded(1.0)
    assert timing.alarm_time_scale == 60.0 and timing.alarm_seconds(60) == 1.0 and timing.alarm_seconds(86400) == 1440
    assert "1 min = 1 s, 1 day = 1440 s" in timing.describe()
    assert platform.embedded(5.0).alarm_time_scale == 12.0
    assert platform.embedded(1.0).alarm_period_problem(300) is None
    problem = platform.embedded(1.0).alarm_period_problem(10)
    assert problem is not None and "runs here as 0.166667 s" in problem and "multiple of 60 s" in problem
    assert platform.embedded(1.0).alarm_period_problem(90) is not None  # 1.5 s: metrics keep whole seconds


def test_an_attached_localstack_runs_alarms_in_real_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_ALARM_TIME_SCALE", raising=False)
    timing = platform.attached("http://127.0.0.1:1", timeout_s=0.5)
    assert timing.alarm_time_scale == 1.0 and timing.alarm_period_problem(10) is None
    assert "alarm periods are real" in timing.describe()


def test_an_attached_harness_localstack_is_told_its_alarm_scale_by_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_ALARM_TIME_SCALE", "30")
    timing = platform.attached("http://127.0.0.1:1", timeout_s=0.5)
    assert timing.alarm_time_scale == 30.0 and "alarm periods run 30x faster (1 min = 2 s" in timing.describe()
    monkeypatch.setenv("HARNESS_ALARM_TIME_SCALE", "fast")
    with pytest.raises(ValueError, match="HARNESS_ALARM_TIME_SCALE='fast' is not a number"):
        platform.attached("http://127.0.0.1:1", timeout_s=0.5)
