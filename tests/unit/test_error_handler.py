from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pg8000.exceptions import DatabaseError
from pipeline_common.config import load_worker_config
from pipeline_common.content import row_count
from pipeline_common.errors import InvalidEvent, WorkerInvokeError
from pipeline_common.events import parse_shard

from tests.support.database import ReadBackDatabase

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


def load_files(file_ids: list[str], shard_id: str = "0001") -> None:
    """Load files as the worker does (one committed transaction each), without publishing anything."""
    event = {"job_id": "job-1", "shard_id": shard_id, "file_ids": file_ids}
    worker.load_shard(parse_shard(event), load_worker_config())


def reports(fake_sns: FakeSNS) -> list[dict[str, Any]]:
    return [json.loads(message["Message"]) for message in fake_sns.published]


def test_a_timed_out_shard_is_split_and_invoked_again(
    fake_lambda: FakeLambda, fake_sns: FakeSNS, pipeline_db: ReadBackDatabase
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
    fake_lambda: FakeLambda, fake_sns: FakeSNS, pipeline_db: ReadBackDatabase
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
    fake_lambda: FakeLambda, fake_sns: FakeSNS, pipeline_db: ReadBackDatabase
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
    fake_lambda: FakeLambda, fake_sns: FakeSNS, pipeline_db: ReadBackDatabase
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
    fake_lambda: FakeLambda, fake_sns: FakeSNS, pipeline_db: ReadBackDatabase
) -> None:
    letter = dead_letter(shard(["a", "b"]), TIMEOUT, message_id="sns-message-1")
    error_handler.handler(letter, lambda_context())

    again = error_handler.handler(letter, lambda_context())

    assert again["decisions"][0]["action"] == "duplicate"
    assert len(fake_lambda.invocations) == 2
    assert len(pipeline_db.decisions()) == 1


def test_a_refused_child_invoke_leaves_no_decision_so_the_retry_decides_again(
    fake_lambda: FakeLambda, pipeline_db: ReadBackDatabase
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
    fake_lambda: FakeLambda, fake_sns: FakeSNS, pipeline_db: ReadBackDatabase
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


# Quarantine that tells the truth: the worker commits file by file, so the files of a timed-out shard that
# came before the poison file are loaded, and must be reported as loaded rather than quarantined.
POISON_SHARD = ["f-0004", "f-0005", "f-0006", "f-0007"]


def test_a_depth_limited_quarantine_spares_the_files_already_loaded(
    monkeypatch: pytest.MonkeyPatch, fake_lambda: FakeLambda, fake_sns: FakeSNS, pipeline_db: ReadBackDatabase
) -> None:
    monkeypatch.setenv("MAX_RESHARD_DEPTH", "1")
    load_files(["f-0004"])  # what the worker committed before f-0005 timed out
    load_files(["f-0099"], shard_id="0009")  # loaded, but not part of the dead-lettered shard

    result = error_handler.handler(
        dead_letter(shard(POISON_SHARD, shard_id="0001.0", depth=1), TIMEOUT), lambda_context()
    )

    assert fake_lambda.invocations == []
    quarantined = pipeline_db.quarantine("job-1")
    assert [q.file_id for q in quarantined] == ["f-0005", "f-0006", "f-0007"]
    [report] = reports(fake_sns)
    assert fake_sns.subjects() == ["JOB FAILED"]
    assert (report["reason"], report["error_type"]) == ("quarantined", "Timeout")
    assert report["file_ids"] == ["f-0005", "f-0006", "f-0007"]
    assert report["loaded_file_ids"] == ["f-0004"]
    assert report["detail"] == (
        "still times out at reshard depth 1 (MAX_RESHARD_DEPTH=1); 1 of 4 files already loaded: f-0004"
    )
    [decision] = pipeline_db.decisions("job-1")
    assert (decision.action, decision.reason, decision.detail) == ("quarantine", "quarantined", report["detail"])
    assert decision.file_ids == POISON_SHARD  # the row describes the dead-lettered shard
    assert {q.decision_id for q in quarantined} == {decision.id}
    [outcome] = result["decisions"]
    assert outcome["file_ids"] == POISON_SHARD
    assert outcome["quarantined_file_ids"] == ["f-0005", "f-0006", "f-0007"]
    assert outcome["loaded_file_ids"] == ["f-0004"]
    # The loaded file's data is untouched.
    assert pipeline_db.row_count_mismatches(["f-0004", "f-0099"]) == {}


def test_the_loaded_files_are_reported_in_shard_order(
    monkeypatch: pytest.MonkeyPatch, fake_lambda: FakeLambda, fake_sns: FakeSNS, pipeline_db: ReadBackDatabase
) -> None:
    monkeypatch.setenv("MAX_RESHARD_DEPTH", "0")
    load_files(["f-0007", "f-0004"])  # committed in another order than the shard's

    error_handler.handler(dead_letter(shard(POISON_SHARD), TIMEOUT), lambda_context())

    [report] = reports(fake_sns)
    assert (report["file_ids"], report["loaded_file_ids"]) == (["f-0005", "f-0006"], ["f-0004", "f-0007"])
    assert report["detail"].endswith("; 2 of 4 files already loaded: f-0004, f-0007")
    assert [q.file_id for q in pipeline_db.quarantine("job-1")] == ["f-0005", "f-0006"]


def test_a_single_file_that_was_not_loaded_is_quarantined_as_before(
    fake_lambda: FakeLambda, fake_sns: FakeSNS, pipeline_db: ReadBackDatabase
) -> None:
    load_files(["f-0004"])  # another file of the job is loaded; the dead-lettered one is not

    error_handler.handler(dead_letter(shard(["f-0005"], shard_id="0001.0.1", depth=2), TIMEOUT), lambda_context())

    [quarantined] = pipeline_db.quarantine("job-1")
    assert (quarantined.file_id, quarantined.shard_id, quarantined.reshard_depth) == ("f-0005", "0001.0.1", 2)
    [report] = reports(fake_sns)
    assert (report["reason"], report["file_ids"], report["loaded_file_ids"]) == ("quarantined", ["f-0005"], [])
    assert report["detail"] == "a single file still times out"
    [decision] = pipeline_db.decisions("job-1")
    assert (decision.action, decision.file_ids, decision.id) == ("quarantine", ["f-0005"], quarantined.decision_id)


@pytest.mark.parametrize(
    ("file_ids", "depth"),
    [(POISON_SHARD, 1), (["f-0005"], 0)],
    ids=["depth-limited shard", "single file"],
)
def test_a_shard_whose_every_file_is_loaded_is_not_quarantined_but_needs_attention(
    monkeypatch: pytest.MonkeyPatch,
    fake_lambda: FakeLambda,
    fake_sns: FakeSNS,
    pipeline_db: ReadBackDatabase,
    file_ids: list[str],
    depth: int,
) -> None:
    monkeypatch.setenv("MAX_RESHARD_DEPTH", "1")
    load_files(file_ids)  # the timeout struck after the last file's commit

    result = error_handler.handler(dead_letter(shard(file_ids, depth=depth), TIMEOUT), lambda_context())

    assert fake_lambda.invocations == []
    assert pipeline_db.quarantine() == []
    [report] = reports(fake_sns)
    assert fake_sns.subjects() == ["JOB FAILED"]
    assert (report["reason"], report["error_type"]) == ("needs_attention", "Timeout")
    assert report["detail"].startswith("timed out after every file was loaded")
    assert (report["file_ids"], report["loaded_file_ids"]) == (file_ids, file_ids)
    [decision] = pipeline_db.decisions("job-1")
    assert (decision.action, decision.reason, decision.file_ids) == ("report", "needs_attention", file_ids)
    assert result["decisions"][0]["quarantined_file_ids"] == []


def test_a_redelivered_quarantine_dead_letter_is_not_acted_on_twice(
    monkeypatch: pytest.MonkeyPatch, fake_lambda: FakeLambda, fake_sns: FakeSNS, pipeline_db: ReadBackDatabase
) -> None:
    monkeypatch.setenv("MAX_RESHARD_DEPTH", "1")
    load_files(["f-0004"])
    letter = dead_letter(shard(POISON_SHARD, depth=1), TIMEOUT, message_id="sns-message-3")
    error_handler.handler(letter, lambda_context())
    load_files(["f-0005"])  # even if the files table changes, the decision already taken stands

    again = error_handler.handler(letter, lambda_context())

    assert again["decisions"][0]["action"] == "duplicate"
    assert len(pipeline_db.decisions()) == 1
    assert [q.file_id for q in pipeline_db.quarantine()] == ["f-0005", "f-0006", "f-0007"]
    assert fake_sns.subjects() == ["JOB FAILED"]
    assert fake_lambda.invocations == []


def test_a_wrong_files_table_fails_with_the_database_error_and_decides_nothing(
    monkeypatch: pytest.MonkeyPatch, fake_lambda: FakeLambda, fake_sns: FakeSNS, pipeline_db: ReadBackDatabase
) -> None:
    monkeypatch.setenv("FILES_TABLE", "filez")

    with pytest.raises(DatabaseError, match="filez"):
        error_handler.handler(dead_letter(shard(["f-0005"]), TIMEOUT), lambda_context())

    assert pipeline_db.decisions() == []
    assert pipeline_db.quarantine() == []
    assert fake_sns.published == []
