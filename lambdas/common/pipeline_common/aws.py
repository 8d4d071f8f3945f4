"""boto3 clients, created lazily and cached for warm invocations; tests swap in fakes with `use_client`.

boto3 comes from the Lambda runtime (as on AWS) and honours AWS_ENDPOINT_URL, so nothing here knows
about LocalStack.
"""

from __future__ import annotations

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


def use_client(service: str, replacement: Any) -> None:
    """Make `client(service)` return `replacement` (a fake in tests)."""
    with _lock:
        _clients[service] = replacement


def reset_clients() -> None:
    with _lock:
        _clients.clear()
