"""The embedded LocalStack's first requests to a service: none may find the service loaded before its
operations are routed (LocalStack 2026.3 answered such a request "501 no handler for operation")."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from localstack.aws.handlers.service_plugin import ServiceLoader
from localstack.services.plugins import Service

from harness.localstack import control_plane


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


def test_a_second_first_request_waits_for_the_services_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ServiceLoader, "require_service", ServiceLoader.require_service)  # restored afterwards
    control_plane._routes_before_loaded()
    router = _SlowRouter()
    assert _second_request_finds_routes(ServiceLoader(_Manager(), router), router)  # type: ignore[arg-type]


def test_localstacks_own_order_is_the_race(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test above can fail: unpatched, the second request passes before the routes are in."""
    router = _SlowRouter()
    assert not _second_request_finds_routes(ServiceLoader(_Manager(), router), router)  # type: ignore[arg-type]
