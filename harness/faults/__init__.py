"""Fault injection into deployed functions without editing their code.

The harness registers a fault plan per deployed function with its executor (`registration`, sent by
`harness.stack.pipeline`); the executor starts the function's runtime process with the wrapper module
(``lambda_wrapper.py``, as ``harness_fault_wrapper.py``) as its handler and the plan in that process's
environment (`harness.localstack.executor.injection`); the function's own handler runs underneath. Neither the
function's code nor its deployed configuration changes: the same deployment runs clean in one scenario
and broken in the next.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.observe.ledger import LEDGER_TABLE

from . import plan as _plan

WRAPPER_MODULE = "harness_fault_wrapper"
WRAPPER_HANDLER = f"{WRAPPER_MODULE}.handler"
# The fault plan module ships next to the wrapper under this name: the one matching code, in Lambda too.
PLAN_MODULE = "harness_fault_plan"

# Which configuration a "wrong table" or "wrong field" fault changes, per seed-pipeline function.
MISCONFIGURABLE: dict[str, dict[str, str]] = {
    "bad_table": {"worker": "ROWS_TABLE", "error_handler": "DECISIONS_TABLE"},
    "bad_field": {"worker": "ROWS_VALUE_COLUMN"},
}


# Where a timeout, exception or out-of-memory fault strikes inside a function, when it has such a place:
# the worker's file reader, so that the worker's own error handling (JOB FAILED, re-raise) sees it.
# Elsewhere the fault strikes before the function's handler runs.
INJECTION_POINTS: dict[str, str] = {"worker": "rows_for_file"}


AFTER_WORK = _plan.AFTER_WORK
# Kinds that change what the handler is given rather than striking inside it.
NOT_INJECTED = (*MISCONFIGURABLE, *AFTER_WORK, "bad_input", "db_unreachable", "import_error", "missing_handler")

# A database that refuses connections: nothing listens on port 1 of the loopback, so a connection is
# refused at once, as a database that is down refuses it (pg8000 raises InterfaceError: transient).
UNREACHABLE_DATABASE_URL = "postgresql://postgres@127.0.0.1:1/unreachable"


def wrapper_source() -> bytes:
    return (Path(__file__).with_name("lambda_wrapper.py")).read_bytes()


def wrapper_files() -> dict[str, bytes]:
    """The wrapper and the fault plan module, as the runtime process imports them (file name: content)."""
    return {
        f"{WRAPPER_MODULE}.py": wrapper_source(),
        f"{PLAN_MODULE}.py": Path(_plan.__file__).read_bytes(),
    }


def fault_plan(faults: list[Any], function: str) -> list[dict[str, Any]]:
    """The JSON-ready plan for one function from a scenario's faults (first match wins per attempt)."""
    plan = []
    for fault in faults:
        if fault.function != function:
            continue
        # A template scenario's faults (harness.scenario.template_scenario) have no files, shards or runs.
        entry = {
            "kind": fault.kind,
            "files": list(getattr(fault, "files", None) or []),
            "attempts": list(fault.attempts or []),
            "min_shard_size": getattr(fault, "min_shard_size", None),
            "runs": list(getattr(fault, "runs", None) or []),
            "probability": fault.probability,
            "seed": fault.seed,
        }
        if fault.kind in ("exception", "fail_after_commit"):
            entry["exception"] = {"type": fault.exception.type, "message": fault.exception.message}
        if fault.kind == "crash":
            entry["exit_status"] = fault.exit_status
        if fault.kind == "import_error":
            entry["missing_module"] = fault.missing_module
        if fault.kind not in NOT_INJECTED and function in INJECTION_POINTS:
            entry["inject_at"] = INJECTION_POINTS[function]
        if fault.kind in MISCONFIGURABLE and function in MISCONFIGURABLE[fault.kind]:
            # (The validator refuses the kind on a function that has no such setting.)
            entry["overrides"] = {MISCONFIGURABLE[fault.kind][function]: fault.wrong_name}
        if fault.kind == "db_unreachable":
            entry["overrides"] = {"DATABASE_URL": UNREACHABLE_DATABASE_URL}
        plan.append(entry)
    return plan


def registration(plan: list[dict[str, Any]], ledger_url: str, schema: str) -> dict[str, Any]:
    """What the harness registers with the executor for one function (`harness.localstack.executor.injection`)."""
    return {"faults": plan, "ledger_url": ledger_url, "ledger_table": f"{schema}.{LEDGER_TABLE}"}


def wrapper_environment(plan: list[dict[str, Any]], original_handler: str, ledger_url: str,
                        ledger_table: str) -> dict[str, str]:
    """The variables the wrapper reads, set by the executor in the runtime process only."""
    return {
        "HARNESS_FAULTS": json.dumps(plan),
        "HARNESS_ORIGINAL_HANDLER": original_handler,
        "HARNESS_LEDGER_URL": ledger_url,
        "HARNESS_LEDGER_TABLE": ledger_table,
    }
