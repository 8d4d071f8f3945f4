"""LocalStack for the harness: an embedded one in host mode, or one the user runs, on loopback only."""

from harness.localstack.embedded import EmbeddedLocalStack, LocalStackError, ensure_runtimes
from harness.localstack.endpoint import Endpoint, UnsafeEndpoint, check_endpoint, endpoint_from_env

__all__ = [
    "EmbeddedLocalStack",
    "Endpoint",
    "LocalStackError",
    "UnsafeEndpoint",
    "check_endpoint",
    "endpoint_from_env",
    "ensure_runtimes",
]
