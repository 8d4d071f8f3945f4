"""The pipeline's PostgreSQL: schema creation and teardown, and what the harness reads back from it.

The server is `EmbeddedPostgres` (default) or `ExternalPostgres` (`DATABASE_URL`), from
`harness.stack.db_server`; `start_database()` picks one.

The harness side uses psycopg, not the functions' pg8000: libpq itself parses `DATABASE_URL`, so any URL
a person passes works exactly as with psql, and `sql.Identifier` quotes names for the DDL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql

from harness.records import DecisionRecord, QuarantineRecord
from harness.stack.db_server import DatabaseStartError, EmbeddedPostgres, ExternalPostgres, start_database

__all__ = [
    "DatabaseStartError",
    "EmbeddedPostgres",
    "ExternalPostgres",
    "PipelineDatabase",
    "PipelineNames",
    "create_schema",
    "drop_schema",
    "start_database",
]


@dataclass(frozen=True)
class PipelineNames:
    """Table and column names; `as_env()` gives the functions' environment variables for them.

    A "bad name" fault changes a function's variable (say `ROWS_TABLE`) but not these, so the tables
    keep their real names and the function meets PostgreSQL's own error.
    """

    files_table: str = "files"
    rows_table: str = "rows"
    decisions_table: str = "decisions"
    quarantine_table: str = "quarantine"
    files_id_column: str = "file_id"
    files_job_column: str = "job_id"
    files_shard_column: str = "shard_id"
    files_row_count_column: str = "row_count"
    rows_file_column: str = "file_id"
    rows_number_column: str = "row_no"
    rows_value_column: str = "value"

    def as_env(self) -> dict[str, str]:
        return {name.upper(): value for name, value in asdict(self).items()}


_DDL = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.{files_table} (
    {files_id_column} text PRIMARY KEY,
    {files_job_column} text NOT NULL,
    {files_shard_column} text NOT NULL,
    {files_row_count_column} integer NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS {schema}.{rows_table} (
    {rows_file_column} text NOT NULL,
    {rows_number_column} integer NOT NULL,
    {rows_value_column} bigint NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE ({rows_file_column}, {rows_number_column})
);
CREATE TABLE IF NOT EXISTS {schema}.{decisions_table} (
    id bigserial PRIMARY KEY,
    message_id text NOT NULL UNIQUE,
    job_id text,
    shard_id text,
    reshard_depth integer,
    action text NOT NULL,
    reason text NOT NULL,
    detail text,
    file_ids jsonb,
    child_shards jsonb NOT NULL DEFAULT '[]',
    error_message text,
    error_code text,
    dlq_request_id text,
    handler_request_id text,
    decided_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS {schema}.{quarantine_table} (
    job_id text NOT NULL,
    file_id text NOT NULL,
    shard_id text,
    reshard_depth integer,
    error_message text,
    decision_id bigint,
    quarantined_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (job_id, file_id)
);
"""


def create_schema(url: str, schema: str, names: PipelineNames | None = None) -> None:
    """Create the schema and its four tables; idempotent."""
    names = names or PipelineNames()
    identifiers = {key: sql.Identifier(value) for key, value in asdict(names).items()}
    statement = sql.SQL(_DDL).format(schema=sql.Identifier(schema), **identifiers)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(statement)


def drop_schema(url: str, schema: str) -> None:
    """Drop the schema with everything in it; a missing schema is not an error."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


class PipelineDatabase:
    """One stack's schema: created and dropped with the stack, and read back for its observations."""

    def __init__(self, url: str, schema: str, names: PipelineNames | None = None):
        self.url = url
        self.schema = schema
        self.names = names or PipelineNames()
        # One connection for the stack's many reads (the settling rules read the ledger several times a
        # second): a connection per read cost the harness a third of its database time and PostgreSQL a
        # backend process each. Reads from several threads take turns.
        self._connection: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def create(self) -> None:
        create_schema(self.url, self.schema, self.names)

    def drop(self) -> None:
        self.close()
        drop_schema(self.url, self.schema)

    def close(self) -> None:
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _table(self, table: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(table))

    def _query(self, statement: sql.Composed, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with self.reading() as connection:
            return connection.execute(statement, params).fetchall()

    @contextmanager
    def reading(self) -> Iterator[psycopg.Connection]:
        """The stack's one connection (autocommit), for one reader at a time."""
        with self._lock:
            if self._connection is None or self._connection.closed or self._connection.broken:
                self._connection = psycopg.connect(self.url, autocommit=True)
            yield self._connection

    def rows_per_file(self) -> dict[str, int]:
        """Rows in the rows table per file ID (files without rows are absent)."""
        column = sql.Identifier(self.names.rows_file_column)
        statement = sql.SQL("SELECT {c}, count(*) FROM {t} GROUP BY {c}").format(
            c=column, t=self._table(self.names.rows_table)
        )
        return {file_id: count for file_id, count in self._query(statement)}

    def duplicate_rows(self) -> int:
        """Rows beyond the first per (file, row number); the UNIQUE key keeps this 0, it is counted anyway."""
        statement = sql.SQL("SELECT count(*) - count(DISTINCT ({f}, {n})) FROM {t}").format(
            f=sql.Identifier(self.names.rows_file_column),
            n=sql.Identifier(self.names.rows_number_column),
            t=self._table(self.names.rows_table),
        )
        return int(self._query(statement)[0][0])

    def decisions(self) -> list[DecisionRecord]:
        """Every decision of the error handler, in the order it made them."""
        fields = [field for field in DecisionRecord.__dataclass_fields__]
        return [DecisionRecord(*row) for row in self._select(self.names.decisions_table, fields, "id")]

    def quarantine(self) -> list[QuarantineRecord]:
        """Every quarantined file, in the order they were quarantined."""
        fields = [field for field in QuarantineRecord.__dataclass_fields__]
        rows = self._select(self.names.quarantine_table, fields, "quarantined_at, file_id")
        return [QuarantineRecord(*row) for row in rows]

    def _select(self, table: str, fields: list[str], order_by: str) -> list[tuple[Any, ...]]:
        statement = sql.SQL("SELECT {fields} FROM {table} ORDER BY {order}").format(
            fields=sql.SQL(", ").join(sql.Identifier(field) for field in fields),
            table=self._table(table),
            order=sql.SQL(order_by),
        )
        return self._query(statement)


