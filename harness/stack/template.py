"""An AWS SAM or CloudFormation template, deployed as one CloudFormation stack on LocalStack.

`load` reads the template (YAML or JSON, with CloudFormation's short tags) keeping each node's line, so
that every error names the file, the line and the resource. `lint` runs cfn-lint on it (its errors refuse
the deploy; its verdict is cached by the template's content). `package` does what `sam package` does: each
function's local `CodeUri` (and each layer's `ContentUri`) becomes a reproducible zip in an S3 bucket of
the LocalStack in use, and the template refers to it as `s3://bucket/key`. `deploy` creates the stack and
waits; a stack that fails is deleted, and the error names each failed resource with CloudFormation's
reason. `delete` deletes it and waits.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from harness import paths
from harness.format.template import FUNCTION_TYPES, Template, TemplateError, load
from harness.packaging import CODE_BUCKET
from harness.waiting import DeadlineExceeded, wait_for

__all__ = ["FUNCTION_TYPES", "PIPELINE_TEMPLATE", "Template", "TemplateError", "load"]

PIPELINE_TEMPLATE = paths.LAMBDAS / "template.yaml"
REGION = "us-east-1"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
POLL_S = 0.02
STACK_TYPE = "AWS::CloudFormation::Stack"
GONE_CODES = ("ResourceNotFoundException", "NotFound", "NoSuchEntity", "AWS.SimpleQueueService.NonExistentQueue")


def translate(template: Template, parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The CloudFormation the SAM translator makes of the template (what CloudFormation deploys), with
    placeholder code locations and no managed policies looked up."""
    import boto3
    from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
    from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]

    body = copy.deepcopy(json.loads(json.dumps(template.body)))
    for resource in body["Resources"].values():
        field = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}.get(
            resource.get("Type"))
        if field and isinstance(resource.get("Properties", {}).get(field), str):
            resource["Properties"][field] = "s3://bucket/code.zip"
    # The session only supplies the pseudo-parameters' region; nothing is called.
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=REGION))
    translated: dict[str, Any] = translator.translate(body, parameter_values=dict(parameters or {}),
                                                      get_managed_policy_map=dict)
    return translated


def lint(template: Template, cache: bool = True) -> list[str]:
    """cfn-lint's errors (not its warnings) on the template, as `file:line: [rule] message`; cached on disk
    by the template's bytes and cfn-lint's version, since loading cfn-lint's rules takes a second."""
    import cfnlint  # type: ignore[import-untyped]
    from cfnlint.api import ManualArgs, lint_file  # type: ignore[import-untyped]

    source = template.path.read_bytes()
    key = hashlib.sha256(source + getattr(cfnlint, "__version__", "").encode()).hexdigest()[:32]
    marker = paths.cache_dir() / "lint" / f"{key}.json"
    if cache and marker.is_file():
        return list(json.loads(marker.read_text()))
    matches = lint_file(template.path, config=ManualArgs(regions=[REGION]))
    errors = [f"{template.path}:{match.linenumber}: [{match.rule.id}] {match.message}"
              for match in matches if match.rule.id.startswith("E")]
    marker.parent.mkdir(parents=True, exist_ok=True)
    temporary = marker.with_suffix(f".{time.monotonic_ns()}.tmp")
    temporary.write_text(json.dumps(errors))
    temporary.replace(marker)
    return errors


ZipBuilder = Callable[[str, Path], Path]
"""(logical ID, code directory) -> the zip file to deploy for it."""


def package(template: Template, s3: Any, zip_for: ZipBuilder, bucket: str = CODE_BUCKET) -> dict[str, Any]:
    """The template's body with each local code directory replaced by its zip in S3, as `sam package` does."""
    body = copy.deepcopy(template.body)
    local: list[tuple[str, str, Path]] = []
    for logical, resource in template.resources.items():
        if not isinstance(resource, dict):
            continue
        kind, properties = resource.get("Type"), resource.get("Properties") or {}
        field = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}.get(str(kind))
        uri = properties.get(field) if field else None
        if field is None or not isinstance(uri, str) or uri.startswith("s3://"):
            continue
        directory = (template.path.parent / uri).resolve()
        if not directory.is_dir():
            raise TemplateError(f"{template.where(uri)}: resource {logical} ({kind}): {field} {uri!r} is not a "
                                f"directory (looked for {directory})")
        local.append((logical, field, directory))
    # Every directory is checked before anything is built or uploaded.
    uploaded: dict[Path, str] = {}
    for logical, field, directory in local:
        archive = zip_for(logical, directory)
        if archive not in uploaded:
            uploaded[archive] = _upload(s3, bucket, archive)
        body["Resources"][logical]["Properties"][field] = f"s3://{bucket}/{uploaded[archive]}"
    return body


def _upload(s3: Any, bucket: str, archive: Path) -> str:
    key = archive.name  # content-addressed by packaging: the same name is the same bytes
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return key
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NoSuchBucket"):
            raise
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    s3.upload_file(str(archive), bucket, key)
    return key


def parameter_values(values: Mapping[str, str | int | float | bool]) -> dict[str, str]:
    """Template parameters as CloudFormation takes them: strings, booleans spelt true/false."""
    return {key: ("true" if value else "false") if isinstance(value, bool) else str(value)
            for key, value in values.items()}


def deploy(cloudformation: Any, stack_name: str, body: Mapping[str, Any], parameters: Mapping[str, Any],
           deadline_s: float = 300.0, what: str = "", sweep_with: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Create the stack and wait for it; its description (Outputs, StackId, ...) once CREATE_COMPLETE.

    A stack that fails is deleted before TemplateError is raised with every failed resource's reason."""
    source = what or stack_name
    try:
        stack_id = cloudformation.create_stack(
            StackName=stack_name, TemplateBody=json.dumps(body), Capabilities=CAPABILITIES,
            Parameters=[{"ParameterKey": key, "ParameterValue": str(value)} for key, value in parameters.items()],
        )["StackId"]
    except ClientError as error:
        raise TemplateError(f"{source}: CloudFormation refused stack {stack_name}: "
                            f"{error.response.get('Error', {}).get('Message', error)}") from error
    stack = _wait(cloudformation, stack_id, deadline_s)
    if stack["StackStatus"] == "CREATE_COMPLETE":
        return stack
    stack = _wait_rolled_back(cloudformation, stack_id, stack)
    reasons = failed_resources(cloudformation, stack_id) or [stack.get("StackStatusReason") or stack["StackStatus"]]
    try:
        delete(cloudformation, stack_id, deadline_s, sweep_with=sweep_with)
    except TemplateError as error:
        reasons.append(f"and deleting the failed stack failed too: {error}")
    raise TemplateError(f"{source}: stack {stack_name} failed ({stack['StackStatus']}):\n  "
                        + "\n  ".join(reasons))


def failed_resources(cloudformation: Any, stack_id: str) -> list[str]:
    """`resource X (Type): reason` for every resource CloudFormation reported as failed, oldest first."""
    events = cloudformation.describe_stack_events(StackName=stack_id)["StackEvents"]
    try:  # a resource's own status can be there before its event is
        resources = cloudformation.describe_stack_resources(StackName=stack_id)["StackResources"]
    except ClientError:
        resources = []
    found: dict[str, str] = {}
    for item in [*sorted(events, key=lambda event: event["Timestamp"]), *resources]:
        if item.get("ResourceStatus", "").endswith("FAILED") and item.get("ResourceType") != STACK_TYPE:
            reason = item.get("ResourceStatusReason") or item["ResourceStatus"]
            found.setdefault(item["LogicalResourceId"],
                             f"resource {item['LogicalResourceId']} ({item.get('ResourceType', '?')}): {reason}")
    return list(found.values())


def _wait_rolled_back(cloudformation: Any, stack_id: str, stack: dict[str, Any],
                      deadline_s: float = 10.0) -> dict[str, Any]:
    """A failed creation's last word. AWS ends in ROLLBACK_COMPLETE (or _FAILED). LocalStack 2026.3's engine
    reports CREATE_FAILED first, then rolls back (ROLLBACK_COMPLETE) and sets CREATE_FAILED again when it is
    done; a delete sent in between is overwritten. So wait for the rollback's event, within a deadline."""
    if stack["StackStatus"] != "CREATE_FAILED":
        return stack

    def rolled_back() -> bool:
        events = cloudformation.describe_stack_events(StackName=stack_id)["StackEvents"]
        return any(event.get("ResourceType") == STACK_TYPE
                   and event.get("ResourceStatus", "").startswith("ROLLBACK_") and
                   not event["ResourceStatus"].endswith("IN_PROGRESS") for event in events)

    try:
        wait_for(rolled_back, bool, deadline_s=deadline_s, interval_s=POLL_S, what=f"rollback of {stack_id}")
    except DeadlineExceeded:
        pass  # no rollback reported: CREATE_FAILED is the last word then
    return _wait(cloudformation, stack_id, deadline_s)


def delete(cloudformation: Any, stack_id: str, deadline_s: float = 300.0,
           sweep_with: Callable[[str], Any] | None = None) -> None:
    """Delete the stack and wait. When CloudFormation cannot (LocalStack's engine fails to delete a stack
    whose creation failed: it tries the resources never created first and stops), the resources it did
    create are deleted one by one through their services (`sweep_with` gives a client per service)."""
    try:
        cloudformation.delete_stack(StackName=stack_id)
    except ClientError as error:
        if "does not exist" in str(error):
            return
        raise
    stack = _wait(cloudformation, stack_id, deadline_s)
    if stack["StackStatus"] in ("DELETE_COMPLETE", "GONE"):
        return
    left = sweep(cloudformation, stack_id, sweep_with) if sweep_with is not None else ["(no sweep)"]
    if left:
        raise TemplateError(f"stack {stack_id} could not be deleted ({stack['StackStatus']}); left behind: "
                            + "; ".join(left))


# How to delete a created resource without CloudFormation, by type; a function's permissions, invoke
# configs and event sources go with it, a topic's subscriptions with the topic.
_SWEEP: dict[str, Callable[[Callable[[str], Any], str], Any]] = {
    "AWS::Lambda::Function": lambda client, name: client("lambda").delete_function(FunctionName=name),
    "AWS::SNS::Topic": lambda client, arn: client("sns").delete_topic(TopicArn=arn),
    "AWS::SNS::Subscription": lambda client, arn: client("sns").unsubscribe(SubscriptionArn=arn),
    "AWS::SQS::Queue": lambda client, url: client("sqs").delete_queue(QueueUrl=url),
    "AWS::CloudWatch::Alarm": lambda client, name: client("cloudwatch").delete_alarms(AlarmNames=[name]),
    "AWS::IAM::Role": lambda client, name: _delete_role(client("iam"), name),
    "AWS::Lambda::LayerVersion": lambda client, arn: client("lambda").delete_layer_version(
        LayerName=arn.rsplit(":", 1)[0], VersionNumber=int(arn.rsplit(":", 1)[1])),
    "AWS::Lambda::Permission": lambda client, _: None,
    "AWS::Lambda::EventInvokeConfig": lambda client, _: None,
    "AWS::Lambda::EventSourceMapping": lambda client, uuid: client("lambda").delete_event_source_mapping(UUID=uuid),
}


def _delete_role(iam: Any, name: str) -> None:
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
    iam.delete_role(RoleName=name)


def sweep(cloudformation: Any, stack_id: str, client: Callable[[str], Any]) -> list[str]:
    """Delete the stack's created resources through their services, last created first; what could not
    be deleted, named."""
    resources = cloudformation.describe_stack_resources(StackName=stack_id)["StackResources"]
    left = []
    for resource in reversed(resources):
        physical, kind = resource.get("PhysicalResourceId"), resource.get("ResourceType", "")
        if not physical or not resource.get("ResourceStatus", "").endswith("_COMPLETE") \
                or resource["ResourceStatus"].startswith("DELETE"):
            continue
        action = _SWEEP.get(kind)
        if action is None:
            left.append(f"{resource['LogicalResourceId']} ({kind}) {physical}")
            continue
        try:
            action(client, physical)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in GONE_CODES:
                left.append(f"{resource['LogicalResourceId']} ({kind}) {physical}: {error}")
    return left


def _wait(cloudformation: Any, stack_id: str, deadline_s: float) -> dict[str, Any]:
    """The stack once it is no longer in progress. In the harness's LocalStack the wait is one request that
    LocalStack answers when the status changes (`/_harness/stacks`); elsewhere, DescribeStacks every POLL_S."""
    _wait_in_localstack(cloudformation, stack_id, deadline_s)

    def probe() -> dict[str, Any]:
        try:
            stack: dict[str, Any] = cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0]
            return stack
        except ClientError as error:
            if "does not exist" in str(error):
                return {"StackStatus": "GONE", "StackId": stack_id}
            raise

    try:
        return wait_for(probe, lambda stack: not stack["StackStatus"].endswith("_IN_PROGRESS"),
                        deadline_s=deadline_s, interval_s=POLL_S, what=f"stack {stack_id}")
    except DeadlineExceeded as exceeded:
        raise TemplateError(str(exceeded)) from exceeded


def _wait_in_localstack(cloudformation: Any, stack_id: str, deadline_s: float) -> None:
    """Return when the harness's LocalStack says the stack is no longer in progress, or gone; at once when the
    LocalStack has no such route (another LocalStack: the caller polls), and at the deadline."""
    from harness.wire import STACK_WAIT_MAX_S, STACKS

    give_up = time.monotonic() + deadline_s
    url = (f"{cloudformation.meta.endpoint_url.rstrip('/')}{STACKS}/{urllib.parse.quote(stack_id, safe=':/')}"
           f"?region={urllib.parse.quote(cloudformation.meta.region_name or 'us-east-1')}")
    while (left := give_up - time.monotonic()) > 0:
        wait_s = min(left, STACK_WAIT_MAX_S)
        try:
            with urllib.request.urlopen(f"{url}&wait={wait_s:.3f}", timeout=wait_s + 10) as response:  # noqa: S310
                status = json.loads(response.read())["status"]
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            return  # no such route, or no answer: DescribeStacks decides
        if status is None or not status.endswith("_IN_PROGRESS"):
            return


def outputs(stack: Mapping[str, Any]) -> dict[str, str]:
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs") or []}


def physical_ids(cloudformation: Any, stack_id: str) -> dict[str, str]:
    """Logical ID -> physical ID of every resource in the stack (function names, topic ARNs, ...)."""
    resources = cloudformation.describe_stack_resources(StackName=stack_id)["StackResources"]
    return {resource["LogicalResourceId"]: resource.get("PhysicalResourceId", "") for resource in resources}


def missing_targets(template: Template, endpoint_client: Callable[[str], Any],
                    physical: Mapping[str, str]) -> list[str]:
    """Dead-letter targets and async destinations of the stack's functions (`physical`: the stack's resources
    by logical ID) that do not exist, each named with the template line of its function. LocalStack accepts
    any ARN there (whether AWS checks was not verified here); the first failure would then lose its event, so
    the harness refuses it before a job."""
    lam = endpoint_client("lambda")
    problems = []
    for logical, resource in template.functions().items():
        name = physical.get(logical)
        if not name:
            continue
        config = lam.get_function_configuration(FunctionName=name)
        targets = []
        dead_letter = (config.get("DeadLetterConfig") or {}).get("TargetArn")
        if dead_letter:
            targets.append(("DeadLetterConfig target", dead_letter, "every dead letter would be lost"))
        try:
            invoke_config = lam.get_function_event_invoke_config(FunctionName=name)
        except ClientError:
            invoke_config = {}
        for outcome, destination in (invoke_config.get("DestinationConfig") or {}).items():
            arn = (destination or {}).get("Destination")
            if arn:
                targets.append((f"EventInvokeConfig {outcome} destination", arn,
                                f"every {'failed' if outcome == 'OnFailure' else 'successful'} event's record "
                                "would be lost"))
        for what, arn, consequence in targets:
            reason = _missing(endpoint_client, arn)
            if reason:
                problems.append(f"{template.where_resource(logical)}: resource {logical} ({resource.get('Type')}): "
                                f"{what} {arn} {reason}: {consequence}")
    return problems


def _missing(endpoint_client: Callable[[str], Any], arn: str) -> str | None:
    """Why `arn` is not there (None when it is): SNS topics, SQS queues, Lambda functions, EventBridge buses."""
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        return "is not an ARN"
    service, account, name = parts[2], parts[4], parts[5]
    try:
        if service == "sns":
            endpoint_client("sns").get_topic_attributes(TopicArn=arn)
        elif service == "sqs":
            endpoint_client("sqs").get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
        elif service == "lambda":
            endpoint_client("lambda").get_function(FunctionName=arn)
        elif service == "events":
            endpoint_client("events").describe_event_bus(Name=arn)
        else:
            return f"is a {service} ARN, which Lambda cannot deliver to"
    except ClientError as error:
        return f"does not exist ({error.response.get('Error', {}).get('Code', 'error')})"
    return None



# Function properties that the embedded LocalStack and the harness's executor do not carry out, with what
# differs from AWS then. A template using one still deploys; the run says what it does not prove.
UNSUPPORTED_FUNCTION_PROPERTIES = {
    "VpcConfig": "no network isolation: the function reaches whatever the host reaches",
    "Tracing": "X-Ray tracing is not emulated",
    "TracingConfig": "X-Ray tracing is not emulated",
    "EphemeralStorage": "the size of /tmp is not enforced",
    "FileSystemConfigs": "no EFS file system is mounted",
    "SnapStart": "no SnapStart snapshots: every cold start runs the init phase",
    "KmsKeyArn": "environment variables are not encrypted with the key",
    "CodeSigningConfigArn": "code signatures are not checked",
    "RuntimeManagementConfig": "the local interpreter's patch version is used, whatever the setting",
    "ProvisionedConcurrencyConfig": "no execution environments are started ahead of invocations",
}


def unsupported_properties(template: Template) -> list[str]:
    """`file:line: resource X: Property: what differs`, for every function property (or SAM Globals) in the
    table above, and an arm64 architecture on another host."""
    import platform

    found = []
    globals_ = ((template.body.get("Globals") or {}).get("Function") or {}) if isinstance(
        template.body.get("Globals"), dict) else {}
    for logical, resource in template.functions().items():
        properties = {**(globals_ if resource.get("Type") == "AWS::Serverless::Function" else {}),
                      **(resource.get("Properties") or {})}
        for name, consequence in UNSUPPORTED_FUNCTION_PROPERTIES.items():
            if name in properties and properties[name] not in (None, False, "PassThrough"):
                found.append(f"{template.where_resource(logical)}: resource {logical}: {name}: {consequence}")
        architectures = properties.get("Architectures") or []
        host = "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
        if isinstance(architectures, list) and any(a != host for a in architectures if isinstance(a, str)):
            found.append(f"{template.where_resource(logical)}: resource {logical}: Architectures: runs on this "
                         f"host's {host}, not {', '.join(map(str, architectures))}")
        logging_config = properties.get("LoggingConfig") or {}
        if isinstance(logging_config, dict) and logging_config.get("LogFormat") == "JSON":
            found.append(f"{template.where_resource(logical)}: resource {logical}: LoggingConfig.LogFormat JSON: "
                         "the function's log lines are plain text here")
    return found


def apply_reserved_concurrency(template: Template, physical: Mapping[str, str], lam: Any,
                               parameters: Mapping[str, str]) -> dict[str, int]:
    """Set each function's ReservedConcurrentExecutions, which LocalStack's CloudFormation leaves out
    (its Lambda service enforces it once set: invocations over it are throttled). Function name -> value."""
    applied = {}
    for logical, resource in template.functions().items():
        value = (resource.get("Properties") or {}).get("ReservedConcurrentExecutions")
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
            value = parameters[value["Ref"]]
        elif isinstance(value, dict) and set(value) == {"Ref"}:
            value = (template.parameters.get(value["Ref"]) or {}).get("Default")
        if value is None or logical not in physical:
            continue
        lam.put_function_concurrency(FunctionName=physical[logical], ReservedConcurrentExecutions=int(value))
        applied[physical[logical]] = int(value)
    return applied
