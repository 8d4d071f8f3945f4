"""One template deployed as one CloudFormation stack under a prefix, with what the harness observes it by.

Around the stack: a PostgreSQL schema holding the attempt ledger (the fault wrapper writes one row per
invocation attempt), a tap on every topic (made by the LocalStack process as the topic is created:
`harness.localstack.taps`), and a fault plan per function registered with the harness's executor
(`harness.localstack.executor.injection`), never a change to the template or the code. `PipelineStack` is this
with the seed pipeline's database and names; `TemplateStack` itself serves any template.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psycopg
from botocore.exceptions import ClientError
from psycopg import sql

from harness import faults as fault_injection
from harness.localstack.clock import ROUTE as CLOCK_ROUTE
from harness.localstack.clock import belongs
from harness.localstack.executor.injection import ROUTE as FAULTS_ROUTE
from harness.localstack.taps import ROUTE as TAPS_ROUTE
from harness.localstack.taps import tap_queue_name
from harness.observe import ledger
from harness.observe.taps import QueueTap
from harness.services import Endpoint
from harness.stack import template as templates
from harness.stack.packaging import build_directory_zip_path


class DeployError(Exception):
    """A resource that could not be created, named, with LocalStack's reason."""


class TemplateStack:
    def __init__(self, endpoint: Endpoint, database_url: str, prefix: str, template_path: Path,
                 parameters: Mapping[str, str] | None = None) -> None:
        self.endpoint, self.database_url, self.prefix = endpoint, database_url, prefix
        self.template_path = template_path
        self.schema = prefix.replace("-", "_")
        self.extra_parameters = dict(parameters or {})
        self.stack_id: str | None = None
        self.template: templates.Template | None = None
        self.physical: dict[str, str] = {}
        """Logical ID -> physical ID of every resource of the deployed stack."""
        self.stack_outputs: dict[str, str] = {}
        self.warnings: list[str] = []
        """What the template asks for that this platform does not do (`templates.unsupported_properties`)."""
        self.topic_arns: dict[str, str] = {}
        self.tap_urls: dict[str, str] = {}
        self.taps: dict[str, QueueTap] = {}
        self._registered: list[str] = []

    def client(self, service: str) -> Any:
        return self.endpoint.shared_client(service)

    # -- what a subclass changes ----------------------------------------------------------------------
    def parameters(self) -> dict[str, str]:
        return dict(self.extra_parameters)

    def zip_for(self, logical_id: str, directory: Path) -> Path:
        return build_directory_zip_path(directory)

    def _deploy_schema(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
            ledger.create(connection, self.schema)

    def _drop_schema(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))

    # -- deploy ----------------------------------------------------------------------------------------
    def deploy_stack(self) -> None:
        """The schema, then the stack with every topic tapped as CloudFormation creates it (an alarm's first
        notification comes within milliseconds of the alarm), then the check of its delivery targets."""
        self._step("database schema", self._deploy_schema)
        _harness_request(self.endpoint, TAPS_ROUTE, "PUT", self.prefix)
        try:
            self._step("stack from the template", self._deploy_template)
        finally:
            _harness_request(self.endpoint, TAPS_ROUTE, "DELETE", self.prefix)

    def _step(self, what: str, action: Any) -> Any:
        try:
            return action()
        except ClientError as error:
            raise DeployError(f"stack {self.prefix}: cannot create {what}: {error}") from error
        except psycopg.Error as error:
            raise DeployError(f"stack {self.prefix}: cannot create {what} in {self.database_url}: {error}") from error
        except templates.TemplateError as error:
            raise DeployError(f"stack {self.prefix}: {error}") from error

    def _deploy_template(self) -> None:
        template = self.template = templates.load(self.template_path)
        parameters = self.parameters()
        unknown = sorted(set(parameters) - set(template.parameters))
        if unknown:
            raise templates.TemplateError(f"{self.template_path}: declares no parameter {', '.join(unknown)}")
        errors = templates.lint(template)
        if errors:
            raise templates.TemplateError("cfn-lint reports errors:\n  " + "\n  ".join(errors))
        body = templates.package(template, self.client("s3"), self.zip_for)
        stack = templates.deploy(self.client("cloudformation"), self.prefix, body, parameters,
                                 what=str(self.template_path), sweep_with=self.client)
        self.stack_id = stack["StackId"]
        missing = templates.missing_targets(template, self.client, self.stack_id)
        if missing:
            raise templates.TemplateError("\n  ".join(["the stack's functions deliver to targets that do not exist:",
                                                        *missing]))
        self.physical = templates.physical_ids(self.client("cloudformation"), self.stack_id)
        self.stack_outputs = templates.outputs(stack)
        templates.apply_reserved_concurrency(template, self.physical, self.client("lambda"), parameters)
        self.warnings = templates.unsupported_properties(template)

    def find_tap(self, key: str, topic_arn: str, consume: bool = True) -> None:
        """The tap of the topic `topic_arn`, kept as `self.taps[key]`."""
        sqs = self.client("sqs")
        name = tap_queue_name(self.prefix, topic_arn.rsplit(":", 1)[-1])
        try:
            if name is None:
                raise DeployError(f"stack {self.prefix}: topic {topic_arn} is not named after the stack, so it "
                                  "was not tapped; leave its TopicName unset or start it with the stack's name")
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError as error:
            raise DeployError(f"stack {self.prefix}: no tap queue for topic {topic_arn} (the LocalStack at "
                              f"{self.endpoint.url} taps topics only when it runs the harness's launcher): "
                              f"{error}") from error
        self.topic_arns[key], self.tap_urls[key] = topic_arn, url
        # Not consumed when attached: the stack is someone else's, and a second check must see it all too.
        self.taps[key] = QueueTap(sqs, url, f"{key} tap", consume=consume)

    def register_faults(self, plans: Mapping[str, list[dict[str, Any]]]) -> None:
        """Give the executor each function's fault plan (by deployed name) and this stack's ledger."""
        for name, plan in plans.items():
            _harness_request(self.endpoint, FAULTS_ROUTE, "PUT", name,
                             fault_injection.registration(plan, self.database_url, self.schema))
            self._registered.append(name)

    # -- the stack's clock ---------------------------------------------------------------------------
    def advance_clock(self, seconds: float, *, stop_at_change: bool) -> dict[str, Any] | None:
        """Move this stack's clock `seconds` forward over idle time (`harness.localstack.clock`), its alarms
        evaluated on the way. The answer has the new `offset`, the seconds `advanced`, the state `changes`
        and how many `notifications` they send; or `busy` (why the stack is not idle). None when the
        LocalStack has no clock route."""
        body = {"seconds": seconds, "stop_at_change": stop_at_change,
                "region": self.client("cloudwatch").meta.region_name}
        answer = _harness_request(self.endpoint, CLOCK_ROUTE, "POST", self.prefix, body, timeout=30, answered=(409,))
        return None if answer is None else dict(answer)

    def activity(self) -> tuple[list[str], dict[str, int]] | None:
        """What the LocalStack is still doing for this stack, by its own count (`harness.localstack.clock`),
        and then how many messages wait in each of its tap queues (by queue name); None when it has no such
        count, or when that count cannot see all of the stack (`counted_by_name`)."""
        if not self.counted_by_name():
            return None
        answer = _harness_request(self.endpoint, CLOCK_ROUTE, "GET", self.prefix,
                                  query={"region": self.client("sqs").meta.region_name})
        if answer is None:
            return None
        return [str(reason) for reason in answer["busy"]], {str(k): int(v) for k, v in answer["waiting"].items()}

    def counted_by_name(self) -> bool:
        """Whether LocalStack's count of the stack's work can see all of it. It goes by the names of the
        stack's functions and topics, which must carry the stack's prefix (`harness.localstack.clock.belongs`).
        A name CloudFormation generated from a long stack name and logical ID is cut short and does not carry
        it (`OrderHandlerFunction` keeps 33 characters of the stack's name): that function's work would go
        uncounted, and a count that says idle would mean nothing."""
        functions = [self.physical[logical] for logical in (self.template.functions() if self.template else {})
                     if logical in self.physical]
        topics = [arn.rsplit(":", 1)[-1] for arn in self.topic_arns.values()]
        return all(belongs(name, self.prefix) for name in functions + topics)

    # -- teardown --------------------------------------------------------------------------------------
    def teardown(self) -> None:
        sns, sqs = self.client("sns"), self.client("sqs")
        _harness_request(self.endpoint, CLOCK_ROUTE, "DELETE", self.prefix)
        for name in self._registered:
            _harness_request(self.endpoint, FAULTS_ROUTE, "DELETE", name)
        self._registered.clear()
        for key in self.tap_urls:
            for subscription in sns.list_subscriptions_by_topic(TopicArn=self.topic_arns[key])["Subscriptions"]:
                if subscription["Protocol"] == "sqs":
                    sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
        # Every tap queue of this prefix, also those of a deploy that failed before the harness found them.
        for url in sqs.list_queues(QueueNamePrefix=f"{self.prefix}-tap-").get("QueueUrls", []):
            sqs.delete_queue(QueueUrl=url)
        if self.stack_id is not None:
            templates.delete(self.client("cloudformation"), self.stack_id, sweep_with=self.client)
            self.stack_id = None
        # A function LocalStack created but could not make Active is CREATE_FAILED to CloudFormation, which
        # therefore does not delete it with the stack; its name carries this stack's prefix. (LocalStack
        # 2026.3 cannot delete a Failed function either: it has no running version to stop. It runs nothing.)
        lam = self.client("lambda")
        for page in lam.get_paginator("list_functions").paginate():
            for function in page["Functions"]:
                name = function["FunctionName"]  # (ListFunctions gives no State)
                if name.startswith(f"{self.prefix}-") and \
                        lam.get_function_configuration(FunctionName=name).get("State") != "Failed":
                    lam.delete_function(FunctionName=name)
        self._drop_schema()


def _harness_request(endpoint: Endpoint, route: str, method: str, name: str, body: Any = None, *,
                     timeout: float = 10, answered: tuple[int, ...] = (), query: dict[str, str] | None = None) -> Any:
    """A request to the harness's own routes in its LocalStack process: register (PUT) or remove (DELETE)
    a function's fault plan (`harness.localstack.executor.injection`) or a prefix whose topics are tapped
    (`harness.localstack.taps`); read (GET) or move (POST) a stack's clock (`harness.localstack.clock`).
    Returns the JSON answer, also that of an error status listed in `answered`; None when there is none,
    or when the route is missing (except for a PUT, which then fails: the LocalStack is not the harness's)."""
    url = f"{endpoint.url.rstrip('/')}{route}/{name}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (the stack's endpoint)
            raw = response.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        if error.code in answered:
            return json.loads(error.read())
        if error.code == 404 and method == "PUT":
            raise DeployError(
                f"the LocalStack at {endpoint.url} does not run the harness's launcher and Lambda executor (no "
                f"{route} route): faults, the attempt ledger and the taps need them. Let the harness start "
                "LocalStack, or attach to one started by `harness up`.") from error
        if error.code == 404:
            return None
        raise DeployError(f"{method} {url}: {error.code} {error.read().decode(errors='replace')}") from error
    except urllib.error.URLError as error:
        raise DeployError(f"{method} {url}: {error.reason}") from error
