"""Fault injection into deployed functions without editing their code: the part that reaches the Lambda.

The harness registers a fault plan per deployed function with its executor (`registration`, a
`harness.wire.Registration`); the executor starts the function's runtime process with the wrapper module
(``lambda_wrapper.py``, as ``harness_fault_wrapper.py``) as its handler and the plan in that process's
environment (`harness.localstack.executor.injection`); the function's own handler runs underneath. Neither the
function's code nor its deployed configuration changes: the same deployment runs clean in one scenario
and broken in the next. The plan's entries are built from a scenario's faults by `harness.format.faults`,
whose table says what each kind is; `plan.py` matches them to attempts, here and in the model alike.

Standard library only: the LocalStack process imports this package.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import plan as _plan

WRAPPER_MODULE = "harness_fault_wrapper"
WRAPPER_HANDLER = f"{WRAPPER_MODULE}.handler"
# The fault plan module ships next to the wrapper under this name: the one matching code, in Lambda too.
PLAN_MODULE = "harness_fault_plan"

ORIGINAL_HANDLER_VAR = "HARNESS_ORIGINAL_HANDLER"
"""The function's own handler, in a wrapped runtime's environment."""
INIT_REQUEST_VAR = "HARNESS_INIT_REQUEST"
"""A file naming the request (and its event) of an invocation that runs init again, in a wrapped runtime's
environment: an init broken by the plan records that attempt (`lambda_wrapper._init_fault`)."""

LEDGER_TABLE = "harness_attempts"
"""The attempt ledger's table in each stack's schema: one row per invocation attempt, written by the wrapper."""
RUNS_TABLE = "harness_runs"
"""One row per run of the job, written by the harness just before it invokes: an attempt belongs to the latest
run started before its request's first attempt (runs never overlap)."""


def wrapper_source() -> bytes:
    return (Path(__file__).with_name("lambda_wrapper.py")).read_bytes()


def wrapper_files() -> dict[str, bytes]:
    """The wrapper and the fault plan module, as the runtime process imports them (file name: content)."""
    return {
        f"{WRAPPER_MODULE}.py": wrapper_source(),
        f"{PLAN_MODULE}.py": Path(_plan.__file__).read_bytes(),
    }


def registration(plan: list[dict[str, Any]], ledger_url: str, schema: str) -> dict[str, Any]:
    """What the harness registers with the executor for one function (`harness.wire.Registration`)."""
    return {"faults": plan, "ledger_url": ledger_url, "ledger_table": f"{schema}.{LEDGER_TABLE}"}


def wrapper_environment(plan: list[dict[str, Any]], original_handler: str, ledger_url: str,
                        ledger_table: str) -> dict[str, str]:
    """The variables the wrapper reads, set by the executor in the runtime process only."""
    return {
        "HARNESS_FAULTS": json.dumps(plan),
        ORIGINAL_HANDLER_VAR: original_handler,
        "HARNESS_LEDGER_URL": ledger_url,
        "HARNESS_LEDGER_TABLE": ledger_table,
    }
