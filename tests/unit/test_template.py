"""lambdas/template.yaml as a template a team could deploy to AWS: cfn-lint finds no error, the SAM
translator makes CloudFormation of it with the grants, retries and alarms the design asks for, and the
harness's parameters are the template's. Broken templates are refused naming the file, line and resource."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.scenario import StackSettings
from harness.stack import template as templates
from harness.stack.pipeline import PipelineStack, _pipeline_zip
from harness.stack.template import PIPELINE_TEMPLATE, TemplateError

TEMPLATE = templates.load(PIPELINE_TEMPLATE)


def test_cfn_lint_reports_no_errors_on_the_pipeline_template() -> None:
    assert templates.lint(TEMPLATE, cache=False) == []


def test_cfn_lint_errors_name_the_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    broken.write_text(PIPELINE_TEMPLATE.read_text().replace("TargetArn: !Ref DlqTopic", "TargetArn: !Ref NoSuchTopic"))
    errors = templates.lint(templates.load(broken), cache=False)
    assert errors, "a Ref to a resource that does not exist must be an error"
    lines = broken.read_text().splitlines()
    line = next(number for number, text in enumerate(lines, 1) if "NoSuchTopic" in text)
    resource = next(number for number, text in enumerate(lines, 1) if text == "  WorkerFunction:")
    # In a SAM template, cfn-lint points at the line of the Ref, or at the resource holding it.
    assert any(error.startswith((f"{broken}:{line}: [E", f"{broken}:{resource}: [E")) and "NoSuchTopic" in error
               for error in errors), errors


def _translated(**parameters: str) -> dict[str, Any]:
    return templates.translate(TEMPLATE, parameters)["Resources"]


def _statements(resources: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [statement for policy in resources[role]["Properties"].get("Policies", [])
            for statement in policy["PolicyDocument"]["Statement"]]


def _grants(resources: dict[str, Any], role: str, action: str) -> list[Any]:
    found = []
    for statement in _statements(resources, role):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if action in actions and statement["Effect"] == "Allow":
            found.append(statement["Resource"])
    return found


def test_each_function_may_publish_to_its_own_dead_letter_topic_and_the_worker_to_no_other_than_its_own() -> None:
    resources = _translated()
    assert {"Ref": "DlqTopic"} in _grants(resources, "WorkerFunctionRole", "sns:Publish")
    assert {"Ref": "ErrorHandlerDlqTopic"} in _grants(resources, "ErrorHandlerFunctionRole", "sns:Publish")
    assert {"Ref": "ErrorHandlerDlqTopic"} not in _grants(resources, "WorkerFunctionRole", "sns:Publish")
    assert _grants(resources, "OrchestratorFunctionRole", "sns:Publish") == []


def _wildcards(resource: Any) -> list[str]:
    """Literal wildcards in a policy's Resource: "*", "...:*", or "*" handed to a policy template's ARN."""
    if isinstance(resource, str):
        return [resource] if resource == "*" or resource.endswith(":*") else []
    if isinstance(resource, list):
        return [found for item in resource for found in _wildcards(item)]
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        _, variables = resource["Fn::Sub"] if isinstance(resource["Fn::Sub"], list) else (None, {})
        return [value for value in variables.values() if isinstance(value, str) and "*" in value]
    return []


def test_least_privilege_no_wildcard_actions_or_resources() -> None:
    resources = _translated()
    for role in ("OrchestratorFunctionRole", "WorkerFunctionRole", "ErrorHandlerFunctionRole"):
        for statement in _statements(resources, role):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), (role, statement)
            assert _wildcards(statement["Resource"]) == [], (role, statement)


def test_dead_letter_configs_retries_and_subscription_are_the_designs() -> None:
    resources = _translated(WorkerMaxRetryAttempts="1")
    assert resources["WorkerFunction"]["Properties"]["DeadLetterConfig"] == {"TargetArn": {"Ref": "DlqTopic"}}
    assert resources["ErrorHandlerFunction"]["Properties"]["DeadLetterConfig"] == {
        "TargetArn": {"Ref": "ErrorHandlerDlqTopic"}}
    assert str(resources["WorkerFunctionEventInvokeConfig"]["Properties"]["MaximumRetryAttempts"]) == "1"
    subscriptions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::SNS::Subscription"]
    assert subscriptions == [{"Endpoint": {"Fn::GetAtt": ["ErrorHandlerFunction", "Arn"]}, "Protocol": "lambda",
                              "TopicArn": {"Ref": "DlqTopic"}}]


def test_alarm_defaults_are_the_designs() -> None:
    parameters = TEMPLATE.parameters
    assert parameters["JobNotRunPeriod"]["Default"] == 86400  # JOB NOT RUN: one job period, a day
    for alarm in ("JobNotRun", "JobFailed"):
        assert parameters[f"{alarm}TreatMissingData"]["Default"] == "breaching"
        assert parameters[f"{alarm}Threshold"]["Default"] == 1
    resources = _translated()
    not_run, failed = resources["JobNotRunAlarm"]["Properties"], resources["JobFailedAlarm"]["Properties"]
    assert (not_run["MetricName"], not_run["ComparisonOperator"]) == ("Invocations", "LessThanThreshold")
    assert not_run["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "OrchestratorFunction"}}]
    assert (failed["MetricName"], failed["ComparisonOperator"]) == ("Errors", "GreaterThanOrEqualToThreshold")
    assert failed["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "WorkerFunction"}}]


def _stack(settings: StackSettings) -> PipelineStack:
    return PipelineStack(SimpleNamespace(url="http://127.0.0.1:1"), "postgresql://u@h/d", "p",  # type: ignore[arg-type]
                         settings)


def test_every_parameter_the_harness_passes_is_declared_and_every_required_one_is_passed() -> None:
    passed = _stack(StackSettings()).parameters()
    declared = TEMPLATE.parameters
    assert set(passed) <= set(declared), set(passed) - set(declared)
    assert {name for name, spec in declared.items() if "Default" not in spec} <= set(passed)
    # A scenario's omitted settings are the template's own defaults: AWS's numbers, not test-sized ones.
    for name in ("WorkerTimeout", "OrchestratorTimeout", "JobNotRunPeriod", "JobFailedPeriod"):
        assert passed[name] == str(declared[name]["Default"]), name
    assert passed["WorkerTimeout"] == "900"
    transient = StackSettings.model_validate({"worker": {"on_error": {"transient": "report"}}})
    assert _stack(transient).parameters()["OnErrorTransient"] == "report"


def test_a_wrong_code_uri_is_refused_naming_the_resource_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    broken.write_text(PIPELINE_TEMPLATE.read_text().replace("CodeUri: worker/", "CodeUri: wrker/"))
    for function in ("orchestrator", "worker", "error_handler"):
        (tmp_path / function).symlink_to(PIPELINE_TEMPLATE.parent / function)
    template = templates.load(broken)
    line = next(number for number, text in enumerate(broken.read_text().splitlines(), 1) if "wrker/" in text)
    with pytest.raises(TemplateError, match=rf"{broken}:{line}: resource WorkerFunction .*CodeUri 'wrker/'"):
        templates.package(template, s3=None, zip_for=_pipeline_zip)


def test_a_template_that_is_not_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    broken = tmp_path / "template.yaml"
    broken.write_text("Resources:\n  A: [\n")
    with pytest.raises(TemplateError, match=rf"{broken}:3: "):
        templates.load(broken)


def test_properties_the_platform_does_not_carry_out_are_named_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text("""Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Tracing: Active
Resources:
  Plain:
    Type: AWS::Serverless::Function
    Properties: {Runtime: python3.13, Handler: a.handler, InlineCode: "x = 1"}
  Fancy:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.13
      Handler: a.handler
      Role: arn:aws:iam::000000000000:role/r
      Code: {ZipFile: "x = 1"}
      VpcConfig: {SubnetIds: [s], SecurityGroupIds: [g]}
      EphemeralStorage: {Size: 2048}
      LoggingConfig: {LogFormat: JSON}
      Architectures: [arm64]
""")
    found = templates.unsupported_properties(templates.load(path))
    assert f"{path}:6: resource Plain: Tracing: X-Ray tracing is not emulated" in found
    assert any(line.startswith(f"{path}:9: resource Fancy: VpcConfig: no network isolation") for line in found)
    assert any(line.startswith(f"{path}:9: resource Fancy: EphemeralStorage:") for line in found)
    assert any("LoggingConfig.LogFormat JSON" in line for line in found)
    assert any("Architectures" in line for line in found) == (__import__("platform").machine() not in
                                                              ("aarch64", "arm64"))
    assert not any("resource Fancy: Tracing" in line for line in found)  # Globals apply to SAM functions only


def test_the_shipped_templates_use_nothing_the_platform_leaves_out() -> None:
    assert templates.unsupported_properties(TEMPLATE) == []
    example = PIPELINE_TEMPLATE.parents[1] / "examples" / "order-handler" / "template.yaml"
    assert templates.unsupported_properties(templates.load(example)) == []
