"""A SAM or CloudFormation template as a scenario sees it: read with each node's line (YAML or JSON, with
CloudFormation's short tags), and the facts a scenario on it needs before anything is deployed: its
functions, topics, queues and alarms by logical ID, each function's Timeout, retries and dead-letter
target, and which topics each alarm notifies. Deploying it is `harness.stack.template`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
TOPIC_TYPES = ("AWS::SNS::Topic",)
QUEUE_TYPES = ("AWS::SQS::Queue",)
ALARM_TYPES = ("AWS::CloudWatch::Alarm",)
AWS_DEFAULT_TIMEOUT_S = 3
AWS_DEFAULT_RETRIES = 2


class TemplateError(Exception):
    """A template that cannot be deployed, or a stack that failed; the message names file, line, resource."""


@dataclass
class Template:
    path: Path
    body: dict[str, Any]

    @property
    def resources(self) -> dict[str, Any]:
        resources = self.body.get("Resources")
        return resources if isinstance(resources, dict) else {}

    @property
    def parameters(self) -> dict[str, Any]:
        parameters = self.body.get("Parameters")
        return parameters if isinstance(parameters, dict) else {}

    def where(self, node: Any) -> str:
        """`file:line` of a node of the template (its first line when the node has none)."""
        mark = getattr(node, "start_mark", None)
        return f"{self.path}:{mark.line + 1 if mark is not None else 1}"

    def where_resource(self, logical: str) -> str:
        """`file:line` of a resource's logical ID in the template."""
        for key in self.resources:
            if key == logical:
                return self.where(key)
        return f"{self.path}:1"

    def functions(self) -> dict[str, dict[str, Any]]:
        """Logical ID -> resource, for every Lambda function the template declares."""
        return {logical: resource for logical, resource in self.resources.items()
                if isinstance(resource, dict) and resource.get("Type") in FUNCTION_TYPES}

    def resource_type(self, logical: str) -> str | None:
        resource = self.resources.get(logical)
        return resource.get("Type") if isinstance(resource, dict) else None


    def of_type(self, types: tuple[str, ...]) -> list[str]:
        """Logical IDs of the resources of these types, in the template's order."""
        return [logical for logical, resource in self.resources.items()
                if isinstance(resource, dict) and resource.get("Type") in types]

    def value(self, node: Any, parameters: dict[str, Any]) -> Any:
        """A property's value, a `!Ref` to a parameter resolved (the scenario's value, else its default)."""
        if isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in self.parameters:
            name = node["Ref"]
            return parameters.get(name, (self.parameters.get(name) or {}).get("Default"))
        return node

    def function_property(self, logical: str, name: str) -> Any:
        """A function's property, or SAM's Globals.Function one."""
        properties = (self.resources.get(logical) or {}).get("Properties") or {}
        if name in properties:
            return properties[name]
        if self.resource_type(logical) == "AWS::Serverless::Function":
            return ((self.body.get("Globals") or {}).get("Function") or {}).get(name)
        return None

    def timeout(self, logical: str, parameters: dict[str, Any]) -> float:
        found = self.value(self.function_property(logical, "Timeout"), parameters)
        return float(found) if isinstance(found, int | float | str) and str(found).replace(".", "", 1).isdigit() \
            else float(AWS_DEFAULT_TIMEOUT_S)

    def memory(self, logical: str, parameters: dict[str, Any]) -> int:
        """The function's MemorySize in MB, else AWS's 128."""
        found = self.value(self.function_property(logical, "MemorySize"), parameters)
        return int(found) if isinstance(found, int | str) and str(found).isdigit() else 128

    def _invoke_config(self, logical: str, key: str, parameters: dict[str, Any]) -> Any:
        """A setting of the function's asynchronous invocation: SAM's EventInvokeConfig, or an
        AWS::Lambda::EventInvokeConfig naming the function; None when neither sets it."""
        config = self.value(self.function_property(logical, "EventInvokeConfig"), parameters) or {}
        found = self.value(config.get(key), parameters) if isinstance(config, dict) else None
        for resource in self.resources.values():
            if isinstance(resource, dict) and resource.get("Type") == "AWS::Lambda::EventInvokeConfig":
                properties = resource.get("Properties") or {}
                if _names(properties.get("FunctionName")) == logical:
                    found = self.value(properties.get(key), parameters)
        return found

    def retries(self, logical: str, parameters: dict[str, Any]) -> int:
        """MaximumRetryAttempts of the function's asynchronous invocation, else AWS's 2."""
        found = self._invoke_config(logical, "MaximumRetryAttempts", parameters)
        return int(found) if isinstance(found, int | str) and str(found).isdigit() else AWS_DEFAULT_RETRIES

    def max_event_age(self, logical: str, parameters: dict[str, Any]) -> float | None:
        """MaximumEventAgeInSeconds of the function's asynchronous invocation; None when it is not set."""
        found = self._invoke_config(logical, "MaximumEventAgeInSeconds", parameters)
        return float(found) if isinstance(found, int | str) and str(found).isdigit() else None

    def dead_letter_target(self, logical: str) -> str | None:
        """The logical ID of the function's DeadLetterConfig target (SAM's DeadLetterQueue), or None."""
        dlq = self.function_property(logical, "DeadLetterQueue") or {}
        target = dlq.get("TargetArn") if isinstance(dlq, dict) else None
        if target is None:
            config = self.function_property(logical, "DeadLetterConfig") or {}
            target = config.get("TargetArn") if isinstance(config, dict) else None
        return _names(target)

    def alarm_topics(self) -> dict[str, list[str]]:
        """Topic logical ID -> the alarms (logical IDs) whose actions notify it."""
        found: dict[str, list[str]] = {}
        for alarm in self.of_type(ALARM_TYPES):
            properties = self.resources[alarm].get("Properties") or {}
            for key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
                for action in properties.get(key) or []:
                    topic = _names(action)
                    if topic is not None and alarm not in found.setdefault(topic, []):
                        found[topic].append(alarm)
        return found


def _names(node: Any) -> str | None:
    """The logical ID a `!Ref X` or `!GetAtt X.Arn` names, or None."""
    if isinstance(node, dict) and "Ref" in node and isinstance(node["Ref"], str):
        return node["Ref"]
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        attribute = node["Fn::GetAtt"]
        parts = attribute.split(".", 1) if isinstance(attribute, str) else attribute
        return str(parts[0]) if parts else None
    return None


def load(path: Path) -> Template:
    from cfnlint.decode import decode  # type: ignore[import-untyped]

    if not path.is_file():
        raise TemplateError(f"{path}: no such template")
    body, matches = decode(str(path))
    if matches:
        raise TemplateError("\n".join(f"{path}:{match.linenumber}: {match.message}" for match in matches))
    if not isinstance(body, dict) or not isinstance(body.get("Resources"), dict) or not body["Resources"]:
        raise TemplateError(f"{path}:1: a template needs a Resources section with at least one resource")
    return Template(path, body)


