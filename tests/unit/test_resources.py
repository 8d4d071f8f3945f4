"""`Resources` with several embedded LocalStacks: all started at once, each stack on the least busy one.

Fake LocalStacks stand in (nothing is started); `harness run -j 2` spreads its stacks this way.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import pytest

from harness.stack import resources as resources_module
from harness.stack.resources import MAX_LOCALSTACKS, Resources


class FakeLocalStack:
    made: list[FakeLocalStack] = []
    events: list[str] = []

    def __init__(self, quiet: bool = False) -> None:
        self.quiet, self.index = quiet, len(FakeLocalStack.made)
        FakeLocalStack.made.append(self)

    def spawn(self) -> None:
        FakeLocalStack.events.append(f"spawn {self.index}")

    def wait_started(self) -> str:
        FakeLocalStack.events.append(f"ready {self.index}")
        return f"http://127.0.0.1:{4000 + self.index}"

    def stop(self) -> None:
        FakeLocalStack.events.append(f"stop {self.index}")


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> type[FakeLocalStack]:
    FakeLocalStack.made, FakeLocalStack.events = [], []
    monkeypatch.delenv("HARNESS_ENDPOINT", raising=False)
    monkeypatch.setattr(resources_module, "EmbeddedLocalStack", FakeLocalStack)
    monkeypatch.setattr(Resources, "_start_database_quietly", lambda self: None)
    return FakeLocalStack


def test_several_localstacks_start_together_and_each_stack_goes_to_the_least_busy(fakes: Any) -> None:
    resources = Resources(localstacks=2, quiet=False)
    with ExitStack() as leases:
        first = leases.enter_context(resources.lease())
        second = leases.enter_context(resources.lease())
        assert {first, second} == {"http://127.0.0.1:4000", "http://127.0.0.1:4001"}
        # Both spawned before either is waited for: their start-ups overlap.
        assert fakes.events == ["spawn 0", "spawn 1", "ready 0", "ready 1"]
        assert [made.quiet for made in fakes.made] == [False, True]  # one says what it is, not both
        third = leases.enter_context(resources.lease())
    with resources.lease() as after:  # all three ended: the least busy is the first again
        assert after == "http://127.0.0.1:4000"
    with resources.lease() as held, resources.lease() as other:
        assert held != other
    assert third in (first, second)
    resources.close()
    assert fakes.events[-2:] == ["stop 0", "stop 1"]


def test_no_more_localstacks_than_the_cap(fakes: Any) -> None:
    resources = Resources(localstacks=MAX_LOCALSTACKS + 4)
    resources.endpoint()
    assert len(fakes.made) == MAX_LOCALSTACKS
    resources.close()


def test_one_localstack_by_default_and_none_when_attached(fakes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    resources = Resources()
    with resources.lease() as one, resources.lease() as two:
        assert one == two == "http://127.0.0.1:4000"
    resources.close()
    monkeypatch.setenv("HARNESS_ENDPOINT", "http://127.0.0.1:4566")
    attached = Resources(localstacks=2)
    with attached.lease() as endpoint:
        assert endpoint.url == "http://127.0.0.1:4566"
    assert attached.attached
    assert len(fakes.made) == 1


def test_spawn_starts_localstack_without_waiting_and_endpoint_waits_for_that_one(fakes: Any) -> None:
    resources = Resources(localstacks=2)
    resources.spawn()
    assert fakes.events == ["spawn 0", "spawn 1"]  # started, not waited for: the caller goes on meanwhile
    resources.spawn()  # again: nothing more
    assert resources.endpoint() == "http://127.0.0.1:4000"
    assert fakes.events == ["spawn 0", "spawn 1", "ready 0", "ready 1"]  # the spawned ones, not new ones
    resources.close()


def test_spawn_starts_nothing_when_a_localstack_is_attached(fakes: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources_module, "Endpoint", lambda url, allow_remote=None: url)
    resources = Resources(endpoint_url="http://127.0.0.1:4566")
    resources.spawn()
    assert resources.endpoint() == "http://127.0.0.1:4566" and fakes.events == []
