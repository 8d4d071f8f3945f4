"""Function configuration, read from environment variables only.

Every name the SQL uses (schema, tables, columns) comes from here, so that a fault can misconfigure one
of them the way an operator could, and the database reports it in its own words.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import ConfigError

# Column names have defaults because the tables are created with them; the stack may still override.
WORKER_COLUMN_DEFAULTS: dict[str, str] = {
    "FILES_ID_COLUMN": "file_id",
    "FILES_JOB_COLUMN": "job_id",
    "FILES_SHARD_COLUMN": "shard_id",
    "FILES_ROW_COUNT_COLUMN": "row_count",
    "ROWS_FILE_COLUMN": "file_id",
    "ROWS_NUMBER_COLUMN": "row_no",
    "ROWS_VALUE_COLUMN": "value",
}

ORCHESTRATOR_REQUIRED = ("WORKER_FUNCTION",)
ORCHESTRATOR_OPTIONAL: dict[str, str] = {"MAX_SHARD_SIZE": "100", "INVOKE_CONCURRENCY": "8"}

WORKER_REQUIRED = ("DATABASE_URL", "DB_SCHEMA", "FILES_TABLE", "ROWS_TABLE", "NOTIFICATIONS_TOPIC_ARN")
# The worker's error policy per failure class (pipeline_common.failures): report or raise.
WORKER_POLICY_DEFAULTS: dict[str, str] = {
    "ON_ERROR_LOGICAL": "report",
    "ON_ERROR_PROGRAMMATIC": "report",
    "ON_ERROR_TRANSIENT": "raise",
}
WORKER_OPTIONAL: dict[str, str] = {**WORKER_COLUMN_DEFAULTS, **WORKER_POLICY_DEFAULTS}

ERROR_HANDLER_REQUIRED = (
    "DATABASE_URL",
    "DB_SCHEMA",
    "DECISIONS_TABLE",
    "QUARANTINE_TABLE",
    "WORKER_FUNCTION",
    "NOTIFICATIONS_TOPIC_ARN",
)
# The error handler reads the worker's files table (same names as the worker's variables) to tell which
# files of a timed-out shard were already loaded before it quarantines the rest.
ERROR_HANDLER_OPTIONAL: dict[str, str] = {
    "RESHARD_FACTOR": "2",
    "MAX_RESHARD_DEPTH": "10",
    "FILES_TABLE": "files",
    "FILES_ID_COLUMN": WORKER_COLUMN_DEFAULTS["FILES_ID_COLUMN"],
}


def require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if value is None:
        raise ConfigError(name, "is not set")
    value = value.strip()
    if not value:
        raise ConfigError(name, "is empty")
    return value


def optional(env: Mapping[str, str], name: str, defaults: Mapping[str, str]) -> str:
    value = env.get(name)
    if value is None:
        return defaults[name]
    value = value.strip()
    if not value:
        raise ConfigError(name, f"is empty (unset it to use the default {defaults[name]!r})")
    return value


def integer(env: Mapping[str, str], name: str, defaults: Mapping[str, str], minimum: int) -> int:
    raw = optional(env, name, defaults)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(name, f"must be >= {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class OrchestratorConfig:
    worker_function: str
    max_shard_size: int
    invoke_concurrency: int


@dataclass(frozen=True)
class WorkerConfig:
    database_url: str
    schema: str
    files_table: str
    rows_table: str
    notifications_topic_arn: str
    files_id_column: str
    files_job_column: str
    files_shard_column: str
    files_row_count_column: str
    rows_file_column: str
    rows_number_column: str
    rows_value_column: str


@dataclass(frozen=True)
class ErrorHandlerConfig:
    database_url: str
    schema: str
    decisions_table: str
    quarantine_table: str
    worker_function: str
    notifications_topic_arn: str
    reshard_factor: int
    max_reshard_depth: int
    files_table: str
    files_id_column: str


def load_orchestrator_config(env: Mapping[str, str] | None = None) -> OrchestratorConfig:
    env = os.environ if env is None else env
    return OrchestratorConfig(
        worker_function=require(env, "WORKER_FUNCTION"),
        max_shard_size=integer(env, "MAX_SHARD_SIZE", ORCHESTRATOR_OPTIONAL, minimum=1),
        invoke_concurrency=integer(env, "INVOKE_CONCURRENCY", ORCHESTRATOR_OPTIONAL, minimum=1),
    )


def load_worker_config(env: Mapping[str, str] | None = None) -> WorkerConfig:
    env = os.environ if env is None else env

    def column(name: str) -> str:
        return optional(env, name, WORKER_OPTIONAL)

    return WorkerConfig(
        database_url=require(env, "DATABASE_URL"),
        schema=require(env, "DB_SCHEMA"),
        files_table=require(env, "FILES_TABLE"),
        rows_table=require(env, "ROWS_TABLE"),
        notifications_topic_arn=require(env, "NOTIFICATIONS_TOPIC_ARN"),
        files_id_column=column("FILES_ID_COLUMN"),
        files_job_column=column("FILES_JOB_COLUMN"),
        files_shard_column=column("FILES_SHARD_COLUMN"),
        files_row_count_column=column("FILES_ROW_COUNT_COLUMN"),
        rows_file_column=column("ROWS_FILE_COLUMN"),
        rows_number_column=column("ROWS_NUMBER_COLUMN"),
        rows_value_column=column("ROWS_VALUE_COLUMN"),
    )


def load_error_handler_config(env: Mapping[str, str] | None = None) -> ErrorHandlerConfig:
    env = os.environ if env is None else env
    return ErrorHandlerConfig(
        database_url=require(env, "DATABASE_URL"),
        schema=require(env, "DB_SCHEMA"),
        decisions_table=require(env, "DECISIONS_TABLE"),
        quarantine_table=require(env, "QUARANTINE_TABLE"),
        worker_function=require(env, "WORKER_FUNCTION"),
        notifications_topic_arn=require(env, "NOTIFICATIONS_TOPIC_ARN"),
        reshard_factor=integer(env, "RESHARD_FACTOR", ERROR_HANDLER_OPTIONAL, minimum=2),
        max_reshard_depth=integer(env, "MAX_RESHARD_DEPTH", ERROR_HANDLER_OPTIONAL, minimum=0),
        files_table=optional(env, "FILES_TABLE", ERROR_HANDLER_OPTIONAL),
        files_id_column=optional(env, "FILES_ID_COLUMN", ERROR_HANDLER_OPTIONAL),
    )
