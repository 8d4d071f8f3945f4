"""`harness.strategies` draws only valid scenarios, within the bounds it is given, and its predicted
expectations are the model's: they agree with every shipped scenario's own, which pass on the stack."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.format.faults import fault_plan
from harness.scenario import FUNCTIONS, Scenario, load_scenario, validate_paths
from harness.strategies import (
    DEPLOYMENT_KINDS,
    fault_plans,
    file_ids,
    jobs,
    predicted_expectations,
    scenario_documents,
    stack_settings,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO_ROOT / "scenarios").glob("*.yaml"))
MANY = settings(max_examples=max(200, settings.default.max_examples), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("drawn") / "scenario.yaml"


@MANY
@given(document=st.one_of(scenario_documents(),
                          scenario_documents(functions=FUNCTIONS, job=jobs(invocations=("sync", "event")))))
def test_every_drawn_scenario_is_a_valid_scenario_file(document: dict, scenario_file: Path) -> None:
    path = scenario_file
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")

    assert validate_paths([path]) == []  # what `harness validate` says: no problem at all
    loaded = load_scenario(path)  # the loader of the YAML files, with its located problems
    assert loaded.model_dump() == Scenario.model_validate(document).model_dump()
    assert loaded.name.startswith("property-") and loaded.job is not None


@settings(deadline=None)
@given(ids=file_ids(min_size=2, max_size=5))
def test_file_ids_are_distinct_and_valid_in_a_job(ids: list[str]) -> None:
    assert 2 <= len(ids) == len(set(ids)) <= 5
    Scenario.model_validate({"name": "ids", "description": "d", "job": {"file_ids": ids},
                             "expect": [{"database": {"loaded_exactly_once": ids}}]})


@settings(deadline=None)
@given(job=jobs(min_files=2, max_files=5, min_shard_size=2, max_shard_size=3, runs=(2, 3),
                invocations=("event",)))
def test_jobs_keep_to_their_bounds(job) -> None:
    assert 2 <= len(job.ids()) <= 5
    assert 2 <= job.shard_size <= 3
    assert 2 <= job.runs <= 3 and job.invocation == "event"


@settings(deadline=None)
@given(stack=stack_settings(worker_timeouts=(2, 2), retry_attempts=(1, 1), reshard_factors=(3, 4),
                            reshard_depths=(0, 1), policies=False))
def test_stack_settings_keep_to_their_bounds(stack) -> None:
    assert stack.worker.timeout_seconds == 2
    assert stack.worker.max_attempts == stack.error_handler.max_attempts == 2
    assert 3 <= stack.reshard_factor <= 4 and stack.max_reshard_depth <= 1
    assert stack.worker.on_error.model_dump() == {"logical": "report", "programmatic": "report", "transient": "raise"}


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fault_plans_target_what_the_job_and_stack_can_meet(data: st.DataObject) -> None:
    job = data.draw(jobs(max_files=5, runs=(1, 2)), label="job")
    stack = data.draw(stack_settings(), label="stack")
    faults = data.draw(fault_plans(job, stack, functions=FUNCTIONS, min_faults=1), label="faults")
    for fault in faults:
        assert set(fault.files or []) <= set(job.ids())
        limit = 1 if fault.function == "orchestrator" and job.invocation == "sync" else stack.function(
            fault.function).max_attempts
        assert all(1 <= attempt <= limit for attempt in fault.attempts or [])
        assert all(1 <= run <= job.runs for run in fault.runs or [])
        assert (fault.min_shard_size or 1) <= job.shard_size
        assert (fault.probability is None) == (fault.seed is None)
        if fault.kind in DEPLOYMENT_KINDS:
            assert fault.files is fault.attempts is fault.min_shard_size is fault.probability is None
    assert len(fault_plan(faults, "worker")) == len([fault for fault in faults if fault.function == "worker"])

    narrow = data.draw(fault_plans(job, stack, kinds=["timeout"], targeting=["files"], min_faults=1), label="narrow")
    assert {(fault.function, fault.kind) for fault in narrow} <= {("worker", "timeout"), ("error_handler", "timeout")}
    assert all(fault.attempts is fault.runs is fault.min_shard_size is fault.probability is None for fault in narrow)


@pytest.mark.parametrize("path", SHIPPED, ids=[path.stem for path in SHIPPED])
def test_predicted_expectations_agree_with_each_shipped_scenario(path: Path) -> None:
    scenario = load_scenario(path)
    if scenario.job is None:
        pytest.skip("no job runs")
    ids = scenario.file_ids()
    resolve = {"all": set(ids), "none": set(), "all_but_poison": set(ids) - set(scenario.poison_files())}
    database, reshard = predicted_expectations(scenario)
    predicted = database["database"]["loaded_exactly_once"]
    loaded = resolve[predicted] if isinstance(predicted, str) else set(predicted)
    for expectation in scenario.expect:
        if expectation.kind == "database":
            wanted = expectation.loaded_exactly_once
            assert loaded == (resolve[wanted] if isinstance(wanted, str) else set(wanted))
        if expectation.kind == "reshard" and expectation.quarantined is not None:
            assert reshard["reshard"]["quarantined"] == [file_id for file_id in ids if file_id in
                                                         set(expectation.quarantined)]
