"""The `pipeline_stack` fixture tears its stacks down: discarded in a LocalStack the session started (it ends
with the session), deleted in one it attached to. Fakes stand in for the stack and the resources."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from harness import pytest_plugin
from harness.stack import pipeline


class FakeStack:
    made: list[FakeStack] = []

    def __init__(self, *_args: Any) -> None:
        self.discarded: bool | None = None
        FakeStack.made.append(self)

    def deploy(self) -> FakeStack:
        return self

    def teardown(self, discard: bool = False) -> None:
        self.discarded = discard


@pytest.mark.parametrize(("attached", "discarded"), [(False, True), (True, False)])
def test_the_fixture_discards_only_in_a_localstack_it_started(monkeypatch: pytest.MonkeyPatch, attached: bool,
                                                               discarded: bool) -> None:
    FakeStack.made = []
    monkeypatch.setattr(pipeline, "PipelineStack", FakeStack)
    monkeypatch.setattr(pytest_plugin, "_resources", lambda config: SimpleNamespace(attached=attached))
    fixture = pytest_plugin.pipeline_stack.__wrapped__(SimpleNamespace(config=None), "http://127.0.0.1:1",
                                                       "postgresql://nobody@127.0.0.1:1/none")
    deploy = next(fixture)
    deploy("one")
    deploy("two")
    with pytest.raises(StopIteration):
        next(fixture)
    assert [stack.discarded for stack in FakeStack.made] == [discarded, discarded]
