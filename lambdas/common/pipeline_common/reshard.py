"""What the error handler does with a dead-lettered shard: re-shard, quarantine, or report.

Pure decisions, so they can be tested without AWS or a database. Termination is guaranteed: every
re-shard makes strictly smaller shards, a single file is never split, and MAX_RESHARD_DEPTH caps depth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .events import Shard
from .sharding import child_shards

TIMEOUT_MARKER = "Task timed out after"

RESHARD = "reshard"
QUARANTINE = "quarantine"
REPORT = "report"

REASON_TIMEOUT = "timeout"
REASON_QUARANTINED = "quarantined"
REASON_NEEDS_ATTENTION = "needs_attention"


@dataclass(frozen=True)
class Decision:
    action: str  # RESHARD, QUARANTINE or REPORT
    reason: str
    detail: str
    children: tuple[Shard, ...] = field(default=())


def is_timeout(error_message: str | None) -> bool:
    return bool(error_message) and TIMEOUT_MARKER in str(error_message)


def decide(shard: Shard | None, error_message: str | None, *, factor: int, max_depth: int) -> Decision:
    """`shard` is None when the dead-lettered event was not a valid shard event."""
    if shard is None:
        return Decision(REPORT, REASON_NEEDS_ATTENTION, "the dead-lettered event is not a valid shard event")
    if not is_timeout(error_message):
        return Decision(REPORT, REASON_NEEDS_ATTENTION, "the worker failed with an error that is not a timeout")
    if len(shard.file_ids) == 1:
        return Decision(QUARANTINE, REASON_QUARANTINED, "a single file still times out")
    if shard.reshard_depth >= max_depth:
        return Decision(
            QUARANTINE,
            REASON_QUARANTINED,
            f"still times out at reshard depth {shard.reshard_depth} (MAX_RESHARD_DEPTH={max_depth})",
        )
    children = tuple(child_shards(shard, factor))
    sizes = "+".join(str(len(child.file_ids)) for child in children)
    return Decision(RESHARD, REASON_TIMEOUT, f"timed out; split {len(shard.file_ids)} files into {sizes}", children)


def account_for_loaded(decision: Decision, file_ids: tuple[str, ...], loaded: list[str]) -> Decision:
    """A QUARANTINE decision corrected for the files the worker had already loaded before it timed out."""
    if not loaded:
        return decision
    if len(loaded) == len(file_ids):
        count = len(file_ids)
        return Decision(
            REPORT,
            REASON_NEEDS_ATTENTION,
            f"timed out after every file was loaded ({count} of {count}); nothing quarantined",
        )
    detail = f"{decision.detail}; {len(loaded)} of {len(file_ids)} files already loaded: {', '.join(loaded)}"
    return Decision(decision.action, decision.reason, detail, decision.children)
