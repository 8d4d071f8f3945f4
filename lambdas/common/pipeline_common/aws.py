"""boto3 clients, created lazily and cached for warm invocations; tests swap in fakes with `use_client`.

boto3 comes from the Lambda runtime (as on AWS) and honours AWS_ENDPOINT_URL, so nothing here knows
about LocalStack.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str) -> Any:
    with _lock:
        if service not in _clients:
            import boto3  # deferred: importing the handler must not need boto3 (tests, packaging checks)

            _clients[service] = boto3.client(service)
        return _clients[service]


def prepare(*services: str) -> None:
    """Create clients now, in Lambda's init phase, as AWS advises: init has its own time budget, while the
    first invocation's Timeout would otherwise pay for importing boto3 and building clients. Outside
    Lambda (tests, packaging checks) nothing is created, so importing a handler never needs boto3."""
    if "AWS_LAMBDA_FUNCTION_NAME" not in os.environ:
        return
    for service in services:
        client(service)


def use_client(service: str, replacement: Any) -> None:
    """Make `client(service)` return `replacement` (a fake in tests)."""
    with _lock:
        _clients[service] = replacement


def reset_clients() -> None:
    with _lock:
        _clients.clear()
