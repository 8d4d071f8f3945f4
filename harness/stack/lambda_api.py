"""Small Lambda control-plane helpers shared by the stack, the tests and the benchmarks."""

from __future__ import annotations

from typing import Any

from harness.packaging import zip_bytes
from harness.waiting import DeadlineExceeded, wait_for


class FunctionFailed(Exception):
    """A function that LocalStack could not make Active; carries LocalStack's reason."""


def zip_sources(files: dict[str, str | bytes]) -> bytes:
    """A reproducible zip of ``{path: source}`` (sources as text or bytes)."""
    return zip_bytes({name: content.encode() if isinstance(content, str) else content
                      for name, content in files.items()})


def wait_active(lambda_client: Any, name: str, deadline_s: float = 30.0) -> dict[str, Any]:
    """Wait until the function's State and LastUpdateStatus settle; raise FunctionFailed with the reason."""

    def probe() -> dict[str, Any]:
        return lambda_client.get_function_configuration(FunctionName=name)

    def settled(cfg: dict[str, Any]) -> bool:
        return cfg.get("State") in ("Active", "Failed") and cfg.get("LastUpdateStatus") != "InProgress"

    try:
        cfg = wait_for(probe, settled, deadline_s=deadline_s, interval_s=0.02, what=f"function {name} active")
    except DeadlineExceeded as exceeded:
        raise FunctionFailed(str(exceeded)) from exceeded
    if cfg["State"] == "Failed" or cfg.get("LastUpdateStatus") == "Failed":
        reason = cfg.get("StateReason") or cfg.get("LastUpdateStatusReason") or "no reason given"
        raise FunctionFailed(f"function {name} failed to deploy: {reason}")
    return cfg
