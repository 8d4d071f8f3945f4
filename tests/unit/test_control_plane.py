"""The embedded LocalStack's first requests to a service: none may find the service loaded before its
operations are routed (LocalStack 2026.3 answered such a request "501 no handler for operation")."""

from __future__ import annotations

import os
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from localstack.aws.handlers.service_plugin import ServiceLoader
from localstack.services.plugins import Service

from harness.localstack import control_plane, patches


@pytest.fixture
def harness_patch() -> Any:
    """Apply the harness's patches (`harness.localstack.patches.patch_list`) that install the given functions
    of control_plane, as LocalStack's launch does; undone after the test."""
    applied: list[Any] = []

    def apply(*functions: Any) -> None:
        found = [p for p in patches.patch_list() if getattr(p.new, "__subject__", p.new) in functions]
        assert len(found) == len(functions), f"not in the patch list: {functions}"
        for patch in found:
            patch.apply()
            applied.append(patch)

    yield apply
    for patch in reversed(applied):
        patch.undo()


class _SlowRouter:
    def __init__(self) -> None:
        self.routed = threading.Event()

    def add_skeleton(self, skeleton: Any) -> None:
        time.sleep(0.3)  # adding a service's many operations takes a while
        self.routed.set()


class _FakeService(Service):
    def __init__(self) -> None:  # no LocalStack provider behind it
        self.skeleton = object()


class _Manager:
    def exists(self, name: str) -> bool:
        return True

    def require(self, name: str) -> Service:
        return _FakeService()


def _second_request_finds_routes(loader: ServiceLoader, router: _SlowRouter) -> bool:
    context = SimpleNamespace(service=SimpleNamespace(service_name="sqs"))
    first = threading.Thread(target=loader.require_service, args=(None, context, None))
    first.start()
    time.sleep(0.1)  # the first request is adding the routes now
    loader.require_service(None, context, None)
    routed = router.routed.is_set()
    first.join()
    return routed


def test_a_second_first_request_waits_for_the_services_routes(harness_patch: Any) -> None:
    harness_patch(control_plane.require_service)
    router = _SlowRouter()
    assert _second_request_finds_routes(ServiceLoader(_Manager(), router), router)  # type: ignore[arg-type]


def test_localstacks_own_order_is_the_race(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test above can fail: unpatched, the second request passes before the routes are in."""
    router = _SlowRouter()
    assert not _second_request_finds_routes(ServiceLoader(_Manager(), router), router)  # type: ignore[arg-type]


# -- a function's state from Lambda's store, not a GetFunction every 20 ms --------------------------------

def _recorder(state_of: Any) -> Any:
    """Stands in for LocalStack's LambdaFunctionProvider.create: records the state it was called in."""
    from localstack.services.lambda_.resource_providers import aws_lambda_function

    def create(provider: Any, request: Any) -> str:
        create.seen.append(state_of())  # type: ignore[attr-defined]
        return "answer"

    create.seen = []  # type: ignore[attr-defined]
    # Where LocalStack's own method is, so that the harness's patch finds its target there.
    create.__module__, create.__qualname__ = aws_lambda_function.__name__, "LambdaFunctionProvider.create"
    return create


def _function_in_store(name: str, state: str) -> SimpleNamespace:
    from localstack.services.lambda_.invocation.models import lambda_stores

    version = SimpleNamespace(config=SimpleNamespace(state=SimpleNamespace(state=state)))
    function = SimpleNamespace(versions={"$LATEST": version})
    lambda_stores["000000000000"]["us-east-1"].functions[name] = function  # type: ignore[assignment]
    return version


def _repeated_call(name: str) -> SimpleNamespace:
    from localstack.services.lambda_.resource_providers.aws_lambda_function import REPEATED_INVOCATION

    return SimpleNamespace(custom_context={REPEATED_INVOCATION: True}, desired_state={"FunctionName": name},
                           account_id="000000000000", region_name="us-east-1")


def test_cloudformations_poll_of_a_pending_function_waits_for_its_state_in_the_store(
        monkeypatch: pytest.MonkeyPatch, harness_patch: Any) -> None:
    from localstack.aws.api.lambda_ import State
    from localstack.services.lambda_.invocation.models import lambda_stores
    from localstack.services.lambda_.resource_providers.aws_lambda_function import LambdaFunctionProvider

    name = "control-plane-test-fn"
    version = _function_in_store(name, State.Pending)
    recorder = _recorder(lambda: str(version.config.state.state))
    monkeypatch.setattr(LambdaFunctionProvider, "create", recorder)
    monkeypatch.setattr(control_plane, "FUNCTION_WAIT_S", 60.0)  # the test's outcome must not hang on timing
    harness_patch(control_plane.create_function)
    try:
        # Lambda makes the function Active a moment later, as its version manager does.
        threading.Timer(0.2, lambda: setattr(version.config.state, "state", State.Active)).start()
        assert LambdaFunctionProvider.create(None, _repeated_call(name)) == "answer"  # type: ignore[arg-type]
        assert recorder.seen == [State.Active]  # asked once, when there was something new to see
        # The first call (which creates the function) does not wait.
        version.config.state.state = State.Pending
        first = SimpleNamespace(**{**vars(_repeated_call(name)), "custom_context": {}})
        LambdaFunctionProvider.create(None, first)  # type: ignore[arg-type]
        assert recorder.seen[-1] == State.Pending
    finally:
        lambda_stores["000000000000"]["us-east-1"].functions.pop(name, None)


def test_a_function_that_stays_pending_is_asked_again_after_the_cap(monkeypatch: pytest.MonkeyPatch,
                                                                    harness_patch: Any) -> None:
    """A function Lambda never makes Active stays LocalStack's to time out: each poll waits at most the cap."""
    from localstack.aws.api.lambda_ import State
    from localstack.services.lambda_.invocation.models import lambda_stores
    from localstack.services.lambda_.resource_providers.aws_lambda_function import LambdaFunctionProvider

    name = "control-plane-test-stuck"
    version = _function_in_store(name, State.Pending)
    recorder = _recorder(lambda: str(version.config.state.state))
    monkeypatch.setattr(LambdaFunctionProvider, "create", recorder)
    monkeypatch.setattr(control_plane, "FUNCTION_WAIT_S", 0.05)
    harness_patch(control_plane.create_function)
    try:
        LambdaFunctionProvider.create(None, _repeated_call(name))  # type: ignore[arg-type]
        assert recorder.seen == [State.Pending]
    finally:
        lambda_stores["000000000000"]["us-east-1"].functions.pop(name, None)


# -- Lambda's tasks: a new function's preparation does not queue behind stops -----------------------------

def _prepared_while_stops_block(service: Any) -> bool:
    """Fill Lambda's task pool with stops that block (an event manager waiting for its poller's long
    poll), then submit a version's preparation: does it run before the stops end?"""
    stops_end = threading.Event()
    try:
        # More stops than LocalStack's pool has threads (cores + 4): a teardown of a few stacks stops an event
        # manager and a version manager per function.
        for _ in range((os.cpu_count() or 1) + 6):
            service.task_executor.submit(stops_end.wait, 30)
        prepared = service.task_executor.submit(lambda: "prepared")
        try:
            return prepared.result(timeout=5) == "prepared"
        except TimeoutError:
            return False
    finally:
        stops_end.set()
        service.task_executor.shutdown(wait=True)


def test_a_new_functions_preparation_does_not_wait_for_stops(harness_patch: Any) -> None:
    from localstack.services.lambda_.invocation.lambda_service import LambdaService

    harness_patch(control_plane.task_pool)
    assert _prepared_while_stops_block(LambdaService())


def test_localstacks_own_pool_queues_it_behind_them() -> None:
    """The test above can fail: LocalStack's pool (cores + 4 threads) is the cause."""
    from localstack.services.lambda_.invocation.lambda_service import LambdaService

    assert not _prepared_while_stops_block(LambdaService())


def _event_manager() -> Any:
    from localstack.services.lambda_.invocation.event_manager import LambdaEventManager

    function_id = SimpleNamespace(function_name=f"fn-{os.getpid()}-{time.monotonic_ns()}", qualifier="$LATEST",
                                  account="000000000000", region="us-east-1",
                                  qualified_arn=lambda: "arn:aws:lambda:us-east-1:000000000000:function:fn")
    version = SimpleNamespace(id=function_id, config=SimpleNamespace(timeout=3),
                              qualified_arn="arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST")
    manager = LambdaEventManager(SimpleNamespace(function_version=version,  # type: ignore[arg-type]
                                                 function=SimpleNamespace(instance_id=str(time.monotonic_ns()))))
    manager.start()
    return manager


def _seconds_to_stop(manager: Any, stop: str) -> tuple[float, Any]:
    """Wait until the event manager's poller is inside its 2 s long poll, then stop the manager (`stop`, or
    `stop_for_update`): the seconds that took, and the queue object (the poller's thread has ended)."""
    from localstack.services.lambda_.invocation.internal_sqs_queue import get_fake_sqs_client

    queue = get_fake_sqs_client().queue_manager.queues[manager.event_queue_url]
    thread = manager.poller_thread
    deadline = time.monotonic() + 5
    while not queue.visible.not_empty._waiters:  # the poller is not yet waiting in its receive
        assert time.monotonic() < deadline, "the poller never started its long poll"
        time.sleep(0.005)
    started = time.monotonic()
    getattr(manager, stop)()
    took = time.monotonic() - started
    thread.join(3.0)
    return took, queue


def _patched(harness_patch: Any) -> None:
    harness_patch(control_plane.event_manager_stop, control_plane.poller_stop)


def test_a_deleted_functions_poller_stops_at_once(harness_patch: Any) -> None:
    _patched(harness_patch)
    took, _ = _seconds_to_stop(_event_manager(), "stop")
    assert took < 0.5, f"stopping the event manager took {took:.2f} s"


def test_localstacks_own_stop_waits_out_the_long_poll() -> None:
    """The test above can fail: unpatched, stopping the manager waits for its poller's poll (up to 2 s)."""
    took, _ = _seconds_to_stop(_event_manager(), "stop")
    assert took >= 0.9


def test_a_stop_that_keeps_the_queue_leaves_it_taking_events(harness_patch: Any) -> None:
    """An update stops the poller but keeps its queue for the next one: the queue must not be shut."""
    from localstack.services.lambda_.invocation.internal_sqs_queue import get_fake_sqs_client

    _patched(harness_patch)
    manager = _event_manager()
    _, queue = _seconds_to_stop(manager, "stop_for_update")
    client = get_fake_sqs_client()
    client.send_message(QueueUrl=queue.name, MessageBody="{}")
    received = client.receive_message(QueueUrl=queue.name, WaitTimeSeconds=1, MaxNumberOfMessages=1)
    assert len(received.get("Messages", [])) == 1
    client.delete_queue(QueueUrl=queue.name)
