"""Whether a fault fails its invocation at the Lambda level, by its failure class (`faults.KINDS`).

One place for the seed design's line between failure classes, read by the validator, the walk of the
pipeline (floors and deadlines), the simulator and the documentation table:

- `platform`: the runtime or Lambda itself fails the attempt (timeout, out of memory, crash, a failure
  after the handler returned): every function retries it and dead-letters what still fails;
- `logical`, `programmatic`, `transient`: errors the function's own code sees. The worker handles them by
  its error policy (lambdas/common/pipeline_common/failures.py): `report` publishes one JOB FAILED and ends
  the invocation normally, `raise` fails it so Lambda retries. The orchestrator and the error handler
  have no such policy, and neither has a function of your own template: their errors fail the invocation.
"""

from __future__ import annotations

from typing import Any

from .catalog import DEAD_LETTERED_FUNCTION
from .faults import FaultBase, failure_class

__all__ = ["fails_invocation", "failure_class", "reported_by_worker"]


def fails_invocation(scenario: Any, fault: FaultBase) -> bool:
    """Whether an attempt that gets this fault fails at the Lambda level (so it is retried and, at the
    last attempt, dead-lettered) rather than being reported by the function and ending normally. A delay
    (latency) fails an attempt only when it outlasts the function's Timeout (then it is a timeout)."""
    if fault.row.lasts == "delay":
        return bool(fault.seconds >= scenario.timeout_of(fault.function))  # type: ignore[attr-defined]
    kind = failure_class(fault)
    if kind == "platform" or fault.function != DEAD_LETTERED_FUNCTION or not scenario.is_pipeline:
        return True
    return bool(scenario.stack.worker.on_error.action(kind) == "raise")


def times_out(scenario: Any, fault: FaultBase) -> bool:
    """Whether an attempt that gets this fault ends at the function's Timeout ("Task timed out after"): a
    timeout, or a delay that outlasts the Timeout."""
    return fault.row.lasts == "timeout" or (fault.row.lasts == "delay" and fails_invocation(scenario, fault))


def reported_by_worker(scenario: Any, fault: FaultBase) -> bool:
    """Whether the worker publishes JOB FAILED for an attempt that gets this fault (its `report` action)."""
    return fault.function == DEAD_LETTERED_FUNCTION and scenario.is_pipeline and fault.row.lasts != "delay" \
        and not fails_invocation(scenario, fault)
