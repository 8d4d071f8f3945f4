"""pytest plugin (entry point ``pytest11``): fixtures for a LocalStack that runs real Lambdas.

Scopes: one LocalStack per test session, and under pytest-xdist one per worker, so that parallel
workers share nothing. Point the session at a LocalStack you run yourself with ``--harness-endpoint``
or ``HARNESS_ENDPOINT`` (loopback only unless ``--harness-allow-remote-endpoint``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from harness.localstack import EmbeddedLocalStack, Endpoint


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "Lambda failure-path harness")
    group.addoption(
        "--harness-endpoint",
        default=os.environ.get("HARNESS_ENDPOINT"),
        help="use the LocalStack at this URL instead of starting an embedded one (env: HARNESS_ENDPOINT)",
    )
    group.addoption(
        "--harness-allow-remote-endpoint",
        action="store_true",
        default=False,
        help="allow a non-loopback --harness-endpoint (the harness creates and deletes resources there)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs LocalStack (embedded, or --harness-endpoint)")


@pytest.fixture(scope="session")
def harness_endpoint(request: pytest.FixtureRequest) -> Iterator[Endpoint]:
    """A LocalStack that runs Lambdas as local processes: embedded (default) or the given endpoint."""
    url = request.config.getoption("--harness-endpoint")
    if url:
        allow = request.config.getoption("--harness-allow-remote-endpoint") or None
        endpoint = Endpoint(url, allow_remote=allow)
        # Fail, never skip, when the given LocalStack is not there: a green run must mean something.
        endpoint.client("sts").get_caller_identity()
        yield endpoint
        return
    localstack = EmbeddedLocalStack(quiet=True)
    try:
        yield localstack.start()
    finally:
        localstack.stop()
