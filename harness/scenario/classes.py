"""Which failure class a fault stands for, and whether it fails its invocation at the Lambda level.

One place for the seed design's line between failure classes, read by the validator, the walk of the
pipeline (floors and deadlines), the simulator and the documentation table:

- `platform`: the runtime or Lambda itself fails the attempt (timeout, out of memory, crash, a failure
  after the handler returned): every function retries it and dead-letters what still fails;
- `logical`, `programmatic`, `transient`: errors the function's own code sees. The worker handles them by
  its error policy (lambdas/common/pipeline_common/failures.py): `report` publishes one JOB FAILED and ends
  the invocation normally, `raise` fails it so Lambda retries. The orchestrator and the error handler
  have no such policy: their errors fail the invocation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from .catalog import DEAD_LETTERED_FUNCTION

if TYPE_CHECKING:
    from .faults import Fault
    from .model import Scenario

FailureClass = Literal["platform", "logical", "programmatic", "transient"]

# Exception types the worker takes for transient (Python's connection and timeout errors, as a network
# client raises them); every other exception from its own code is programmatic.
TRANSIENT_EXCEPTIONS = frozenset({
    "ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "ConnectionAbortedError",
    "BrokenPipeError", "TimeoutError",
})

_PLATFORM_KINDS = frozenset(
    {"timeout", "out_of_memory", "crash", "fail_after_commit", "import_error", "missing_handler"}
)
_LOGICAL_KINDS = frozenset({"bad_table", "bad_field"})


def failure_class(fault: Fault) -> FailureClass:
    if fault.kind in _PLATFORM_KINDS:
        return "platform"
    if fault.kind in _LOGICAL_KINDS:
        return "logical"
    if fault.kind == "db_unreachable":
        return "transient"
    if fault.kind == "exception" and fault.exception.type in TRANSIENT_EXCEPTIONS:  # type: ignore[union-attr]
        return "transient"
    return "programmatic"  # exception, bad_input


def fails_invocation(scenario: Scenario, fault: Fault) -> bool:
    """Whether an attempt that gets this fault fails at the Lambda level (so it is retried and, at the
    last attempt, dead-lettered) rather than being reported by the function and ending normally."""
    kind = failure_class(fault)
    if kind == "platform" or fault.function != DEAD_LETTERED_FUNCTION:
        return True
    return scenario.stack.worker.on_error.action(kind) == "raise"


def reported_by_worker(scenario: Scenario, fault: Fault) -> bool:
    """Whether the worker publishes JOB FAILED for an attempt that gets this fault (its `report` action)."""
    return fault.function == DEAD_LETTERED_FUNCTION and not fails_invocation(scenario, fault)
