"""Small Lambda control-plane helpers shared by the stack, the tests and the benchmarks."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from harness.waiting import DeadlineExceeded, wait_for


class FunctionFailed(Exception):
    """A function that LocalStack could not make Active; carries LocalStack's reason."""


def zip_sources(files: dict[str, str | bytes]) -> bytes:
    """A deterministic zip of ``{path: content}`` (fixed timestamps and modes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            content = files[name]
            archive.writestr(info, content.encode() if isinstance(content, str) else content)
    return buffer.getvalue()


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
