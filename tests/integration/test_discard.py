"""A stack in a LocalStack the harness started is discarded, not deleted (`TemplateStack.teardown(discard=True)`):
its functions' environments end and its clock goes, the rest stays for LocalStack's end; a stack fed by an event
source mapping is deleted all the same, since its poller would go on."""

from __future__ import annotations

import json
from pathlib import Path

import psutil

from harness.stack.pipeline import unique_prefix
from harness.stack.template_stack import TemplateStack
from harness.waiting import wait_for

FUNCTION = """Transform: AWS::Serverless-2016-10-31
Resources:
  Pid:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: index.handler
      Timeout: 5
      InlineCode: |
        import os
        def handler(event, context):
            return os.getpid()
"""

FED_BY_A_QUEUE = FUNCTION + """      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
  Work:
    Type: AWS::SQS::Queue
"""


def _deployed(endpoint, database_url, tmp_path: Path, text: str, hint: str) -> TemplateStack:
    path = tmp_path / f"{hint}.yaml"
    path.write_text(text)
    stack = TemplateStack(endpoint, database_url, unique_prefix(hint), path, {})
    stack.deploy_stack()
    return stack


def test_a_discarded_stack_stops_its_environments_and_keeps_its_resources(harness_endpoint, harness_database_url,
                                                                          tmp_path):
    stack = _deployed(harness_endpoint, harness_database_url, tmp_path, FUNCTION, "discard")
    lam = stack.client("lambda")
    name = stack.physical["Pid"]
    pid = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert psutil.pid_exists(pid)
    stack.teardown(discard=True)

    def ended() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_for(lambda: ended(), bool, deadline_s=10, interval_s=0.05, what=f"the end of {name}'s environment")
    assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name  # left to LocalStack's end
    statuses = [s["StackStatus"] for s in stack.client("cloudformation").describe_stacks()["Stacks"]
                if s["StackName"] == stack.prefix]
    assert statuses == ["CREATE_COMPLETE"]


def test_a_stack_fed_by_an_event_source_mapping_is_deleted_even_when_discarded(harness_endpoint,
                                                                                harness_database_url, tmp_path):
    stack = _deployed(harness_endpoint, harness_database_url, tmp_path, FED_BY_A_QUEUE, "discard-esm")
    name = stack.physical["Pid"]
    stack.teardown(discard=True)
    functions = [f["FunctionName"] for f in stack.client("lambda").list_functions()["Functions"]]
    assert name not in functions
    assert not stack.client("lambda").list_event_source_mappings().get("EventSourceMappings", []) or all(
        mapping.get("FunctionArn", "").split(":function:")[-1] != name
        for mapping in stack.client("lambda").list_event_source_mappings()["EventSourceMappings"])


NAMED = FUNCTION + """  Named:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "named-${AWS::StackName}"
      Runtime: python3.13
      Handler: index.handler
      InlineCode: |
        def handler(event, context):
            return 1
"""


def test_a_discarded_stack_takes_its_functions_fault_plans_with_it(harness_endpoint, harness_database_url,
                                                                   tmp_path):
    from harness import wire

    path = tmp_path / "named.yaml"
    path.write_text(NAMED)
    stack = TemplateStack(harness_endpoint, harness_database_url, unique_prefix("discard-plans"), path, {}).deploy()
    names = [stack.physical["Pid"], stack.physical["Named"]]
    assert not names[1].startswith(f"{stack.prefix}-")  # its plan is not the stack's by name: the harness drops it

    def plan(name: str) -> bool:
        answer = wire.call(harness_endpoint.url, wire.FAULTS, "GET", name, answered=(404,))
        assert answer is not None  # the harness's LocalStack has the route
        return "error" not in answer

    assert [plan(name) for name in names] == [True, True]
    stack.teardown(discard=True)
    assert [plan(name) for name in names] == [False, False]
