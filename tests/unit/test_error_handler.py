from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pipeline_common.content import row_count
from pipeline_common.errors import InvalidEvent, WorkerInvokeError

from harness.db import PipelineDatabase

from .support import WORKER_FUNCTION, FakeLambda, FakeSNS, lambda_context, load_handler

error_handler = load_handler("error_handler")
worker = load_handler("worker")

TIMEOUT = "RequestId: 0c7a Error: Task timed out after 2.00 seconds"


def dead_letter(original: Any, error_message: str, message_id: str | None = None) -> dict[str, Any]:
    """An SNS event as the DLQ topic delivers it to a Lambda subscriber."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id or str(uuid.uuid4()),
                    "Message": original if isinstance(original, str) else json.dumps(original),
                    "MessageAttributes": {
                        "RequestID": {"Type": "String", "Value": "dlq-request"},
                        "ErrorCode": {"Type": "String", "Value": "200"},
                        "ErrorMessage": {"Type": "String", "Value": error_message},
                    },
                },
            }
        ]
    }


def shard(file_ids: list[str], shard_id: str = "0003", depth: int = 0) -> dict[str, Any]:
    return {"job_id": "job-1", "shard_id": shard_id, "file_ids": file_ids, "reshard_depth": depth}


pytestmark = pytest.mark.usefixtures("pipeline_env")


def test_a_timed_out_shard_is_split_and_invoked_again(
    fake_lambda: FakeLambda, fake_sns: FakeSNS, pipeline_db: PipelineDatabase
) -> None:
    result = error_handler.handler(dead_letter(shard(["a", "b", "c", "d"]), TIMEOUT), lambda_context())

    assert [call["FunctionName"] for call in fake_lambda.invocations] == [WORKER_FUNCTION] * 2
    assert {call["InvocationType"] for call in fake_lambda.invocations} == {"Event"}
    assert fake_lambda.payloads() == [
        {
            "job_id": "job-1",
            "shard_id": "0003.0",
            "file_ids": ["a", "b"],
            "reshard_depth": 1,
            "parent_shard_id": "0003",
        },
        {
            "job_id": "job-1",
            "shard_id": "0003.1",
            "file_ids": ["c", "d"],
            "reshard_depth": 1,
            "parent_shard_id": "0003",
        },
    ]
    assert fake_sns.published == []
    [decision] = pipeline_db.decisions("job-1")
    assert (decision.action, decision.reason, decision.shard_id) == ("reshard", "timeout", "0003")
    assert decision.child_shards == [
        {"shard_id": "0003.0", "file_ids": ["a", "b"]},
        {"shard_id": "0003.1", "file_ids": ["c", "d"]},
    ]
    assert decision.error_message == TIMEOUT
    assert result["decisions"][0]["decision_id"] == decision.id


def test_a_single_file_that_times_out_is_quarantined_and_reported(
    fake_lambda: FakeLambda, fake_sns: FakeSNS, pipeline_db: PipelineDatabase
) -> None:
    error_handler.handler(dead_letter(shard(["slow"], shard_id="0003.1.0", depth=2), TIMEOUT), lambda_context())

    assert fake_lambda.invocations == []
    [quarantined] = pipeline_db.quarantine("job-1")
    assert (quarantined.file_id, quarantined.shard_id, quarantined.reshard_depth) == ("slow", "0003.1.0", 2)
    assert fake_sns.subjects() == ["JOB FAILED"]
    report = json.loads(fake_sns.published[0]["Message"])
    assert (report["reason"], report["file_ids"], report["error_type"]) == ("quarantined", ["slow"], "Timeout")
    assert report["error_message"] == TIMEOUT
    [decision] = pipeline_db.decisions("job-1")
    assert (decision.action, decision.id) == ("quarantine", quarantined.decision_id)


def test_other_errors_are_reported_for_a_person(
    fake_lambda: FakeLambda, fake_sns: FakeSNS, pipeline_db: PipelineDatabase
) -> None:
    error = 'relation "s.rowz" does not exist'
    error_handler.handler(dead_letter(shard(["a", "b"]), error), lambda_context())

    assert fake_lambda.invocations == []
    report = json.loads(fake_sns.published[0]["Message"])
    assert fake_sns.published[0]["Subject"] == "JOB FAILED"
    assert (report["reason"], report["error_message"], report["file_ids"]) == ("needs_attention", error, ["a", "b"])
    assert report["error_code"] == "200"
    assert [d.action for d in pipeline_db.decisions()] == ["report"]
    assert pipeline_db.quarantine() == []


def test_an_unreadable_original_event_is_reported_with_the_raw_event(
    fake_lambda: FakeLambda, fake_sns: FakeSNS, pipeline_db: PipelineDatabase
) -> None:
    error_handler.handler(dead_letter({"job_id": "job-1", "file_ids": []}, TIMEOUT), lambda_context())

    assert fake_lambda.invocations == []
    report = json.loads(fake_sns.published[0]["Message"])
    assert report["reason"] == "needs_attention"
    assert "'shard_id'" in report["detail"]
    assert report["original_event"] == {"job_id": "job-1", "file_ids": []}
    error_handler.handler(dead_letter("not json", TIMEOUT), lambda_context())
    assert "not JSON" in pipeline_db.decisions()[-1].detail


def test_a_redelivered_message_is_not_acted_on_twice(
    fake_lambda: FakeLambda, fake_sns: FakeSNS, pipeline_db: PipelineDatabase
) -> None:
    letter = dead_letter(shard(["a", "b"]), TIMEOUT, message_id="sns-message-1")
    error_handler.handler(letter, lambda_context())

    again = error_handler.handler(letter, lambda_context())

    assert again["decisions"][0]["action"] == "duplicate"
    assert len(fake_lambda.invocations) == 2
    assert len(pipeline_db.decisions()) == 1


def test_a_refused_child_invoke_leaves_no_decision_so_the_retry_decides_again(
    fake_lambda: FakeLambda, pipeline_db: PipelineDatabase
) -> None:
    letter = dead_letter(shard(["a", "b"]), TIMEOUT, message_id="sns-message-2")
    fake_lambda.status = 500
    with pytest.raises(WorkerInvokeError, match="status 500"):
        error_handler.handler(letter, lambda_context())
    assert pipeline_db.decisions() == []

    fake_lambda.status = 202
    error_handler.handler(letter, lambda_context())
    assert [d.action for d in pipeline_db.decisions()] == ["reshard"]


def test_an_event_without_records_is_rejected(fake_lambda: FakeLambda) -> None:
    with pytest.raises(InvalidEvent) as caught:
        error_handler.handler({"job_id": "x"}, lambda_context())
    assert caught.value.field == "Records"


def test_resharding_isolates_the_slow_file_and_loads_every_other_file_once(
    fake_lambda: FakeLambda, fake_sns: FakeSNS, pipeline_db: PipelineDatabase
) -> None:
    """The DLQ loop without LocalStack: a worker "times out" on any shard holding `slow`."""
    files = [f"file-{i:02d}" for i in range(10)]
    files.insert(7, "slow")
    # Async invokes are queued and run after the invoking handler has returned, as Lambda would.
    queue: list[dict[str, Any]] = [shard(files, shard_id="0000")]
    fake_lambda.on_invoke = lambda call: queue.append(json.loads(call["Payload"]))

    while queue:
        event = queue.pop(0)
        if "slow" in event["file_ids"]:
            error_handler.handler(dead_letter(event, TIMEOUT), lambda_context())
        else:
            worker.handler(event, lambda_context())

    assert pipeline_db.row_count_mismatches(files) == {"slow": (row_count("slow"), 0)}
    assert pipeline_db.duplicate_rows() == 0
    assert [q.file_id for q in pipeline_db.quarantine("job-1")] == ["slow"]
    decisions = pipeline_db.decisions("job-1")
    assert [d.action for d in decisions] == ["reshard"] * 4 + ["quarantine"]
    assert [d.reshard_depth for d in decisions] == [0, 1, 2, 3, 4]
    assert decisions[-1].shard_id == "0000.1.0.0.1"
    assert fake_sns.subjects().count("JOB FAILED") == 1
    assert fake_sns.subjects().count("JOB SUCCEEDED") == 4  # 0000.0, 0000.1.1, 0000.1.0.1, 0000.1.0.0.0
