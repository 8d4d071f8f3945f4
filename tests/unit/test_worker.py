from __future__ import annotations

import json
from typing import Any

import pytest
from pg8000.exceptions import DatabaseError
from pipeline_common import failures
from pipeline_common.content import row_count
from pipeline_common.errors import ConfigError, InvalidEvent

from tests.support.database import ReadBackDatabase

from .support import TOPIC_ARN, FakeSNS, lambda_context, load_handler

worker = load_handler("worker")


def shard_event(file_ids: list[str], shard_id: str = "0000", job_id: str = "job-1") -> dict[str, Any]:
    return {"job_id": job_id, "shard_id": shard_id, "file_ids": file_ids}


def body(message: dict[str, Any]) -> dict[str, Any]:
    return json.loads(message["Message"])


@pytest.mark.usefixtures("pipeline_env")
def test_a_shard_is_loaded_and_reported(fake_sns: FakeSNS, pipeline_db: ReadBackDatabase) -> None:
    files = ["file-0001", "file-0002", "file-0003"]
    context = lambda_context("unit-worker")

    summary = worker.handler(shard_event(files), context)

    expected_rows = sum(row_count(f) for f in files)
    assert pipeline_db.row_count_mismatches(files) == {}
    assert pipeline_db.total_rows() == expected_rows
    assert set(pipeline_db.loaded_files()) == set(files)
    assert fake_sns.subjects() == ["JOB SUCCEEDED"]
    message = fake_sns.published[0]
    assert message["TopicArn"] == TOPIC_ARN
    assert message["MessageAttributes"]["status"]["StringValue"] == "JOB SUCCEEDED"
    reported = body(message)
    assert reported == summary | {"status": "JOB SUCCEEDED"}
    assert reported["job_id"] == "job-1" and reported["shard_id"] == "0000"
    assert reported["file_ids"] == files
    assert (reported["files"], reported["rows"]) == (3, expected_rows)
    assert (reported["rows_inserted"], reported["rows_already_present"]) == (expected_rows, 0)
    assert reported["request_id"] == context.aws_request_id
    assert reported["function_name"] == "unit-worker"
    assert isinstance(reported["duration_ms"], int)


@pytest.mark.usefixtures("pipeline_env")
def test_a_rerun_inserts_nothing_and_says_so(fake_sns: FakeSNS, pipeline_db: ReadBackDatabase) -> None:
    worker.handler(shard_event(["a", "b"]), lambda_context())
    before = pipeline_db.total_rows()

    again = worker.handler(shard_event(["a", "b"]), lambda_context())

    assert pipeline_db.total_rows() == before
    assert (again["rows_inserted"], again["rows_already_present"]) == (0, before)
    assert (again["files_inserted"], again["files_already_present"]) == (0, 2)
    assert pipeline_db.duplicate_rows() == 0


@pytest.mark.usefixtures("pipeline_env")
def test_an_overlapping_reshard_loads_only_the_new_file(fake_sns: FakeSNS, pipeline_db: ReadBackDatabase) -> None:
    worker.handler(shard_event(["a", "b"]), lambda_context())

    child = worker.handler({**shard_event(["b", "c"], shard_id="0000.1"), "reshard_depth": 1}, lambda_context())

    assert child["rows_inserted"] == row_count("c")
    assert child["rows_already_present"] == row_count("b")
    assert pipeline_db.row_count_mismatches(["a", "b", "c"]) == {}
    assert pipeline_db.loaded_files()["c"].shard_id == "0000.1"


@pytest.mark.parametrize(
    ("variable", "wrong", "expected_message", "sqlstate"),
    [
        ("ROWS_TABLE", "rowz", 'relation "{schema}.rowz" does not exist', "42P01"),
        ("ROWS_VALUE_COLUMN", "valu", 'column "valu" of relation "rows" does not exist', "42703"),
        ("FILES_TABLE", "filez", 'relation "{schema}.filez" does not exist', "42P01"),
    ],
)
def test_a_wrong_name_fails_with_the_database_s_own_error(
    monkeypatch: pytest.MonkeyPatch,
    pipeline_env: dict[str, str],
    fake_sns: FakeSNS,
    pipeline_db: ReadBackDatabase,
    variable: str,
    wrong: str,
    expected_message: str,
    sqlstate: str,
) -> None:
    monkeypatch.setenv(variable, wrong)
    expected_message = expected_message.format(schema=pipeline_db.schema)

    # A logical error: reported once for a person, and the invocation does not fail (no retry can fix it).
    answer = worker.handler(shard_event(["a", "b"]), lambda_context())

    assert answer["status"] == "JOB FAILED" and answer["failure_class"] == "logical"
    assert fake_sns.subjects() == ["JOB FAILED"]
    failed = body(fake_sns.published[0])
    assert failed["failure_class"] == "logical"
    assert failed["error_message"] == expected_message
    assert failed["error_code"] == sqlstate
    assert failed["error_type"] == "DatabaseError"
    assert (failed["job_id"], failed["shard_id"], failed["file_ids"]) == ("job-1", "0000", ["a", "b"])
    assert pipeline_db.total_rows() == 0 and pipeline_db.loaded_files() == {}

    # The cached connection survives the failed transaction: fixing the name lets the retry load.
    monkeypatch.setenv(variable, pipeline_env[variable])
    worker.handler(shard_event(["a", "b"]), lambda_context())
    assert pipeline_db.row_count_mismatches(["a", "b"]) == {}


@pytest.mark.usefixtures("pipeline_env")
def test_a_code_error_is_reported_once_without_failing_the_invocation(
    monkeypatch: pytest.MonkeyPatch, fake_sns: FakeSNS, pipeline_db: ReadBackDatabase
) -> None:
    def broken(file_id: str) -> list[Any]:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(worker, "rows_for_file", broken)

    assert worker.handler(shard_event(["a"]), lambda_context())["failure_class"] == "programmatic"

    [message] = fake_sns.published
    failed = body(message)
    assert (failed["status"], failed["error_type"], failed["error_message"]) == (
        "JOB FAILED",
        "ZeroDivisionError",
        "division by zero",
    )
    assert failed["error_code"] is None


@pytest.mark.usefixtures("pipeline_env")
def test_a_malformed_shard_loads_nothing(
    monkeypatch: pytest.MonkeyPatch, fake_sns: FakeSNS, pipeline_db: ReadBackDatabase
) -> None:
    monkeypatch.setenv("ON_ERROR_PROGRAMMATIC", "raise")  # "when in doubt, throw": raised unchanged
    with pytest.raises(InvalidEvent) as caught:
        worker.handler({"job_id": "job-1", "shard_id": "0000", "file_ids": ["a", "a"]}, lambda_context())

    assert caught.value.field == "file_ids"
    assert pipeline_db.total_rows() == 0
    assert fake_sns.published == []  # raised errors are left to Lambda and the error handler: one alert
    monkeypatch.setenv("ON_ERROR_PROGRAMMATIC", "report")
    worker.handler({"job_id": "job-1", "shard_id": "0000", "file_ids": ["a", "a"]}, lambda_context())
    failed = body(fake_sns.published[0])
    assert failed["error_type"] == "InvalidEvent"
    assert "'file_ids'" in failed["error_message"]


@pytest.mark.usefixtures("pipeline_env")
def test_a_report_that_cannot_be_published_raises_the_original_error(
    monkeypatch: pytest.MonkeyPatch, fake_sns: FakeSNS
) -> None:
    monkeypatch.setenv("ROWS_TABLE", "rowz")
    fake_sns.fail_with = RuntimeError("SNS is down")

    with pytest.raises(DatabaseError, match="rowz"):
        worker.handler(shard_event(["a"]), lambda_context())


def test_a_missing_variable_is_reported_as_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, pipeline_env: dict[str, str], fake_sns: FakeSNS
) -> None:
    monkeypatch.delenv("ROWS_TABLE")

    worker.handler(shard_event(["a"]), lambda_context())

    failed = body(fake_sns.published[0])
    assert failed["error_type"] == "ConfigError" and "ROWS_TABLE is not set" in failed["error_message"]


@pytest.mark.usefixtures("pipeline_env")
def test_under_raise_a_logical_error_is_raised_unchanged_and_not_reported(
    monkeypatch: pytest.MonkeyPatch, fake_sns: FakeSNS
) -> None:
    monkeypatch.setenv("ROWS_TABLE", "rowz")
    monkeypatch.setenv("ON_ERROR_LOGICAL", "raise")
    with pytest.raises(DatabaseError, match="rowz"):
        worker.handler(shard_event(["a"]), lambda_context())
    assert fake_sns.published == []


@pytest.mark.usefixtures("pipeline_env")
def test_a_refused_database_connection_is_transient_and_raised(
    monkeypatch: pytest.MonkeyPatch, fake_sns: FakeSNS
) -> None:
    # Nothing listens on port 1 of the loopback: the connection is refused, as a database that is down.
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/postgres")
    with pytest.raises(Exception) as caught:
        worker.handler(shard_event(["a"]), lambda_context())
    assert failures.classify(caught.value) == "transient"
    assert fake_sns.published == []


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (DatabaseError({"C": "42P01", "M": "relation does not exist"}), "logical"),
        (DatabaseError({"C": "22P02", "M": "invalid input syntax"}), "logical"),
        (DatabaseError({"C": "08006", "M": "connection failure"}), "transient"),
        (DatabaseError({"C": "40001", "M": "could not serialize access"}), "transient"),
        (DatabaseError({"C": "53300", "M": "too many connections"}), "transient"),
        (DatabaseError({"C": "57P01", "M": "terminating connection"}), "transient"),
        (ConnectionRefusedError("refused"), "transient"),
        (TimeoutError("slow"), "transient"),
        (ValueError("bad row"), "programmatic"),
        (KeyError("x"), "programmatic"),
    ],
)
def test_failure_classes(error: Exception, expected: str) -> None:
    assert failures.classify(error) == expected


def test_a_policy_value_that_is_neither_report_nor_raise_is_refused() -> None:
    with pytest.raises(ConfigError, match="ON_ERROR_LOGICAL must be one of report, raise, got 'retry'"):
        failures.load_policy({"ON_ERROR_LOGICAL": "retry"})
    assert failures.load_policy({}) == {"logical": "report", "programmatic": "report", "transient": "raise"}
