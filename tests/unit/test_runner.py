"""`run_scenario` around a stack that fails to deploy: torn down, and the deploy's real time reported.

A fake stack stands in for LocalStack, so nothing is started here.
"""

from __future__ import annotations

import time
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
    def endpoint(self) -> str:
        return "http://127.0.0.1:1"

    def database_url(self) -> str:
        return "postgresql://nobody@127.0.0.1:1/none"

    def platform(self) -> Platform:
        return Platform(1.0, "unit test")


class FailingStack:
    made: list[FailingStack] = []

    def __init__(self, endpoint: Any, database_url: str, config: Any) -> None:
        self.torn_down = False
        FailingStack.made.append(self)

    def deploy(self) -> FailingStack:
        time.sleep(0.2)
        raise DeployError("function worker: LocalStack said no")

    def teardown(self) -> None:
        self.torn_down = True


def test_a_failed_deploy_is_torn_down_and_reports_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "PipelineStack", FailingStack)
    FailingStack.made.clear()
    result = runner.run_scenario(SCENARIO, FakeResources())  # type: ignore[arg-type]
    (stack,) = FailingStack.made
    assert stack.torn_down
    assert not result.passed
    assert result.deploy_seconds >= 0.2
    assert result.seconds >= result.deploy_seconds
    assert result.error is not None
    assert result.error.startswith("deploy failed after 0.")
    assert result.error.endswith("DeployError: function worker: LocalStack said no")


def test_keep_stack_leaves_a_failed_deploy_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "PipelineStack", FailingStack)
    FailingStack.made.clear()
    runner.run_scenario(SCENARIO, FakeResources(), keep_stack=True)  # type: ignore[arg-type]
    assert not FailingStack.made[0].torn_down
