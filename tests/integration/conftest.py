"""Fixtures for integration tests: clients of the session's LocalStack and a deploy helper."""

from __future__ import annotations

import json
import re
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from harness import wire
from harness.services import Endpoint
from harness.stack.lambda_api import wait_active, zip_sources

pytestmark = pytest.mark.integration

TRUST_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def aws(harness_endpoint: Endpoint) -> Callable[[str], Any]:
    cache: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in cache:
            cache[service] = harness_endpoint.client(service)
        return cache[service]

    return client


@pytest.fixture(scope="session")
def lambda_role(aws: Callable[[str], Any]) -> str:
    name = f"harness-test-role-{uuid.uuid4().hex[:8]}"
    return aws("iam").create_role(RoleName=name, AssumeRolePolicyDocument=TRUST_POLICY)["Role"]["Arn"]


def unique_name(hint: str) -> str:
    return f"{re.sub(r'[^A-Za-z0-9-]', '-', hint)[:40]}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def deploy(aws: Callable[[str], Any], lambda_role: str, harness_endpoint: Endpoint,
           request: pytest.FixtureRequest) -> Iterator[Callable[..., str]]:
    """Deploy a function from Python source (``handler.py``) and wait until it is Active. Each function is a
    stack of its own to the harness's LocalStack (its clock, on which its retries and Timeouts are timed, as
    a scenario's stack is registered): `clocks` moves those clocks over idle time."""
    created: list[str] = []
    lam = aws("lambda")

    def _deploy(source: str, *, runtime: str = "python3.13", timeout: int = 3, memory: int = 128,
                env: dict[str, str] | None = None, files: dict[str, str] | None = None,
                handler: str = "handler.handler", wait: bool = True, **extra: Any) -> str:
        name = unique_name(request.node.name)
        wire.call(harness_endpoint.url, wire.STACKS, "PUT", name)
        code = {"handler.py": textwrap.dedent(source), **(files or {})}
        lam.create_function(
            FunctionName=name, Runtime=runtime, Role=lambda_role, Handler=handler,
            Code={"ZipFile": zip_sources(code)}, Timeout=timeout, MemorySize=memory,
            Environment={"Variables": env or {}}, **extra,
        )
        created.append(name)
        if wait:
            wait_active(lam, name)
        return name

    _deploy.names = created  # type: ignore[attr-defined]
    yield _deploy
    for name in created:
        wire.call(harness_endpoint.url, wire.STACKS, "DELETE", name)
        try:
            lam.delete_function(FunctionName=name)
        except lam.exceptions.ResourceNotFoundException:
            pass
        except ClientError as error:
            # LocalStack cannot delete a function whose version failed to prepare; it holds no process.
            if "Unable to find version manager" not in str(error):
                raise


class Clocks:
    """The clocks of the functions `deploy` made, moved as the harness's engine moves a stack's: whenever none
    of a function's code runs, to its next wake-up (a retry falling due, the end of a Timeout)."""

    def __init__(self, endpoint: Endpoint, names: list[str]) -> None:
        self.endpoint, self.names = endpoint, names

    def state(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = wire.call(self.endpoint.url, wire.CLOCK, "GET", name)
        return found

    def run_until(self, condition: Callable[[], Any], *, deadline_s: float = 30.0, what: str = "the condition") -> Any:
        """Move every idle clock to its next wake-up until `condition()` gives something true (returned); fails
        after `deadline_s` of wall time naming `what`."""
        deadline = time.monotonic() + deadline_s
        while not (found := condition()):
            assert time.monotonic() < deadline, f"{what} did not happen within {deadline_s:g} s of wall time"
            moved = False
            for name in self.names:
                state = self.state(name)
                if not state["busy"] and state["timers"]:
                    due = min(float(timer["due"]) for timer in state["timers"])
                    wire.call(self.endpoint.url, wire.CLOCK, "POST", name, {"until": due}, answered=(409,))
                    moved = True
            if not moved:
                time.sleep(0.05)
        return found


@pytest.fixture
def clocks(deploy: Any, harness_endpoint: Endpoint) -> Clocks:
    return Clocks(harness_endpoint, deploy.names)


def invoke(lam: Any, name: str, event: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    """Synchronous invoke; returns (response metadata, decoded JSON payload)."""
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}), **kwargs)
    body = response["Payload"].read()
    return response, json.loads(body) if body else None


@pytest.fixture
def queue(aws: Callable[[str], Any]) -> Iterator[Callable[[str], tuple[str, str]]]:
    """Create SQS queues; returns (url, arn) and deletes them afterwards."""
    sqs = aws("sqs")
    urls: list[str] = []

    def _queue(hint: str) -> tuple[str, str]:
        url = sqs.create_queue(QueueName=unique_name(hint))["QueueUrl"]
        urls.append(url)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    yield _queue
    for url in urls:
        sqs.delete_queue(QueueUrl=url)
