"""Waiting for a deploy in the embedded LocalStack (`harness.localstack.control_plane`): the harness asks
once and LocalStack answers when the stack is no longer in progress, instead of a DescribeStacks every
20 ms; another LocalStack (no such route) is polled as before."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from harness import wire
from harness.services import Endpoint
from harness.services.embedded import free_port
from harness.stack import template as templates
from tests.integration.conftest import unique_name

# A function takes CloudFormation a while (Pending until Lambda has prepared its code): long enough for
# several polls of a DescribeStacks every 20 ms.
TEMPLATE = {
    "Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                    "Principal": {"Service": "lambda.amazonaws.com"}}]}}},
        "Function": {"Type": "AWS::Lambda::Function", "Properties": {
            "Runtime": "python3.13", "Handler": "index.handler", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
            "Code": {"ZipFile": "def handler(event, context):\n    return event\n"}}},
    },
}


class _Counting:
    """A CloudFormation client that counts its DescribeStacks calls (everything else passes through)."""

    def __init__(self, client: Any, endpoint_url: str | None = None) -> None:
        self.client = client
        self.describes = 0
        self.meta = SimpleNamespace(endpoint_url=endpoint_url or client.meta.endpoint_url,
                                    region_name=client.meta.region_name)

    def describe_stacks(self, **kwargs: Any) -> Any:
        self.describes += 1
        return self.client.describe_stacks(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


@pytest.fixture
def creating(aws: Callable[[str], Any]) -> Iterator[Callable[[], str]]:
    """Start creating a stack (without waiting); deleted afterwards."""
    cloudformation = aws("cloudformation")
    created: list[str] = []

    def create() -> str:
        stack_id: str = cloudformation.create_stack(StackName=unique_name("deploy-wait"),
                                                    TemplateBody=json.dumps(TEMPLATE),
                                                    Capabilities=list(templates.CAPABILITIES))["StackId"]
        created.append(stack_id)
        return stack_id

    yield create
    for stack_id in created:
        templates.delete(cloudformation, stack_id, 60)


def _route(endpoint: Endpoint, name: str, wait_s: float = 0) -> Any:
    url = f"{endpoint.url}{wire.STACKS}/{urllib.parse.quote(name, safe='')}?wait={wait_s}"
    with urllib.request.urlopen(url, timeout=wait_s + 30) as response:  # noqa: S310 (the test's LocalStack)
        return json.loads(response.read())["status"]


def test_a_deploy_is_waited_for_with_one_describe(aws: Callable[[str], Any], creating: Callable[[], str]) -> None:
    cloudformation = _Counting(aws("cloudformation"))
    stack = templates._wait(cloudformation, creating(), 60)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert cloudformation.describes == 1  # the stack's final description, once LocalStack said it was done


def test_without_the_route_the_deploy_is_polled(aws: Callable[[str], Any], creating: Callable[[], str]) -> None:
    """The test above can fail: a LocalStack that does not answer the route (here: nothing listens at the
    address the wait asks) is polled with DescribeStacks, and the stack is still waited for."""
    cloudformation = _Counting(aws("cloudformation"), endpoint_url=f"http://127.0.0.1:{free_port()}")
    stack = templates._wait(cloudformation, creating(), 60)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert cloudformation.describes > 1


def test_the_route_finds_a_stack_by_id_or_name_and_answers_none_for_no_stack(
        harness_endpoint: Endpoint, aws: Callable[[str], Any], creating: Callable[[], str]) -> None:
    stack_id = creating()
    assert _route(harness_endpoint, stack_id, wait_s=60) == "CREATE_COMPLETE"  # its ID, slashes encoded
    name = aws("cloudformation").describe_stacks(StackName=stack_id)["Stacks"][0]["StackName"]
    assert _route(harness_endpoint, name) == "CREATE_COMPLETE"
    assert _route(harness_endpoint, unique_name("no-such-stack")) is None
    assert _route(harness_endpoint, stack_id.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000") is None
