from __future__ import annotations

import json
from typing import Any

import pytest
from pg8000.exceptions import DatabaseError
from pipeline_common.content import row_count
from pipeline_common.errors import InvalidEvent

from harness.db import PipelineDatabase

from .support import TOPIC_ARN, FakeSNS, lambda_context, load_handler

worker = load_handler("worker")


def shard_event(file_ids: list[str], shard_id: str = "0000", job_id: str = "job-1") -> dict[str, Any]:
    return {"job_id": job_id, "shard_id": shard_id, "file_ids": file_ids}


def body(message: dict[str, Any]) -> dict[str, Any]:
    return json.loads(message["Message"])


@pytest.mark.usefixtures("pipeline_env")
def test_a_shard_is_loaded_and_reported(fake_sns: FakeSNS, pipeline_db: PipelineDatabase) -> None:
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
def test_a_rerun_inserts_nothing_and_says_so(fake_sns: FakeSNS, pipeline_db: PipelineDatabase) -> None:
    worker.handler(shard_event(["a", "b"]), lambda_context())
    before = pipeline_db.total_rows()

    again = worker.handler(shard_event(["a", "b"]), lambda_context())

    assert pipeline_db.total_rows() == before
    assert (again["rows_inserted"], again["rows_already_present"]) == (0, before)
    assert (again["files_inserted"], again["files_already_present"]) == (0, 2)
    assert pipeline_db.duplicate_rows() == 0


@pytest.mark.usefixtures("pipeline_env")
def test_an_overlapping_reshard_loads_only_the_new_file(fake_sns: FakeSNS, pipeline_db: PipelineDatabase) -> None:
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
    pipeline_db: PipelineDatabase,
    variable: str,
    wrong: str,
    expected_message: str,
    sqlstate: str,
) -> None:
    monkeypatch.setenv(variable, wrong)
    expected_message = expected_message.format(schema=pipeline_db.schema)

    with pytest.raises(DatabaseError) as caught:
        worker.handler(shard_event(["a", "b"]), lambda_context())

    assert expected_message in str(caught.value)  # re-raised unchanged, for Lambda's errorMessage
    assert fake_sns.subjects() == ["JOB FAILED"]
    failed = body(fake_sns.published[0])
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
def test_a_code_error_is_reported_and_re_raised(
    monkeypatch: pytest.MonkeyPatch, fake_sns: FakeSNS, pipeline_db: PipelineDatabase
) -> None:
    def broken(file_id: str) -> list[Any]:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(worker, "rows_for_file", broken)

    with pytest.raises(ZeroDivisionError):
        worker.handler(shard_event(["a"]), lambda_context())

    failed = body(fake_sns.published[0])
    assert (failed["status"], failed["error_type"], failed["error_message"]) == (
        "JOB FAILED",
        "ZeroDivisionError",
        "division by zero",
    )
    assert failed["error_code"] is None


@pytest.mark.usefixtures("pipeline_env")
def test_a_malformed_shard_loads_nothing(fake_sns: FakeSNS, pipeline_db: PipelineDatabase) -> None:
    with pytest.raises(InvalidEvent) as caught:
        worker.handler({"job_id": "job-1", "shard_id": "0000", "file_ids": ["a", "a"]}, lambda_context())

    assert caught.value.field == "file_ids"
    assert pipeline_db.total_rows() == 0
    failed = body(fake_sns.published[0])
    assert failed["error_type"] == "InvalidEvent"
    assert "'file_ids'" in failed["error_message"]


@pytest.mark.usefixtures("pipeline_env")
def test_a_failing_report_does_not_hide_the_original_error(monkeypatch: pytest.MonkeyPatch, fake_sns: FakeSNS) -> None:
    monkeypatch.setenv("ROWS_TABLE", "rowz")
    fake_sns.fail_with = RuntimeError("SNS is down")

    with pytest.raises(DatabaseError, match="rowz"):
        worker.handler(shard_event(["a"]), lambda_context())


def test_a_missing_variable_is_reported_as_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, pipeline_env: dict[str, str], fake_sns: FakeSNS
) -> None:
    monkeypatch.delenv("ROWS_TABLE")

    with pytest.raises(Exception, match="ROWS_TABLE is not set"):
        worker.handler(shard_event(["a"]), lambda_context())

    assert body(fake_sns.published[0])["error_type"] == "ConfigError"
