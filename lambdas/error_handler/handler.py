"""Error handler: subscribed to the dead-letter topic, decides what happens to a failed shard.

Each SNS record carries the worker's original event as its message and the error in the `ErrorMessage`
attribute. A timeout is re-sharded into smaller child shards that are invoked again; a single file (or
a shard at MAX_RESHARD_DEPTH) that still times out is quarantined and reported, never retried; any other
error is reported for a person. Every decision is a row in the decisions table, keyed by the SNS message
ID: a redelivered message finds its decision already taken and does nothing twice. The decision row, the
quarantine rows and the actions share one transaction, so a failed action leaves no decision behind and
Lambda's retry decides again.

Quarantine tells the truth about loaded files. The worker commits file by file, so files of the shard
that came before the one that timed out may already be loaded. Before quarantining, the handler reads the
worker's files table (FILES_TABLE, FILES_ID_COLUMN; same schema) in the decision's transaction:

- only the files without a row there are quarantined; the `JOB FAILED` report (reason `quarantined`)
  lists them in `file_ids` and the already-loaded ones, in shard order, in `loaded_file_ids`, and its
  `detail` ends with e.g. `; 1 of 4 files already loaded: f-0004`;
- if every file is loaded (the timeout struck after the last commit), nothing is quarantined: the decision
  is a `report` with reason `needs_attention` and detail `timed out after every file was loaded (...)`,
  and the report carries the shard's files in `file_ids` and `loaded_file_ids`.

The decisions row's `file_ids` is always the dead-lettered shard's files. The handler's returned outcome
has `file_ids` (the shard's), and on a quarantine check also `loaded_file_ids` and `quarantined_file_ids`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pipeline_common import aws, database, messages, notify
from pipeline_common.config import ErrorHandlerConfig, load_error_handler_config
from pipeline_common.errors import InvalidEvent, WorkerInvokeError
from pipeline_common.events import Shard, parse_shard
from pipeline_common.logs import get_logger
from pipeline_common.reshard import (
    QUARANTINE,
    RESHARD,
    Decision,
    account_for_loaded,
    decide,
    is_timeout,
)

aws.prepare("sns", "lambda")

logger = get_logger("error_handler")


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    body: str
    error_message: str | None
    error_code: str | None
    request_id: str | None


def handler(event: Any, context: Any) -> dict[str, Any]:
    config = load_error_handler_config()
    letters = parse_dead_letters(event)
    request_id = getattr(context, "aws_request_id", None)
    return {"decisions": [handle_dead_letter(letter, config, request_id) for letter in letters]}


def parse_dead_letters(event: Any) -> list[DeadLetter]:
    if not isinstance(event, dict) or not isinstance(event.get("Records"), list) or not event["Records"]:
        raise InvalidEvent("Records", "must be a non-empty list of SNS records")
    letters = []
    for index, record in enumerate(event["Records"]):
        sns = record.get("Sns") if isinstance(record, dict) else None
        if not isinstance(sns, dict) or not isinstance(sns.get("Message"), str):
            raise InvalidEvent(f"Records[{index}].Sns.Message", "is missing or not a string")
        if not sns.get("MessageId"):
            raise InvalidEvent(f"Records[{index}].Sns.MessageId", "is missing")
        attributes = sns.get("MessageAttributes") or {}
        letters.append(
            DeadLetter(
                message_id=str(sns["MessageId"]),
                body=sns["Message"],
                error_message=_attribute(attributes, "ErrorMessage"),
                error_code=_attribute(attributes, "ErrorCode"),
                request_id=_attribute(attributes, "RequestID"),
            )
        )
    return letters


def _attribute(attributes: dict[str, Any], name: str) -> str | None:
    value = attributes.get(name)
    if isinstance(value, dict):
        # SNS delivers {"Type", "Value"}; the SQS shape {"DataType", "StringValue"} is accepted as well.
        value = value.get("Value", value.get("StringValue"))
    return None if value is None else str(value)


def original_shard(letter: DeadLetter) -> tuple[Shard | None, dict[str, Any], str | None]:
    """The dead-lettered shard, the raw event (for reports) and why it is not a valid shard, if so."""
    try:
        raw = json.loads(letter.body)
    except ValueError as exc:
        return None, {}, f"the message is not JSON: {exc}"
    try:
        return parse_shard(raw), raw, None
    except InvalidEvent as exc:
        return None, raw if isinstance(raw, dict) else {}, str(exc)


def handle_dead_letter(letter: DeadLetter, config: ErrorHandlerConfig, request_id: str | None) -> dict[str, Any]:
    shard, raw, invalid = original_shard(letter)
    decision = decide(shard, letter.error_message, factor=config.reshard_factor, max_depth=config.max_reshard_depth)
    connection = database.connect(config.database_url)
    with database.transaction(connection, config.database_url):
        checked: dict[str, list[str]] = {}
        if decision.action == QUARANTINE and shard is not None:
            loaded = _loaded_files(connection, config, shard.file_ids)
            decision = account_for_loaded(decision, shard.file_ids, loaded)
            quarantined = [file_id for file_id in shard.file_ids if file_id not in loaded]
            checked = {
                "loaded_file_ids": loaded,
                "quarantined_file_ids": quarantined if decision.action == QUARANTINE else [],
            }
        outcome = {**_outcome(letter, decision, shard, raw, invalid, request_id), **checked}
        decision_id = _record_decision(connection, config, outcome)
        if decision_id is None:
            logger.info("message %s was already decided; nothing to do", letter.message_id)
            return {**outcome, "action": "duplicate"}
        outcome["decision_id"] = decision_id
        _act(connection, config, decision, outcome, raw if invalid else None)
    logger.info("decision %s", json.dumps(outcome, default=str))
    return outcome


def _outcome(
    letter: DeadLetter,
    decision: Decision,
    shard: Shard | None,
    raw: dict[str, Any],
    invalid: str | None,
    request_id: str | None,
) -> dict[str, Any]:
    detail = decision.detail if invalid is None else f"{decision.detail}: {invalid}"
    return {
        "message_id": letter.message_id,
        "action": decision.action,
        "reason": decision.reason,
        "detail": detail,
        "job_id": shard.job_id if shard else raw.get("job_id"),
        "shard_id": shard.shard_id if shard else raw.get("shard_id"),
        "reshard_depth": shard.reshard_depth if shard else None,
        "file_ids": list(shard.file_ids) if shard else raw.get("file_ids"),
        "child_shards": [{"shard_id": c.shard_id, "file_ids": list(c.file_ids)} for c in decision.children],
        "error_message": letter.error_message,
        "error_code": letter.error_code,
        "dlq_request_id": letter.request_id,
        "handler_request_id": request_id,
    }


def _loaded_files(connection: Any, config: ErrorHandlerConfig, file_ids: tuple[str, ...]) -> list[str]:
    """The files of `file_ids` that have a row in the worker's files table, in shard order."""
    files = database.qualified(config.schema, config.files_table)
    column = database.ident(config.files_id_column)
    rows = connection.run(
        f"SELECT {column} FROM {files} WHERE {column} = ANY(CAST(:file_ids AS text[]))",
        file_ids=list(file_ids),
    )
    present = {str(row[0]) for row in rows}
    return [file_id for file_id in file_ids if file_id in present]


def _record_decision(connection: Any, config: ErrorHandlerConfig, outcome: dict[str, Any]) -> int | None:
    table = database.qualified(config.schema, config.decisions_table)
    rows = connection.run(
        f"INSERT INTO {table} (message_id, job_id, shard_id, reshard_depth, action, reason, detail, "
        "file_ids, child_shards, error_message, error_code, dlq_request_id, handler_request_id) "
        "VALUES (:message_id, :job_id, :shard_id, :reshard_depth, :action, :reason, :detail, "
        "CAST(:file_ids AS jsonb), CAST(:child_shards AS jsonb), :error_message, :error_code, "
        ":dlq_request_id, :handler_request_id) "
        "ON CONFLICT (message_id) DO NOTHING RETURNING id",
        message_id=outcome["message_id"],
        job_id=_text_or_none(outcome["job_id"]),
        shard_id=_text_or_none(outcome["shard_id"]),
        reshard_depth=outcome["reshard_depth"],
        action=outcome["action"],
        reason=outcome["reason"],
        detail=outcome["detail"],
        file_ids=json.dumps(outcome["file_ids"]),
        child_shards=json.dumps(outcome["child_shards"]),
        error_message=outcome["error_message"],
        error_code=outcome["error_code"],
        dlq_request_id=outcome["dlq_request_id"],
        handler_request_id=outcome["handler_request_id"],
    )
    return int(rows[0][0]) if rows else None


def _act(
    connection: Any,
    config: ErrorHandlerConfig,
    decision: Decision,
    outcome: dict[str, Any],
    invalid_event: dict[str, Any] | None,
) -> None:
    if decision.action == RESHARD:
        _invoke_children(config, decision.children)
        return
    if decision.action == QUARANTINE:
        _quarantine(connection, config, outcome)
    report = {
        key: outcome[key]
        for key in ("reason", "detail", "job_id", "shard_id", "reshard_depth", "file_ids", "error_message")
    }
    if "loaded_file_ids" in outcome:
        # A quarantine report lists only what was quarantined; the files already loaded are named apart.
        if decision.action == QUARANTINE:
            report["file_ids"] = outcome["quarantined_file_ids"]
        report["loaded_file_ids"] = outcome["loaded_file_ids"]
    report.update(
        error_type="Timeout" if is_timeout(outcome["error_message"]) else "FunctionError",
        error_code=outcome["error_code"],
        decision_id=outcome["decision_id"],
        dlq_request_id=outcome["dlq_request_id"],
        request_id=outcome["handler_request_id"],
    )
    if invalid_event is not None:
        report["original_event"] = invalid_event
    notify.publish(config.notifications_topic_arn, messages.JOB_FAILED,
                   messages.message(messages.DEAD_LETTER_REPORT, **report))


def _invoke_children(config: ErrorHandlerConfig, children: tuple[Shard, ...]) -> None:
    lambda_client = aws.client("lambda")
    failures: list[tuple[str, str]] = []
    for child in children:
        response = lambda_client.invoke(
            FunctionName=config.worker_function,
            InvocationType="Event",
            Payload=json.dumps(child.to_event()).encode("utf-8"),
        )
        if response.get("StatusCode") != 202:
            failures.append((child.shard_id, f"status {response.get('StatusCode')}, expected 202"))
    if failures:
        raise WorkerInvokeError(config.worker_function, failures)


def _quarantine(connection: Any, config: ErrorHandlerConfig, outcome: dict[str, Any]) -> None:
    table = database.qualified(config.schema, config.quarantine_table)
    for file_id in outcome["quarantined_file_ids"]:
        connection.run(
            f"INSERT INTO {table} (job_id, file_id, shard_id, reshard_depth, error_message, decision_id) "
            "VALUES (:job_id, :file_id, :shard_id, :reshard_depth, :error_message, :decision_id) "
            "ON CONFLICT DO NOTHING",
            job_id=outcome["job_id"],
            file_id=file_id,
            shard_id=outcome["shard_id"],
            reshard_depth=outcome["reshard_depth"],
            error_message=outcome["error_message"],
            decision_id=outcome["decision_id"],
        )


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
