"""The pipeline's vocabulary: the subjects it publishes to its notifications topic, the fields of each kind
of message, and the fields of the orchestrator's answer.

One source for both sides. The functions build every message and answer with `message()`, which refuses a
field its kind does not name, and the harness reads these tuples to refuse, before anything is deployed, a
scenario that expects a subject or a field that no message has (`harness.format.catalog`). Standard library
only: the harness imports it.
"""

from __future__ import annotations

from typing import Any

JOB_SUCCEEDED = "JOB SUCCEEDED"
JOB_FAILED = "JOB FAILED"
SUBJECTS: tuple[str, ...] = (JOB_SUCCEEDED, JOB_FAILED)
"""Every subject published to the notifications topic."""

STATUS = "status"
"""Every published message's first field: its subject (`notify.publish` adds it)."""

FILE_LOADED: tuple[str, ...] = ("file_id", "rows", "rows_inserted", "file_inserted")
"""One item of JOB SUCCEEDED's `file_stats`: what loading one file did."""

SHARD_LOADED: tuple[str, ...] = (
    "job_id", "shard_id", "reshard_depth", "file_ids",
    "files", "files_inserted", "files_already_present", "rows", "rows_inserted", "rows_already_present", "file_stats",
    "duration_ms", "request_id", "function_name",
)
"""The worker's JOB SUCCEEDED: the shard, what loading its files did (totals, then per file), the invocation."""

SHARD_FAILED: tuple[str, ...] = (
    "reason", "failure_class", "job_id", "shard_id", "reshard_depth", "file_ids",
    "error_type", "error_message", "error_code", "duration_ms", "request_id", "function_name",
)
"""The worker's JOB FAILED, when its error policy says `report`: the error, its class and the shard."""

DEAD_LETTER_REPORT: tuple[str, ...] = (
    "reason", "detail", "job_id", "shard_id", "reshard_depth", "file_ids", "error_message", "loaded_file_ids",
    "error_type", "error_code", "decision_id", "dlq_request_id", "request_id", "original_event",
)
"""The error handler's JOB FAILED on a dead letter it does not re-shard (quarantined or needing attention)."""

JOB_SHARDED: tuple[str, ...] = (
    "job_id", "files", "shard_size", "shard_count", "shard_sizes", "shard_ids", "worker_function", "request_id",
)
"""The orchestrator's answer to the invoke of a job: how it was sharded (returned, not published)."""


def _union(*kinds: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for kind in kinds for name in kind))


FIELDS: dict[str, tuple[str, ...]] = {
    JOB_SUCCEEDED: (STATUS, *SHARD_LOADED),
    JOB_FAILED: _union((STATUS,), SHARD_FAILED, DEAD_LETTER_REPORT),
}
"""The top-level fields a message of each subject can have."""


def message(kind: tuple[str, ...], /, **values: Any) -> dict[str, Any]:
    """A message of `kind` (one of the tuples above) holding `values`, in the kind's order.

    A name the kind does not list is a programming error, raised as such: what the functions publish cannot
    drift from the vocabulary the harness checks scenarios against.
    """
    unknown = [name for name in values if name not in kind]
    if unknown:
        raise ValueError(f"not a field of this message: {', '.join(unknown)}; name it in pipeline_common.messages")
    return {name: values[name] for name in kind if name in values}
