"""Worker: loads one shard's files into PostgreSQL, then reports `JOB SUCCEEDED` or `JOB FAILED`.

Each file is loaded in its own transaction with `INSERT ... ON CONFLICT DO NOTHING` into tables with
UNIQUE keys, so a retry, a re-shard or a re-run of the same job never duplicates a row; the counts of
rows inserted and already present say what happened.

On an error the worker follows its error policy (pipeline_common.failures): logical and programmatic
errors are reported as one `JOB FAILED` and the invocation ends normally (no retry can fix them);
transient errors are raised, without a report, so that Lambda retries them, dead-letters what still
fails, and the error handler decides. ON_ERROR_LOGICAL / ON_ERROR_PROGRAMMATIC / ON_ERROR_TRANSIENT
(`report` or `raise`) change the action per class.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any

from pipeline_common import aws, database, failures, messages, notify
from pipeline_common.config import WorkerConfig, load_worker_config
from pipeline_common.content import rows_for_file
from pipeline_common.events import Shard, parse_shard
from pipeline_common.logs import get_logger

aws.prepare("sns")

if TYPE_CHECKING:
    import pg8000.native

logger = get_logger("worker")


def handler(event: Any, context: Any) -> dict[str, Any]:
    started = time.monotonic()
    request_id = getattr(context, "aws_request_id", None)
    # Read before anything can fail: a broken policy is a deployment error, raised as such.
    policy = failures.load_policy(os.environ)
    try:
        shard = parse_shard(event)
        config = load_worker_config()
        stats = load_shard(shard, config)
        summary = messages.message(
            messages.SHARD_LOADED,
            job_id=shard.job_id,
            shard_id=shard.shard_id,
            reshard_depth=shard.reshard_depth,
            file_ids=list(shard.file_ids),
            **stats,
            duration_ms=_elapsed_ms(started),
            request_id=request_id,
            function_name=getattr(context, "function_name", None),
        )
        notify.publish(config.notifications_topic_arn, messages.JOB_SUCCEEDED, summary)
    except Exception as exc:
        failure_class = failures.classify(exc)
        if policy[failure_class] == failures.RAISE:
            logger.error("%s error, raised for Lambda to retry: %s: %s", failure_class, type(exc).__name__, exc)
            raise
        return _report_failure(event, exc, context, started, failure_class)
    logger.info("JOB SUCCEEDED %s", json.dumps(summary, default=str))
    return summary


def load_shard(shard: Shard, config: WorkerConfig) -> dict[str, Any]:
    """Load every file of `shard`; returns the statistics of `JOB SUCCEEDED`."""
    connection = database.connect(config.database_url)
    insert_file, insert_rows = _statements(config)
    per_file: list[dict[str, Any]] = []
    for file_id in shard.file_ids:
        per_file.append(_load_file(connection, config, shard, file_id, insert_file, insert_rows))
    rows = sum(item["rows"] for item in per_file)
    rows_inserted = sum(item["rows_inserted"] for item in per_file)
    files_inserted = sum(1 for item in per_file if item["file_inserted"])
    return {
        "files": len(per_file),
        "files_inserted": files_inserted,
        "files_already_present": len(per_file) - files_inserted,
        "rows": rows,
        "rows_inserted": rows_inserted,
        "rows_already_present": rows - rows_inserted,
        "file_stats": per_file,
    }


def _load_file(
    connection: pg8000.native.Connection,
    config: WorkerConfig,
    shard: Shard,
    file_id: str,
    insert_file: str,
    insert_rows: str,
) -> dict[str, Any]:
    rows = rows_for_file(file_id)
    with database.transaction(connection, config.database_url):
        connection.run(insert_file, file_id=file_id, job_id=shard.job_id, shard_id=shard.shard_id, row_count=len(rows))
        file_inserted = connection.row_count == 1
        connection.run(
            insert_rows,
            file_id=file_id,
            row_nos=[row.row_no for row in rows],
            row_values=[row.value for row in rows],
        )
        rows_inserted = max(connection.row_count or 0, 0)
    return messages.message(
        messages.FILE_LOADED,
        file_id=file_id,
        rows=len(rows),
        rows_inserted=rows_inserted,
        file_inserted=file_inserted,
    )


def _statements(config: WorkerConfig) -> tuple[str, str]:
    ident = database.ident
    files = database.qualified(config.schema, config.files_table)
    rows = database.qualified(config.schema, config.rows_table)
    # No conflict target: whichever UNIQUE key the table has decides what "already present" means.
    insert_file = (
        f"INSERT INTO {files} ({ident(config.files_id_column)}, {ident(config.files_job_column)}, "
        f"{ident(config.files_shard_column)}, {ident(config.files_row_count_column)}) "
        "VALUES (:file_id, :job_id, :shard_id, :row_count) ON CONFLICT DO NOTHING"
    )
    insert_rows = (
        f"INSERT INTO {rows} ({ident(config.rows_file_column)}, {ident(config.rows_number_column)}, "
        f"{ident(config.rows_value_column)}) "
        "SELECT CAST(:file_id AS text), r.row_no, r.row_value "
        "FROM unnest(CAST(:row_nos AS integer[]), CAST(:row_values AS bigint[])) AS r(row_no, row_value) "
        "ON CONFLICT DO NOTHING"
    )
    return insert_file, insert_rows


def _report_failure(event: Any, exc: Exception, context: Any, started: float, failure_class: str) -> dict[str, Any]:
    """One JOB FAILED for a person; the invocation then ends without a Lambda-level failure.

    If the report cannot be published, the original error is raised instead: an error nobody hears of
    must not pass for a handled one, so Lambda's retries and dead letter take over.
    """
    topic_arn = os.environ.get("NOTIFICATIONS_TOPIC_ARN", "").strip()
    raw = event if isinstance(event, dict) else {}
    body = messages.message(
        messages.SHARD_FAILED,
        reason="error",
        failure_class=failure_class,
        job_id=raw.get("job_id"),
        shard_id=raw.get("shard_id"),
        reshard_depth=raw.get("reshard_depth", 0),
        file_ids=raw.get("file_ids"),
        error_type=type(exc).__name__,
        error_message=database.error_text(exc),
        error_code=database.error_code(exc),
        duration_ms=_elapsed_ms(started),
        request_id=getattr(context, "aws_request_id", None),
        function_name=getattr(context, "function_name", None),
    )
    logger.error("JOB FAILED %s", json.dumps(body, default=str))
    if not topic_arn:
        logger.error("cannot publish JOB FAILED: NOTIFICATIONS_TOPIC_ARN is not set")
        raise exc
    try:
        notify.publish(topic_arn, messages.JOB_FAILED, body)
    except Exception:
        logger.exception("publishing JOB FAILED failed; raising the original error instead")
        raise exc from None
    return {messages.STATUS: messages.JOB_FAILED, **body}


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
