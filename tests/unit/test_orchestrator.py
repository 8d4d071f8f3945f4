from __future__ import annotations

import pytest
from pipeline_common.errors import ConfigError, InvalidEvent, WorkerInvokeError

from .support import WORKER_FUNCTION, FakeLambda, lambda_context, load_handler

orchestrator = load_handler("orchestrator")

FILES = [f"file-{i:04d}" for i in range(40)]


@pytest.fixture(autouse=True)
def orchestrator_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_FUNCTION", WORKER_FUNCTION)


def test_a_job_becomes_one_async_invoke_per_shard(fake_lambda: FakeLambda) -> None:
    summary = orchestrator.handler({"job_id": "job-1", "file_ids": FILES, "shard_size": 10}, lambda_context())

    assert {call["FunctionName"] for call in fake_lambda.invocations} == {WORKER_FUNCTION}
    assert {call["InvocationType"] for call in fake_lambda.invocations} == {"Event"}
    payloads = sorted(fake_lambda.payloads(), key=lambda p: p["shard_id"])
    assert [p["shard_id"] for p in payloads] == ["0000", "0001", "0002", "0003"]
    assert [p["file_ids"] for p in payloads] == [FILES[0:10], FILES[10:20], FILES[20:30], FILES[30:40]]
    assert {p["job_id"] for p in payloads} == {"job-1"}
    assert {p["reshard_depth"] for p in payloads} == {0}
    assert summary["shard_count"] == 4
    assert summary["shard_sizes"] == [10, 10, 10, 10]
    assert summary["job_id"] == "job-1"


def test_a_job_smaller_than_a_shard_is_one_shard(fake_lambda: FakeLambda) -> None:
    summary = orchestrator.handler({"job_id": "j", "file_ids": ["a", "b", "c"], "shard_size": 10}, lambda_context())
    assert summary["shard_sizes"] == [3]
    assert len(fake_lambda.invocations) == 1


def test_a_refused_invoke_fails_the_job_and_names_the_shards(fake_lambda: FakeLambda) -> None:
    fake_lambda.status = 429

    with pytest.raises(WorkerInvokeError) as caught:
        orchestrator.handler({"job_id": "job-1", "file_ids": FILES[:4], "shard_size": 2}, lambda_context())

    assert [shard for shard, _ in caught.value.failures] == ["0000", "0001"]
    assert "status 429, expected 202" in str(caught.value)


def test_an_invoke_exception_is_reported_per_shard(fake_lambda: FakeLambda) -> None:
    def explode(call: dict) -> None:
        raise ConnectionError("endpoint unreachable")

    fake_lambda.on_invoke = explode
    with pytest.raises(WorkerInvokeError, match="ConnectionError: endpoint unreachable"):
        orchestrator.handler({"job_id": "job-1", "file_ids": ["a"], "shard_size": 1}, lambda_context())


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"file_ids": ["a"], "shard_size": 1}, "job_id"),
        ({"job_id": "j", "file_ids": [], "shard_size": 1}, "file_ids"),
        ({"job_id": "j", "file_ids": ["a", "a"], "shard_size": 1}, "file_ids"),
        ({"job_id": "j", "file_ids": ["a"], "shard_size": 0}, "shard_size"),
        ({"job_id": "j", "file_ids": ["a"], "shard_size": 101}, "shard_size"),
    ],
)
def test_a_malformed_job_invokes_nothing(fake_lambda: FakeLambda, event: dict, field: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        orchestrator.handler(event, lambda_context())
    assert caught.value.field == field
    assert fake_lambda.invocations == []


def test_a_missing_worker_name_invokes_nothing(monkeypatch: pytest.MonkeyPatch, fake_lambda: FakeLambda) -> None:
    monkeypatch.delenv("WORKER_FUNCTION")
    with pytest.raises(ConfigError, match="WORKER_FUNCTION"):
        orchestrator.handler({"job_id": "j", "file_ids": ["a"], "shard_size": 1}, lambda_context())
    assert fake_lambda.invocations == []
