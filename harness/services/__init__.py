"""LocalStack for the harness: an embedded one in host mode, or one the user runs, on loopback only.

The names below are imported on first use: `harness.services.endpoint` imports boto3, and importing
this package (as `harness.services.embedded` does) must not, for the pytest plugin's sake.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.services.embedded import EmbeddedLocalStack, LocalStackError, ensure_runtimes
    from harness.services.endpoint import Endpoint, UnsafeEndpoint, check_endpoint, endpoint_from_env

_WHERE = {
    "EmbeddedLocalStack": "harness.services.embedded",
    "LocalStackError": "harness.services.embedded",
    "ensure_runtimes": "harness.services.embedded",
    "Endpoint": "harness.services.endpoint",
    "UnsafeEndpoint": "harness.services.endpoint",
    "check_endpoint": "harness.services.endpoint",
    "endpoint_from_env": "harness.services.endpoint",
}

__all__ = [
    "EmbeddedLocalStack",
    "Endpoint",
    "LocalStackError",
    "UnsafeEndpoint",
    "check_endpoint",
    "endpoint_from_env",
    "ensure_runtimes",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
