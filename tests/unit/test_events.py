from __future__ import annotations

from typing import Any

import pytest
from pipeline_common.errors import InvalidEvent
from pipeline_common.events import parse_job, parse_shard

VALID_JOB = {"job_id": "job-1", "file_ids": ["a", "b", "c"], "shard_size": 2}
VALID_SHARD = {"job_id": "job-1", "shard_id": "0000", "file_ids": ["a", "b"]}


def without(event: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != key}


@pytest.mark.parametrize(
    ("event", "field", "problem"),
    [
        (without(VALID_JOB, "job_id"), "job_id", "is missing"),
        ({**VALID_JOB, "job_id": ""}, "job_id", "must not be empty"),
        ({**VALID_JOB, "job_id": 7}, "job_id", "must be a string"),
        (without(VALID_JOB, "file_ids"), "file_ids", "is missing"),
        ({**VALID_JOB, "file_ids": []}, "file_ids", "must not be empty"),
        ({**VALID_JOB, "file_ids": "a,b"}, "file_ids", "must be a list"),
        ({**VALID_JOB, "file_ids": ["a", 2]}, "file_ids[1]", "must be a string"),
        ({**VALID_JOB, "file_ids": ["a", " "]}, "file_ids[1]", "must not be empty"),
        ({**VALID_JOB, "file_ids": ["a", "b", "a", "b", "a"]}, "file_ids", "duplicate IDs: a, b"),
        (without(VALID_JOB, "shard_size"), "shard_size", "is missing"),
        ({**VALID_JOB, "shard_size": 0}, "shard_size", "must be >= 1, got 0"),
        ({**VALID_JOB, "shard_size": -3}, "shard_size", "must be >= 1"),
        ({**VALID_JOB, "shard_size": "10"}, "shard_size", "must be an integer, got str"),
        ({**VALID_JOB, "shard_size": 2.5}, "shard_size", "must be an integer, got float"),
        ({**VALID_JOB, "shard_size": True}, "shard_size", "must be an integer, got bool"),
        ([VALID_JOB], "event", "must be a JSON object"),
    ],
)
def test_malformed_job_names_its_field(event: Any, field: str, problem: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_job(event)
    assert caught.value.field == field
    assert problem in str(caught.value)
    assert f"'{field}'" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_shard_size_above_the_configured_limit_is_rejected() -> None:
    with pytest.raises(InvalidEvent, match="MAX_SHARD_SIZE") as caught:
        parse_job({**VALID_JOB, "shard_size": 11}, max_shard_size=10)
    assert caught.value.field == "shard_size"


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (without(VALID_SHARD, "job_id"), "job_id"),
        (without(VALID_SHARD, "shard_id"), "shard_id"),
        ({**VALID_SHARD, "shard_id": None}, "shard_id"),
        (without(VALID_SHARD, "file_ids"), "file_ids"),
        ({**VALID_SHARD, "file_ids": []}, "file_ids"),
        ({**VALID_SHARD, "file_ids": ["a", "a"]}, "file_ids"),
        ({**VALID_SHARD, "reshard_depth": -1}, "reshard_depth"),
        ({**VALID_SHARD, "reshard_depth": "1"}, "reshard_depth"),
        ({**VALID_SHARD, "parent_shard_id": 3}, "parent_shard_id"),
        ("not an object", "event"),
    ],
)
def test_malformed_shard_names_its_field(event: Any, field: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        parse_shard(event)
    assert caught.value.field == field


def test_valid_events_parse_and_extra_keys_are_ignored() -> None:
    job = parse_job({**VALID_JOB, "note": "ignored"})
    assert (job.job_id, job.file_ids, job.shard_size) == ("job-1", ("a", "b", "c"), 2)
    shard = parse_shard({**VALID_SHARD, "attempt_hint": 2})
    assert (shard.shard_id, shard.reshard_depth, shard.parent_shard_id) == ("0000", 0, None)
