"""The attempt ledger on a real PostgreSQL: its tables, run marks, and attempts read back as records."""

from __future__ import annotations

import json

import psycopg

from harness.observe import ledger
from harness.records import Attempt
from tests.support.database import ReadBackDatabase


def test_attempts_are_read_back_in_order_with_logical_names(pipeline_db: ReadBackDatabase) -> None:
    schema = pipeline_db.schema
    with psycopg.connect(pipeline_db.url, autocommit=True) as connection:
        ledger.create(connection, schema)
        ledger.create(connection, schema)  # idempotent
        ledger.mark_run(connection, schema, 1)
        # As the fault wrapper writes them: a finished attempt, then one still running (or killed).
        connection.execute(
            f'INSERT INTO "{schema}"."{ledger.LEDGER_TABLE}" (function, request_id, attempt, shard_id, file_ids, '
            "event, fault, outcome, started_at, ended_at, run) VALUES "
            "('stack-worker', 'r1', 1, '0000', %s, %s, 'exception', 'error', 10.0, 11.5, 1), "
            "('stack-error-handler', 'r2', 1, NULL, '[]', NULL, NULL, NULL, 12.0, NULL, 1)",
            (json.dumps(["f-1", "f-2"]), json.dumps({"shard_id": "0000"})))
        runs = connection.execute(f'SELECT run FROM "{schema}"."{ledger.RUNS_TABLE}"').fetchall()
        attempts = ledger.attempts(connection, schema, {"stack-worker": "worker"})

    assert runs == [(1,)]
    assert attempts == [
        Attempt(function="worker", request_id="r1", attempt=1, shard_id="0000", file_ids=["f-1", "f-2"],
                event={"shard_id": "0000"}, fault="exception", outcome="error", started_at=10.0, ended_at=11.5),
        # A name the mapping does not know is kept as it is.
        Attempt(function="stack-error-handler", request_id="r2", attempt=1, shard_id=None, file_ids=[],
                event=None, fault=None, outcome=None, started_at=12.0, ended_at=None),
    ]
