"""Template scenarios (a scenario naming `template:`): loaded and refused in the scenario's own words, and
every logical ID checked against the template before anything is deployed."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario import ScenarioError, TemplateScenario
from harness.scenario.loader import load_scenario, load_scenarios

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "order-handler"
HEAD = """name: own-template
description: a scenario on a template of one's own
template: ../template.yaml
invoke: {function: OrderHandlerFunction, event: {order_id: o-1, sku: S, quantity: 1}}
"""


def _write(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "scenarios"
    folder.mkdir(exist_ok=True)
    (tmp_path / "template.yaml").write_text((EXAMPLE / "template.yaml").read_text())
    path = folder / "s.yaml"
    path.write_text(text)
    return path


def test_the_examples_scenarios_load_as_template_scenarios() -> None:
    scenarios = load_scenarios([EXAMPLE / "scenarios"])
    assert len(scenarios) >= 3 and all(isinstance(s, TemplateScenario) for s in scenarios)
    assert scenarios[0].template_path() == (EXAMPLE / "template.yaml").resolve()


@pytest.mark.parametrize(("expectation", "says"), [
    ("- reshard: {shard_sizes_shrink: true}", "`reshard` belongs to the seed pipeline"),
    ("- database: {loaded_exactly_once: all}", "`database` belongs to the seed pipeline"),
    ("- sqs: {queue: Q}", "missing required key 'count'"),
    ("- sqs: {queue: Q, count: 1, min_count: 1}", "give either count (exactly) or min_count"),
    ("- alarm: {alarm: A}", "give transitions (states entered, in order), never (states not entered), or both"),
    ("- alarm: {alarm: A, transitions: [ALARM], never: [ALARM]}", "ALARM is both expected in transitions and never"),
])
def test_an_expectation_a_template_scenario_cannot_have_is_refused_at_its_line(
        tmp_path: Path, expectation: str, says: str) -> None:
    path = _write(tmp_path, HEAD + "expect:\n  " + expectation + "\n")
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    assert f"{path}:6:" in str(raised.value) and says in str(raised.value), str(raised.value)


def test_a_pipeline_fault_kind_is_refused_saying_why(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD + "faults:\n  - {function: OrderHandlerFunction, kind: bad_table}\n"
                  "expect:\n  - result: {status: 202}\n")
    with pytest.raises(ScenarioError, match=r"s.yaml:6:.*needs the seed pipeline's database"):
        load_scenario(path)


def test_a_kind_specific_setting_on_another_kind_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD + "faults:\n  - {function: OrderHandlerFunction, kind: timeout, exit_status: 3}\n"
                  "expect:\n  - result: {status: 202}\n")
    applies = r"unknown key 'exit_status': it only applies to kind: crash \(this is kind: timeout\)"
    with pytest.raises(ScenarioError, match=applies):
        load_scenario(path)


def test_stack_and_job_are_the_pipelines_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD + "job: {files: 1}\nexpect:\n  - result: {status: 202}\n")
    with pytest.raises(ScenarioError, match="`job` belongs to the seed pipeline's scenarios"):
        load_scenario(path)


def test_logical_ids_the_template_lacks_are_named_with_their_line_and_the_choices(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD.replace("OrderHandlerFunction", "OrderHandler") +
                  "expect:\n  - sqs: {queue: AcceptedOrders, count: 1}\n  - sns: {topic: AcceptedOrdersQueue, "
                  "count: 0}\n")
    (tmp_path / "template.yaml").write_text((EXAMPLE / "template.yaml").read_text())
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    problems = str(raised.value).splitlines()
    assert problems[0].startswith(f"{path}:4:") and "'OrderHandler' is not a function" in problems[0]
    assert "did you mean 'OrderHandlerFunction'?" in problems[0]
    assert any(p.startswith(f"{path}:6:") and "'AcceptedOrders' is not a SQS queue" in p for p in problems)
    assert any(p.startswith(f"{path}:7:") and "'AcceptedOrdersQueue' is not a topic" in p for p in problems)
    assert len([p for p in problems if p.startswith(str(path))]) == 3


def test_harness_run_template_overrides_the_scenarios_template(tmp_path: Path) -> None:
    scenario = load_scenarios([EXAMPLE / "scenarios"])[0]
    assert isinstance(scenario, TemplateScenario)
    assert scenario.template_path(tmp_path / "other.yaml") == (tmp_path / "other.yaml").resolve()


@pytest.mark.parametrize("age", [30, 30_000])
def test_a_maximum_event_age_outside_aws_range_is_not_refused(tmp_path: Path, age: int) -> None:
    # AWS: MaximumEventAgeInSeconds is 60 to 21,600, and MaximumRetryAttempts 0 to 2. The harness has no check of
    # its own for a template scenario (docs/aws-parity.md A8): it loads, and the model keeps the value.
    path = _write(tmp_path, HEAD + "expect:\n  - result: {status: 202}\n")
    template = tmp_path / "template.yaml"
    text = template.read_text()
    assert "MaximumEventAgeInSeconds: !Ref MaxEventAge" in text
    assert "MaximumRetryAttempts: !Ref MaxRetryAttempts" in text
    template.write_text(text.replace("MaximumEventAgeInSeconds: !Ref MaxEventAge", f"MaximumEventAgeInSeconds: {age}")
                        .replace("MaximumRetryAttempts: !Ref MaxRetryAttempts", "MaximumRetryAttempts: 3"))
    scenario = load_scenario(path)
    assert scenario.max_event_age("OrderHandlerFunction") == age
    assert scenario.max_attempts("OrderHandlerFunction") == 4
