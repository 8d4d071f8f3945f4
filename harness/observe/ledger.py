"""The attempt ledger: its tables in each stack's schema, marking a run of the job, and reading attempts.

The fault wrapper (`harness/faults/lambda_wrapper.py`, which runs inside Lambda and imports nothing of
the harness) writes one row per invocation attempt into `LEDGER_TABLE`, whose qualified name it gets in
`HARNESS_LEDGER_TABLE` (see `harness.faults.wrapper_environment`); it reads the run of the job from
`RUNS_TABLE`, whose name it spells out itself. The harness creates both tables, marks each run, and
reads the attempts back as `Attempt` records.

The functions take an open psycopg connection, so this module stays light to import (the fault
configuration imports `LEDGER_TABLE`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

from harness.faults import LEDGER_TABLE, RUNS_TABLE
from harness.records import Attempt

LEDGER_DDL = f"""
CREATE TABLE IF NOT EXISTS "{{schema}}"."{LEDGER_TABLE}" (
    id bigserial PRIMARY KEY,
    function text NOT NULL,
    request_id text NOT NULL,
    attempt integer NOT NULL,
    shard_id text,
    file_ids jsonb NOT NULL,
    event jsonb,
    fault text,
    outcome text,
    started_at double precision NOT NULL,
    ended_at double precision,
    run integer NOT NULL DEFAULT 1
)
"""

RUNS_DDL = f"""
CREATE TABLE IF NOT EXISTS "{{schema}}"."{RUNS_TABLE}" (
    run integer PRIMARY KEY,
    started_at double precision NOT NULL
)
"""


def create(connection: psycopg.Connection, schema: str) -> None:
    """Create the ledger's tables in `schema` (which must exist); idempotent."""
    connection.execute(LEDGER_DDL.format(schema=schema))
    connection.execute(RUNS_DDL.format(schema=schema))


def mark_run(connection: psycopg.Connection, schema: str, run: int) -> None:
    """Record that run `run` of the job starts now, for the fault wrapper (faults can target runs)."""
    connection.execute(
        f'INSERT INTO "{schema}"."{RUNS_TABLE}" (run, started_at) '
        "VALUES (%s, extract(epoch from clock_timestamp()))", (run,))


def attempts(connection: psycopg.Connection, schema: str, logical: Mapping[str, str]) -> list[Attempt]:
    """Every attempt in the ledger, in the order they started; `logical` maps deployed function names to
    logical ones (orchestrator, worker, error_handler)."""
    rows = connection.execute(
        "SELECT function, request_id, attempt, shard_id, file_ids, event, fault, outcome, started_at, "
        f'ended_at, run FROM "{schema}"."{LEDGER_TABLE}" ORDER BY id').fetchall()
    return [Attempt(function=logical.get(r[0], r[0]), request_id=r[1], attempt=r[2], shard_id=r[3],
                    file_ids=list(r[4] or []), event=r[5], fault=r[6], outcome=r[7], started_at=r[8],
                    ended_at=r[9], run=r[10]) for r in rows]
