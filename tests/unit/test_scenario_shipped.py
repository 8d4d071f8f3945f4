"""The shipped scenarios load, follow the schema, and together cover every fault against every effect."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from harness.scenario import (
    EXPECTATION_KINDS,
    FAULT_KINDS,
    AlarmExpectation,
    DatabaseExpectation,
    DlqExpectation,
    Scenario,
    SnsExpectation,
    json_schema,
    load_scenario,
    load_scenarios,
)

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
FILES = sorted(SCENARIOS.glob("*.yaml"))
SCHEMA_LINE = "# yaml-language-server: $schema=./scenario.schema.json"


@pytest.fixture(scope="module")
def shipped() -> list[Scenario]:
    return load_scenarios([SCENARIOS])


def test_at_least_twelve_scenarios_ship(shipped: list[Scenario]) -> None:
    assert len(FILES) >= 12
    assert len(shipped) == len(FILES)


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_shipped_scenario_loads_and_points_editors_at_the_schema(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem, "a file is named after its scenario, so a failure is easy to find"
    assert path.read_text(encoding="utf-8").splitlines()[0] == SCHEMA_LINE


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_shipped_scenario_satisfies_the_json_schema(path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json_schema())
    errors = [error.message for error in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


def test_every_fault_kind_meets_every_expectation_kind(shipped: list[Scenario]) -> None:
    covered = {
        (fault.kind, expectation.kind)
        for scenario in shipped
        for fault in scenario.faults
        for expectation in scenario.expect
    }
    # An alarm transition after the job needs a clean run first, and `result` is the orchestrator's own
    # answer: those two kinds are shown with faults in dedicated scenarios instead. The seed pipeline has no
    # SQS queue (its dead-letter target is a topic): `sqs` is for templates of one's own (examples/).
    dedicated = ("alarm", "result")
    assert shipped[0].queues() == []
    missing = [
        (fault, kind)
        for fault in FAULT_KINDS
        for kind in EXPECTATION_KINDS
        if kind not in (*dedicated, "sqs") and (fault, kind) not in covered
    ]
    assert missing == []
    assert all(any(kind == expectation for _, expectation in covered) for kind in dedicated)


def _has(scenario: Scenario, kind: type, **wanted: object) -> bool:
    return any(
        isinstance(expectation, kind)
        and all(getattr(expectation, key) == value for key, value in wanted.items())
        for expectation in scenario.expect
    )


def test_the_situations_issue_4_names_are_shipped(shipped: list[Scenario]) -> None:
    by_name = {scenario.name: scenario for scenario in shipped}

    clean = [scenario for scenario in shipped if scenario.job and not scenario.faults]
    assert any(
        _has(s, SnsExpectation, subject="JOB SUCCEEDED")
        and _has(s, DatabaseExpectation, loaded_exactly_once="all")
        and _has(s, AlarmExpectation, alarm="job_not_run", transitions=["OK"])
        for s in clean
    ), "success path"
    assert any(
        s.job is None and _has(s, AlarmExpectation, alarm="job_not_run", transitions=["ALARM"])
        for s in shipped
    ), "JOB NOT RUN"
    for retries, attempts in ((0, 1), (1, 2)):
        assert any(
            s.settings("worker").max_retry_attempts == retries
            and any(getattr(e, "count", None) == attempts for e in s.expect if e.kind == "attempts")
            and _has(s, DlqExpectation, count=1)
            for s in shipped
        ), f"retries exhausted with MaximumRetryAttempts {retries}"
    assert any(
        any(fault.attempts == [1, 2] and fault.probability is None for fault in s.faults)
        and _has(s, DlqExpectation, count=0)
        for s in shipped
    ), "recovery on the third attempt"
    assert any(
        s.poison_files() and any(e.kind == "reshard" and e.quarantined for e in s.expect) for s in shipped
    )
    assert any(
        fault.probability is not None and fault.seed is not None for s in shipped for fault in s.faults
    )
    assert any(s.job and s.job.runs >= 2 for s in shipped), "a re-run inserts nothing new"
    assert by_name["bad-field-name"].faults[0].kind == "bad_field"


def test_the_failure_class_table_names_shipped_scenarios_only() -> None:
    # Every cell of scenarios/README.md's failure-class table is backed by a scenario that ships (and so
    # runs in the suite): a renamed or deleted scenario must not leave the table pointing at nothing.
    readme = (Path(__file__).resolve().parents[2] / "scenarios" / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Failure classes", 1)[1].split("\n\n| failure", 1)[1].split("\n\n", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("|") and not line.startswith("|---")][1:]
    assert len(rows) >= 12
    shipped_names = {path.stem for path in FILES}
    for row in rows:
        named = re.findall(r"`([a-z0-9-]+)`", row.rsplit("|", 2)[-2])
        assert named, row
        assert set(named) <= shipped_names, (row, set(named) - shipped_names)
