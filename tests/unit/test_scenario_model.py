"""The scenario model as the engine sees it: typed parts, helpers, and checks that need no file."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from harness.scenario import (
    DEFAULT_SCHEMA_PATH,
    EXPECTATION_KINDS,
    AttemptsExpectation,
    DlqExpectation,
    ExceptionFault,
    Scenario,
    ScenarioError,
    TimeoutFault,
    json_schema,
    load_document,
    load_scenario,
    render_json_schema,
    write_json_schema,
)

BASE: dict[str, Any] = {
    "name": "model-test",
    "description": "built in Python",
    "job": {"files": 12, "shard_size": 5},
    "faults": [
        {"function": "worker", "kind": "timeout", "files": ["f-0007"]},
        {"function": "worker", "kind": "exception", "exception": {"type": "KeyError", "message": "k"}},
    ],
    "expect": [
        {"attempts": {"function": "worker", "files": ["f-0007"], "count": 3}},
        {"dlq": {"min_count": 1}},
        {"database": {"loaded_exactly_once": "all_but_poison"}},
    ],
}


def scenario(**changes: Any) -> Scenario:
    """Built in Python and validated as a file is: its shape (pydantic), then the validation pass."""
    data = copy.deepcopy(BASE)
    data.update(changes)
    built = load_document(data)
    assert isinstance(built, Scenario)
    return built


def test_parts_are_typed_and_keyed_by_kind() -> None:
    loaded = scenario()
    timeout, exception = loaded.faults
    assert isinstance(timeout, TimeoutFault) and isinstance(exception, ExceptionFault)
    assert (exception.exception.type, exception.exception.message) == ("KeyError", "k")
    attempts, dlq, database = loaded.expect
    assert isinstance(attempts, AttemptsExpectation) and attempts.kind == "attempts"
    assert isinstance(dlq, DlqExpectation) and dlq.min_count == 1 and dlq.within_seconds is None
    assert database.kind == "database"


def test_engine_helpers() -> None:
    loaded = scenario()
    assert loaded.file_ids()[:2] == ["f-0000", "f-0001"] and len(loaded.file_ids()) == 12
    assert loaded.initial_shards() == [
        [f"f-{index:04d}" for index in range(0, 5)],
        [f"f-{index:04d}" for index in range(5, 10)],
        ["f-0010", "f-0011"],
    ]
    assert loaded.poison_files() == ["f-0007"]
    assert loaded.max_attempts("worker") == 3
    assert [fault.kind for fault in loaded.faults_for("worker")] == ["timeout", "exception"]
    assert loaded.faults_for("orchestrator") == []
    assert loaded.job_id() == "model-test"
    assert loaded.location("expect", 0) == "<scenario>"


def test_explicit_file_ids_and_wide_generated_ids() -> None:
    explicit = scenario(job={"file_ids": ["a", "b", "f-0007"]})
    assert explicit.file_ids() == ["a", "b", "f-0007"]
    wide = scenario(job={"files": 12_000}, faults=[], expect=[{"database": {"loaded_exactly_once": "all"}}])
    assert wide.file_ids()[-1] == "f-11999" and wide.file_ids()[0] == "f-00000"


def test_no_job_runs_nothing() -> None:
    idle = scenario(
        job=None, faults=[], expect=[{"alarm": {"alarm": "job_not_run", "transitions": ["ALARM"]}}]
    )
    assert idle.file_ids() == [] and idle.initial_shards() == [] and idle.poison_files() == []


def test_problems_without_a_file_name_their_path() -> None:
    with pytest.raises(ScenarioError) as caught:
        scenario(stack={"worker": {"max_retry_attempts": 0}})
    text = str(caught.value)
    assert "expect[0].attempts.count: at most 1 attempts can happen (1 + max_retry_attempts=0), got 3" in text


def test_a_key_named_kind_inside_an_expectation_is_rejected() -> None:
    with pytest.raises(ValidationError, match="the item's key names its kind"):
        scenario(expect=[{"dlq": {"kind": "dlq", "count": 0}}])


@given(retries=st.integers(0, 2), count=st.integers(1, 6))
def test_attempt_count_is_accepted_exactly_when_lambda_can_make_it(retries: int, count: int) -> None:
    data = {
        "stack": {"worker": {"max_retry_attempts": retries}},
        "faults": [{"function": "worker", "kind": "exception", "exception": {"type": "ConnectionError"}}],
        "expect": [{"attempts": {"function": "worker", "count": count}}],
    }
    if count <= 1 + retries:
        assert scenario(**data).expect[0].count == count
    else:
        with pytest.raises(ScenarioError, match=f"at most {1 + retries} attempts can happen"):
            scenario(**data)


@given(period=st.integers(1, 3600))
def test_alarm_period_rule(period: int) -> None:
    valid = period in (10, 30) or period % 60 == 0
    data = {"stack": {"alarm_period_seconds": period}}
    if valid:
        assert scenario(**data).stack.alarm_period_seconds == period
    else:
        with pytest.raises(ValidationError, match="10, 30 or a multiple of 60"):
            scenario(**data)


def test_loaded_scenario_knows_where_its_parts_are(tmp_path: Path) -> None:
    path = tmp_path / "located.yaml"
    path.write_text(
        "name: located\ndescription: x\njob: {files: 3}\n"
        "expect:\n  - database:\n      loaded_exactly_once: all\n"
    )
    loaded = load_scenario(path)
    assert loaded.source_file == str(path)
    assert loaded.location("expect", 0) == f"{path}:5:5"
    assert loaded.location("expect", 0, "database", "loaded_exactly_once") == f"{path}:6:7"
    assert loaded.location("faults", 3) == f"{path}:1:1"


def test_committed_schema_file_is_up_to_date() -> None:
    assert DEFAULT_SCHEMA_PATH.read_text(encoding="utf-8") == render_json_schema(), (
        "scenarios/scenario.schema.json is stale: regenerate it with "
        "`python -c 'from harness.scenario import write_json_schema; write_json_schema()'`"
    )


def test_schema_describes_expectations_as_one_key_items(tmp_path: Path) -> None:
    schema = json_schema()
    options = schema["properties"]["expect"]["items"]["oneOf"]
    assert [option["required"] for option in options] == [[kind] for kind in EXPECTATION_KINDS]
    for option in options:
        assert option["additionalProperties"] is False
        definition = schema["$defs"][option["properties"][option["required"][0]]["$ref"].rsplit("/", 1)[-1]]
        assert "kind" not in definition["properties"]
    assert "function" in schema["$defs"]["TimeoutFault"]["properties"]
    written = write_json_schema(tmp_path / "schema.json")
    assert json.loads(written.read_text()) == schema
