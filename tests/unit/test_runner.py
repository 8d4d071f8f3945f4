"""`run_scenario` around a stack that fails to deploy: torn down, and the deploy's real time reported.

A fake stack stands in for LocalStack, so nothing is started here.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from harness import runner
from harness.model.platform import Platform
from harness.scenario import Scenario
from harness.stack.pipeline import DeployError

SCENARIO = Scenario.model_validate({
    "name": "deploy-fails",
    "description": "the stack cannot be deployed",
    "job": {"files": 2},
    "expect": [{"database": {"loaded_exactly_once": "all"}}],
})


class FakeResources:
    attached = True  # a LocalStack someone else runs: stacks are deleted, not discarded

    def endpoint(self) -> str:
        return "http://127.0.0.1:1"

    @contextlib.contextmanager
    def lease(self) -> Iterator[str]:
        yield self.endpoint()

    def database_url(self) -> str:
        return "postgresql://nobody@127.0.0.1:1/none"

    def platform(self) -> Platform:
        return Platform("unit test")


class FailingStack:
    made: list[FailingStack] = []

    def __init__(self, *_args: Any) -> None:
        self.torn_down = False
        FailingStack.made.append(self)

    def deploy(self) -> FailingStack:
        time.sleep(0.2)
        raise DeployError("function worker: LocalStack said no")

    def teardown(self, discard: bool = False) -> None:
        self.torn_down, self.discarded = True, discard


def test_a_failed_deploy_is_torn_down_and_reports_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "build_stack_at", FailingStack)
    FailingStack.made.clear()
    result = runner.run_scenario(SCENARIO, FakeResources())  # type: ignore[arg-type]
    (stack,) = FailingStack.made
    assert stack.torn_down and not stack.discarded
    assert not result.passed
    assert result.deploy_seconds >= 0.2
    assert result.seconds >= result.deploy_seconds
    assert result.error is not None
    assert result.error.startswith("deploy failed after 0.")
    assert result.error.endswith("DeployError: function worker: LocalStack said no")


def test_a_stack_in_a_localstack_the_harness_started_is_discarded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "build_stack_at", FailingStack)
    monkeypatch.setattr(FakeResources, "attached", False)
    FailingStack.made.clear()
    runner.run_scenario(SCENARIO, FakeResources())  # type: ignore[arg-type]
    assert FailingStack.made[0].torn_down and FailingStack.made[0].discarded


def test_keep_stack_leaves_a_failed_deploy_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "build_stack_at", FailingStack)
    FailingStack.made.clear()
    runner.run_scenario(SCENARIO, FakeResources(), keep_stack=True)  # type: ignore[arg-type]
    assert not FailingStack.made[0].torn_down


@pytest.mark.timeout(30)
def test_the_engine_polls_through_progress_so_a_caller_can_stop_a_long_check(monkeypatch: pytest.MonkeyPatch) -> None:
    # `harness run -j` stops a running scenario by raising from its progress callback (on Ctrl-C); the
    # expectations' wait (up to max_wait_seconds) must pass through it, and the stack must still go.
    stacks: list[Any] = []

    class Stack:
        def __init__(self, *_args: Any) -> None:
            self.torn_down = False
            stacks.append(self)

        def deploy(self) -> Stack:
            return self

        def teardown(self, discard: bool = False) -> None:
            self.torn_down = True

    class Stop(Exception):
        pass

    def evaluate(scenario: Scenario, observations: Any, *, sleep: Any) -> Any:
        while True:  # an expectation that would wait for its deadline
            sleep(0.001)

    steps: list[str] = []

    def progress(step: str) -> None:
        steps.append(step)
        if steps.count("checking expectations") > 3:
            raise Stop

    no_job = SCENARIO.model_copy(update={"job": None})
    monkeypatch.setattr(runner, "build_stack_at", Stack)
    monkeypatch.setattr(runner, "evaluate", evaluate)
    from harness.records import ClockReading

    class Observations:
        started_at = 0.0

        def reading(self) -> ClockReading:
            return ClockReading(now=0.0, busy=None)

    monkeypatch.setattr(runner, "observe_stack", lambda scenario, stack, platform: Observations())
    with pytest.raises(Stop):
        runner.run_scenario(no_job, FakeResources(), progress)  # type: ignore[arg-type]
    assert steps[:2] == ["deploying", "checking expectations"] and stacks[0].torn_down


def test_a_template_named_by_the_scenario_is_found_next_to_it_and_overridden_by_the_command_line(
        tmp_path: Any) -> None:
    from harness.scenario.loader import load_scenario
    from harness.stack.template import PIPELINE_TEMPLATE

    path = tmp_path / "own.yaml"
    path.write_text("name: own\ndescription: own template\nstack:\n  template: deploy/template.yaml\n"
                    "job: {files: 1}\nexpect:\n  - database: {loaded_exactly_once: all}\n")
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "template.yaml").write_text(PIPELINE_TEMPLATE.read_text())
    scenario = load_scenario(path)
    assert scenario.template_path() == (tmp_path / "deploy" / "template.yaml").resolve()
    assert scenario.template_path(tmp_path / "cli.yaml") == (tmp_path / "cli.yaml").resolve()
    assert SCENARIO.template_path() == PIPELINE_TEMPLATE


def test_a_template_that_is_not_there_is_refused_before_deploy_naming_its_line(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from harness.scenario import ScenarioError
    from harness.scenario.loader import load_scenario

    path = tmp_path / "own.yaml"
    path.write_text("name: own\ndescription: own template\nstack:\n  template: nowhere.yaml\n"
                    "job: {files: 1}\nexpect:\n  - database: {loaded_exactly_once: all}\n")
    with pytest.raises(ScenarioError) as refused:  # by `harness validate` too
        load_scenario(path)
    assert f"{path}:4:13: stack.template: no such template {tmp_path / 'nowhere.yaml'}" in str(refused.value)
    # A scenario built otherwise is refused by the runner before anything is deployed.
    FailingStack.made.clear()
    monkeypatch.setattr(runner, "build_stack_at", FailingStack)
    built = Scenario.model_validate({"name": "own", "description": "own template", "job": {"files": 1},
                                     "stack": {"template": "nowhere.yaml"},
                                     "expect": [{"database": {"loaded_exactly_once": "all"}}]})
    result = runner.run_scenario(built, FakeResources())  # type: ignore[arg-type]
    assert result.error is not None and "stack.template: no such template" in result.error, result.error
    assert FailingStack.made == []  # nothing deployed


def test_stack_parameters_reach_the_template_but_may_not_override_a_setting() -> None:
    from types import SimpleNamespace

    from harness.scenario import StackSettings
    from harness.stack.pipeline import PipelineStack

    def stack(parameters: dict[str, str]) -> PipelineStack:
        return PipelineStack(SimpleNamespace(url="http://127.0.0.1:1"), "postgresql://u@h/d", "p",  # type: ignore[arg-type]
                             StackSettings.model_validate({"parameters": parameters}))

    assert stack({"LogLevel": "DEBUG"}).parameters()["LogLevel"] == "DEBUG"
    with pytest.raises(DeployError, match="WorkerTimeout come from the stack settings"):
        stack({"WorkerTimeout": "9"}).parameters()
