"""Fault plans the harness has registered for deployed functions, applied by the executor inside the
function's runtime process: the deployed function (code, Handler, Environment, everything its template
says) is never changed.

The harness registers a plan per function name over HTTP (``/_harness/faults/<function name>``, a
`harness.wire.Registration`, served by `harness.localstack.routes`). This module runs in the LocalStack
process, next to the executor, which asks `runtime_for` when it starts a runtime. For a registered function the runtime
process gets the fault wrapper (`harness/faults/lambda_wrapper.py`) as its handler, the function's own
handler in ``HARNESS_ORIGINAL_HANDLER``, the plan and the ledger's address in its environment, and the
wrapper's own modules on ``PYTHONPATH`` *after* the runtime's, so the function's code and its own
packages (first on ``sys.path``, from the code directory) still win. What the wrapper brings that a
function could then import and otherwise could not: ``pg8000`` and its dependencies, ``pipeline_common``
(both for the attempt ledger) and the two ``harness_fault_*`` modules.

A function nobody registered runs exactly as deployed.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from harness import wire

_PLANS: dict[str, dict[str, Any]] = {}
_GENERATIONS: dict[str, int] = {}
_LOCK = threading.Lock()
_SUPPORT: list[str] = []
REQUIRED_KEYS = ("faults", "ledger_url", "ledger_table")


class RegistrationError(ValueError):
    pass


def register(function_name: str, registration: Any) -> None:
    if not isinstance(registration, dict):
        raise RegistrationError("a registration is a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in registration]
    if missing:
        raise RegistrationError(f"registration of {function_name} lacks {', '.join(missing)}")
    if not isinstance(registration["faults"], list):
        raise RegistrationError(f"registration of {function_name}: 'faults' must be a list")
    with _LOCK:
        _PLANS[function_name] = dict(registration)
        _GENERATIONS[function_name] = _GENERATIONS.get(function_name, 0) + 1


def generation(function_name: str) -> int:
    """How many times a plan was registered for the function. Each registration stands for a deployment of
    the function, as a broken one between runs: environments started before it start over (the executor)."""
    with _LOCK:
        return _GENERATIONS.get(function_name, 0)


def unregister(function_name: str) -> None:
    with _LOCK:
        _PLANS.pop(function_name, None)


def unregister_stack(prefix: str) -> None:
    """Drop the plans of a stack's functions (their names start with its prefix): the stack is discarded."""
    with _LOCK:
        for name in [name for name in _PLANS if wire.named_after(prefix, name)]:
            del _PLANS[name]


def registration(function_name: str) -> dict[str, Any] | None:
    with _LOCK:
        found = _PLANS.get(function_name)
        return None if found is None else dict(found)


def support_path() -> list[str]:
    """Directories for the wrapper's imports (built once per process): the wrapper and fault plan modules,
    `pipeline_common`, and the vendored pure-Python dependencies of `lambdas/requirements.txt`."""
    with _LOCK:
        if not _SUPPORT:
            from harness import faults, paths
            from harness.packaging import vendor_dir

            root = Path(tempfile.mkdtemp(prefix="harness-injection-"))
            for name, content in faults.wrapper_files().items():
                (root / name).write_bytes(content)
            shutil.copytree(paths.PIPELINE_COMMON_PARENT / "pipeline_common", root / "pipeline_common",
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            _SUPPORT.extend([str(root), str(vendor_dir())])
        return list(_SUPPORT)


STASHED = ("pg8000.native",)
"""What the fault wrapper imports from its vendored folder in every runtime it wraps (the ledger's client)."""


def stash() -> tuple[str, tuple[str, ...]] | None:
    """The wrapper's vendored folder (as `support_path` puts it on PYTHONPATH) and what a runtime's template
    imports from it ahead for the runtimes it wraps (`zygote`); None while that folder is not installed."""
    from harness.packaging import vendor_dir_if_built

    folder = vendor_dir_if_built()
    return (str(folder), STASHED) if folder is not None else None


def runtime_for(function_name: str, handler: str, env: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The handler and environment a runtime process of `function_name` starts with: as deployed, or,
    when a plan is registered, wrapped."""
    found = registration(function_name)
    if found is None:
        return handler, env
    from harness import faults

    wrapped = dict(env)
    wrapped.update(faults.wrapper_environment(found["faults"], handler, str(found["ledger_url"]),
                                              str(found["ledger_table"])))
    wrapped["PYTHONPATH"] = ":".join(part for part in (env.get("PYTHONPATH", ""), *support_path()) if part)
    return faults.WRAPPER_HANDLER, wrapped


def for_request(env: dict[str, str], request_id: str, event: str, folder: Path) -> dict[str, str]:
    """The environment of a runtime started for one invocation (init run again inside the invoke): a wrapped
    one is told the request (in a file of the execution environment's `folder`), so that an init its fault
    plan breaks records that attempt in the ledger. An unwrapped one, as given."""
    from harness import faults

    if faults.ORIGINAL_HANDLER_VAR not in env:
        return env
    path = folder / "init-request.json"
    path.write_text(json.dumps({"request_id": request_id, "event": json.loads(event or "null")}), encoding="utf-8")
    return dict(env, **{faults.INIT_REQUEST_VAR: str(path)})
