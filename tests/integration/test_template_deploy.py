"""The pipeline deployed from lambdas/template.yaml through LocalStack's CloudFormation: what is deployed is
what the template says, faults or not, and a broken template fails before any job runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from harness.scenario import Fault, StackSettings
from harness.stack import template as templates
from harness.stack.pipeline import DeployError, PipelineStack, unique_prefix

TEMPLATE = templates.load(templates.PIPELINE_TEMPLATE)
FUNCTION_IDS = {"orchestrator": "OrchestratorFunction", "worker": "WorkerFunction",
                "error_handler": "ErrorHandlerFunction"}


def _resolve(value: Any, parameters: dict[str, str], physical: dict[str, str], stack_name: str) -> Any:
    """The template's value with Ref, Fn::Sub and Fn::GetAtt resolved as CloudFormation resolves them."""
    if isinstance(value, list):
        return [_resolve(item, parameters, physical, stack_name) for item in value]
    if isinstance(value, dict):
        if "Ref" in value:
            return parameters[value["Ref"]] if value["Ref"] in parameters else physical[value["Ref"]]
        if "Fn::Sub" in value:
            return str(value["Fn::Sub"]).replace("${AWS::StackName}", stack_name)
        if "Fn::GetAtt" in value:
            logical, attribute = value["Fn::GetAtt"]
            assert attribute == "TopicName", attribute
            return physical[logical].rsplit(":", 1)[-1]
        return {key: _resolve(item, parameters, physical, stack_name) for key, item in value.items()}
    return value


def _faults(*specs: dict[str, Any]) -> list[Any]:
    adapter = TypeAdapter(Fault)
    return [adapter.validate_python(spec) for spec in specs]


def test_deployed_functions_are_exactly_what_the_template_says_even_with_faults(pipeline_stack):
    stack = pipeline_stack("as-template", faults=_faults(
        {"function": "worker", "kind": "timeout"}, {"function": "error_handler", "kind": "exception"},
        {"function": "orchestrator", "kind": "bad_input"}))
    cloudformation, lam = stack.client("cloudformation"), stack.client("lambda")
    physical = templates.physical_ids(cloudformation, stack.stack_id)
    parameters = {name: str(spec.get("Default")) for name, spec in TEMPLATE.parameters.items()}
    parameters.update(stack.parameters())
    globals_ = TEMPLATE.body["Globals"]["Function"]
    for logical, resource_id in FUNCTION_IDS.items():
        declared = _resolve(TEMPLATE.resources[resource_id]["Properties"], parameters, physical, stack.prefix)
        deployed = lam.get_function_configuration(FunctionName=stack.function_name(logical))
        assert deployed["FunctionName"] == declared["FunctionName"] == physical[resource_id]
        assert deployed["Handler"] == globals_["Handler"]
        assert deployed["Runtime"] == globals_["Runtime"]
        assert deployed["Timeout"] == int(declared["Timeout"])
        assert deployed["MemorySize"] == int(declared["MemorySize"])
        assert deployed["Environment"]["Variables"] == {k: str(v) for k, v in
                                                        declared["Environment"]["Variables"].items()}
        if "DeadLetterQueue" in declared:
            assert deployed["DeadLetterConfig"] == {"TargetArn": declared["DeadLetterQueue"]["TargetArn"]}
        else:
            assert not deployed.get("DeadLetterConfig", {}).get("TargetArn")
        invoke_config = lam.get_function_event_invoke_config(FunctionName=stack.function_name(logical))
        assert invoke_config["MaximumRetryAttempts"] == int(declared["EventInvokeConfig"]["MaximumRetryAttempts"])
        # Nothing of the harness in the deployed configuration: the faults live in the executor only.
        assert not any(k.startswith("HARNESS_") for k in deployed["Environment"]["Variables"])
    # The faults are registered, and do act: the orchestrator gets a malformed event in place of the job.
    answer = stack.run_job({"job_id": "j", "file_ids": ["f-1"], "shard_size": 1})
    assert answer["function_error"] == "Unhandled" and "invalid event" in json.dumps(answer["body"]), answer


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / "template.yaml"
    source = templates.PIPELINE_TEMPLATE.read_text()
    assert old in source
    path.write_text(source.replace(old, new, 1))
    for function in FUNCTION_IDS:
        (tmp_path / function).symlink_to(templates.PIPELINE_TEMPLATE.parent / function)
    return path


def _deploy_fails(endpoint: Any, database_url: str, template_path: Path) -> str:
    stack = PipelineStack(endpoint, database_url, unique_prefix("broken"), template_path=template_path)
    try:
        with pytest.raises(DeployError) as raised:
            stack.deploy()
    finally:
        stack.teardown()
    cloudformation = stack.client("cloudformation")
    # LocalStack 2026.3's engine cannot delete a stack whose creation failed (DELETE_FAILED stays on record);
    # the harness then deletes the created resources itself, which the checks below look for.
    alive = [s["StackName"] for s in cloudformation.describe_stacks()["Stacks"] if s["StackName"] == stack.prefix
             and s["StackStatus"] not in ("DELETE_COMPLETE", "DELETE_FAILED")]
    assert alive == [], ("a failed deploy is torn down", str(raised.value))
    # (LocalStack 2026.3 cannot delete a function it marked Failed; such a function runs nothing.)
    lam = stack.client("lambda")
    assert not [f for f in lam.list_functions()["Functions"] if f["FunctionName"].startswith(stack.prefix)
                and lam.get_function_configuration(FunctionName=f["FunctionName"])["State"] != "Failed"], \
        "no function of a failed deploy is left"
    assert not [t for t in stack.client("sns").list_topics()["Topics"] if f":{stack.prefix}-" in t["TopicArn"]], \
        "no topic of a failed deploy is left"
    assert not stack.client("sqs").list_queues(QueueNamePrefix=stack.prefix).get("QueueUrls"), "no tap is left"
    assert not [r for r in stack.client("iam").list_roles()["Roles"] if r["RoleName"].startswith(stack.prefix)]
    return str(raised.value)


def test_a_dead_letter_target_that_does_not_exist_fails_the_deploy_naming_the_resource(
        harness_endpoint, harness_database_url, tmp_path):
    path = _broken(tmp_path, "TargetArn: !Ref DlqTopic",
                   'TargetArn: !Sub "arn:aws:sns:${AWS::Region}:${AWS::AccountId}:no-such-topic"')
    message = _deploy_fails(harness_endpoint, harness_database_url, path)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if text == "  WorkerFunction:")
    assert f"{path}:{line}: resource WorkerFunction" in message, message
    assert "DeadLetterConfig target arn:aws:sns:us-east-1:000000000000:no-such-topic does not exist" in message


def test_a_resource_cloudformation_cannot_create_fails_the_deploy_with_its_reason(
        harness_endpoint, harness_database_url, tmp_path):
    # A runtime cfn-lint accepts and the harness's executor cannot serve: Lambda marks the function Failed.
    path = _broken(tmp_path, "Runtime: python3.13", "Runtime: python3.14")
    message = _deploy_fails(harness_endpoint, harness_database_url, path)
    assert "resource OrchestratorFunction (AWS::Lambda::Function)" in message or \
        "resource WorkerFunction (AWS::Lambda::Function)" in message, message
    assert "python3.14" in message, message


def test_a_code_uri_that_does_not_exist_fails_before_cloudformation_is_asked(
        harness_endpoint, harness_database_url, tmp_path):
    path = _broken(tmp_path, "CodeUri: error_handler/", "CodeUri: error-handler/")
    message = _deploy_fails(harness_endpoint, harness_database_url, path)
    assert "resource ErrorHandlerFunction (AWS::Serverless::Function): CodeUri 'error-handler/' is not a" in message


def test_a_shipped_scenario_against_your_own_template_catches_its_mistake(harness_resources, tmp_path):
    """A team's copy of the template that hard-codes the JOB NOT RUN alarm's TreatMissingData to notBreaching
    (an idle day stays silent) fails job-not-run; the pipeline's own template passes it."""
    from harness.runner import run_scenario
    from harness.scenario.loader import load_scenario

    scenario = load_scenario(templates.PIPELINE_TEMPLATE.parents[1] / "scenarios" / "job-not-run.yaml")
    own = _broken(tmp_path, "TreatMissingData: !Ref JobNotRunTreatMissingData", "TreatMissingData: notBreaching")
    theirs = run_scenario(scenario, harness_resources, template=own)
    assert theirs.error is None and not theirs.passed, theirs.failure_text()
    assert "FAILED alarm" in theirs.failure_text() and "job_not_run" in theirs.failure_text()
    ours = run_scenario(scenario, harness_resources)
    assert ours.passed, ours.failure_text()


def test_scenario_parameters_reach_the_deployed_functions(harness_endpoint, harness_database_url):
    stack = PipelineStack(harness_endpoint, harness_database_url, unique_prefix("params"),
                          StackSettings.model_validate({"parameters": {"LogLevel": "DEBUG"}}))
    try:
        stack.deploy()
        for logical in FUNCTION_IDS:
            variables = stack.client("lambda").get_function_configuration(
                FunctionName=stack.function_name(logical))["Environment"]["Variables"]
            assert variables["LOG_LEVEL"] == "DEBUG", (logical, variables)
    finally:
        stack.teardown()


RESERVED = """Transform: AWS::Serverless-2016-10-31
Parameters:
  Reserved: {Type: Number, Default: 5}
Resources:
  Slow:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: index.handler
      Timeout: 5
      ReservedConcurrentExecutions: !Ref Reserved
      InlineCode: |
        import time
        def handler(event, context):
            time.sleep(1.5)
            return "done"
"""


def test_reserved_concurrency_from_the_template_is_set_and_enforced(harness_endpoint, harness_database_url,
                                                                      tmp_path):
    """LocalStack's CloudFormation leaves ReservedConcurrentExecutions out; the harness sets it, and
    LocalStack's Lambda then throttles an invocation over it."""
    from concurrent.futures import ThreadPoolExecutor

    from harness.stack.template_stack import TemplateStack

    path = tmp_path / "template.yaml"
    path.write_text(RESERVED)
    stack = TemplateStack(harness_endpoint, harness_database_url, unique_prefix("reserved"), path,
                          {"Reserved": "1"})
    try:
        stack.deploy_stack()
        from botocore.config import Config

        # No client-side retry of a throttled call: the throttle itself is what is looked for.
        lam = harness_endpoint.session().client("lambda", endpoint_url=harness_endpoint.url,
                                                config=Config(retries={"total_max_attempts": 1}))
        name = stack.physical["Slow"]
        assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 1

        def invoke(_: int) -> str:
            try:
                lam.invoke(FunctionName=name, Payload=b"{}")
                return "ran"
            except lam.exceptions.TooManyRequestsException:
                return "throttled"

        with ThreadPoolExecutor(2) as pool:
            outcomes = sorted(pool.map(invoke, range(2)))
        assert outcomes == ["ran", "throttled"], outcomes
    finally:
        stack.teardown()


UNNAMED_TOPIC = """Resources:
  AlertsTopic:
    Type: AWS::SNS::Topic
"""


def test_a_topic_without_a_name_is_named_as_cloudformation_names_it(harness_endpoint, harness_database_url,
                                                                     tmp_path):
    """AWS names a resource without a name `<stack>-<LogicalId>-<random>`; LocalStack's SNS provider said
    `topic-<random>` (aws-parity H3). The taps of a template's topics are found by that name."""
    import re

    from harness.stack.template_stack import TemplateStack

    path = tmp_path / "template.yaml"
    path.write_text(UNNAMED_TOPIC)
    stack = TemplateStack(harness_endpoint, harness_database_url, unique_prefix("unnamed"), path, {})
    try:
        stack.deploy_stack()
        arn = stack.physical["AlertsTopic"]
        name = arn.rsplit(":", 1)[-1]
        assert re.fullmatch(rf"{re.escape(stack.prefix)}-AlertsTopic-[A-Za-z0-9]{{8,}}", name), arn
    finally:
        stack.teardown()
