"""Deploys the seed pipeline onto LocalStack under a name prefix, from its SAM template, and tears it down.

The pipeline is `lambdas/template.yaml`, deployed as it is as one CloudFormation stack named after the
prefix, with the scenario's settings as the template's parameters (`PipelineStack.parameters`): the
functions, topics, dead-letter and retry settings, the error handler's subscription, the alarms and the
policies are whatever that template says. Around it the harness adds only what observes: a PostgreSQL
schema (with the attempt ledger), an SQS tap on every topic that sees every message, and a fault plan per
function registered with the harness's executor (an empty plan when the scenario injects nothing; the
executor applies it inside the runtime process, so the deployed functions stay exactly as the template
says). Several stacks live side by side in one LocalStack and one database.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from botocore.exceptions import ClientError

from harness import faults as fault_injection
from harness.executor.injection import ROUTE as FAULTS_ROUTE
from harness.localstack import Endpoint
from harness.localstack.tapping import ROUTE as TAPS_ROUTE
from harness.observe import ledger
from harness.observe.taps import QueueTap
from harness.scenario.catalog import TOPICS
from harness.stack import template as templates
from harness.stack.database import PipelineDatabase, PipelineNames
from harness.stack.packaging import FUNCTIONS, build_directory_zip_path, build_function_zip_path

# The template's names for the pipeline's parts (its logical IDs and parameter prefixes).
FUNCTION_IDS = {"orchestrator": "Orchestrator", "worker": "Worker", "error_handler": "ErrorHandler"}
TOPIC_OUTPUTS = {"notifications": "NotificationsTopicArn", "dlq": "DlqTopicArn", "alarms": "AlarmTopicArn",
                 "error_handler_dlq": "ErrorHandlerDlqTopicArn"}
ALARM_IDS = {"job_not_run": "JobNotRun", "job_failed": "JobFailed"}
ON_ERROR_PARAMETERS = {"ON_ERROR_LOGICAL": "OnErrorLogical", "ON_ERROR_PROGRAMMATIC": "OnErrorProgrammatic",
                       "ON_ERROR_TRANSIENT": "OnErrorTransient"}


class DeployError(Exception):
    """A resource that could not be created, named, with LocalStack's reason."""


@dataclass
class FunctionConfig:
    timeout_seconds: int = 3
    memory_mb: int = 128
    max_retry_attempts: int = 2


@dataclass
class AlarmConfig:
    """One alarm's design; the defaults are the seed design's."""

    period_seconds: int = 60
    evaluation_periods: int = 1
    threshold: float = 1
    treat_missing_data: str = "breaching"


@dataclass
class StackConfig:
    prefix: str
    functions: dict[str, FunctionConfig] = field(
        default_factory=lambda: {name: FunctionConfig() for name in FUNCTIONS})
    alarms: dict[str, AlarmConfig] = field(
        default_factory=lambda: {"job_not_run": AlarmConfig(), "job_failed": AlarmConfig()})
    max_shard_size: int = 100
    reshard_factor: int = 2
    max_reshard_depth: int = 10
    faults: list[Any] = field(default_factory=list)
    alarm_period_seconds: int | None = None
    """Shorthand: the period of both alarms (overrides `alarms`' periods when given)."""
    worker_on_error: dict[str, str] = field(default_factory=dict)
    """The worker's error policy as ON_ERROR_* variables; empty: the pipeline's defaults."""
    parameters: dict[str, str] = field(default_factory=dict)
    """More template parameters (none of those the settings above give)."""

    def __post_init__(self) -> None:
        if self.alarm_period_seconds is not None:
            for settings in self.alarms.values():
                settings.period_seconds = self.alarm_period_seconds
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,39}", self.prefix):
            raise ValueError(f"stack prefix {self.prefix!r} must be 1-40 of a-z, 0-9 and '-', starting with a letter")


class PipelineStack:
    def __init__(self, endpoint: Endpoint, database_url: str, config: StackConfig,
                 template_path: Path = templates.PIPELINE_TEMPLATE) -> None:
        self.endpoint, self.database_url, self.config = endpoint, database_url, config
        self.template_path = template_path
        self.prefix = config.prefix
        self.schema = self.prefix.replace("-", "_")
        self.names = PipelineNames()
        self.db = PipelineDatabase(database_url, self.schema, self.names)
        self.stack_id: str | None = None
        self.topic_arns: dict[str, str] = {}
        self.tap_urls: dict[str, str] = {}
        self.taps: dict[str, QueueTap] = {}
        self.function_arns: dict[str, str] = {}
        self.function_names: dict[str, str] = {}
        self.alarm_names: dict[str, str] = {}
        self._registered: list[str] = []

    def client(self, service: str) -> Any:
        return self.endpoint.shared_client(service)

    def function_name(self, logical: str) -> str:
        """The deployed name of a pipeline function (`worker`, ...), as the stack's outputs give it."""
        if logical not in self.function_names:
            raise DeployError(f"stack {self.prefix}: function {logical} is not known before deploy() or attach()")
        return self.function_names[logical]

    # -- deploy ----------------------------------------------------------------------------------------
    def deploy(self) -> PipelineStack:
        self._step("database schema", self._deploy_schema)
        # Each topic is tapped as CloudFormation creates it, before anything can publish to it (an alarm's
        # first notification comes within milliseconds of the alarm): harness.localstack.tapping.
        _harness_request(self.endpoint, TAPS_ROUTE, "PUT", self.prefix)
        try:
            self._step("stack from the template", self._deploy_template)
        finally:
            _harness_request(self.endpoint, TAPS_ROUTE, "DELETE", self.prefix)
        for topic in TOPICS:
            self._step(f"tap on topic {topic}", lambda t=topic: self._find_tap(t))
        self._step("fault plans", self._register_faults)
        return self

    def _step(self, what: str, action: Any) -> Any:
        try:
            return action()
        except ClientError as error:
            raise DeployError(f"stack {self.prefix}: cannot create {what}: {error}") from error
        except psycopg.Error as error:
            raise DeployError(f"stack {self.prefix}: cannot create {what} in {self.database_url}: {error}") from error
        except templates.TemplateError as error:
            raise DeployError(f"stack {self.prefix}: {error}") from error

    def _deploy_schema(self) -> None:
        self.db.create()
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            ledger.create(connection, self.schema)

    def parameters(self) -> dict[str, str]:
        """The template's parameters for this stack's settings (every one the template declares and the
        scenario varies; the rest keep the template's defaults)."""
        config, names = self.config, self.names
        values: dict[str, Any] = {
            "DatabaseUrl": self.database_url, "DbSchema": self.schema,
            "FilesTable": names.files_table, "RowsTable": names.rows_table,
            "DecisionsTable": names.decisions_table, "QuarantineTable": names.quarantine_table,
            "MaxShardSize": config.max_shard_size, "ReshardFactor": config.reshard_factor,
            "MaxReshardDepth": config.max_reshard_depth,
        }
        for logical, prefix in FUNCTION_IDS.items():
            settings = config.functions[logical]
            values.update({f"{prefix}Timeout": settings.timeout_seconds, f"{prefix}MemorySize": settings.memory_mb,
                           f"{prefix}MaxRetryAttempts": settings.max_retry_attempts})
        for alarm, prefix in ALARM_IDS.items():
            design = config.alarms[alarm]
            values.update({f"{prefix}Period": design.period_seconds,
                           f"{prefix}EvaluationPeriods": design.evaluation_periods,
                           f"{prefix}Threshold": f"{design.threshold:g}",
                           f"{prefix}TreatMissingData": design.treat_missing_data})
        for variable, value in config.worker_on_error.items():
            values[ON_ERROR_PARAMETERS[variable]] = value
        clashing = sorted(set(config.parameters) & set(values))
        if clashing:
            raise DeployError(f"stack {self.prefix}: parameter(s) {', '.join(clashing)} come from the stack "
                              "settings (timeouts, retries, alarms, ...); set them there")
        values.update(config.parameters)
        return {key: str(value) for key, value in values.items()}

    def _deploy_template(self) -> None:
        template = templates.load(self.template_path)
        unknown = sorted(set(self.parameters()) - set(template.parameters))
        if unknown:
            raise templates.TemplateError(f"{self.template_path}: declares no parameter {', '.join(unknown)} (the "
                                          "harness sets it from the scenario's stack settings)")
        errors = templates.lint(template)
        if errors:
            raise templates.TemplateError("cfn-lint reports errors:\n  " + "\n  ".join(errors))
        body = templates.package(template, self.client("s3"), _pipeline_zip)
        stack = templates.deploy(self.client("cloudformation"), self.prefix, body, self.parameters(),
                                 what=str(self.template_path), sweep_with=self.client)
        self.stack_id = stack["StackId"]
        missing = templates.missing_targets(template, self.client, self.stack_id)
        if missing:
            raise templates.TemplateError("\n  ".join(["the stack's functions deliver to targets that do not exist:",
                                                        *missing]))
        self._read_outputs(templates.outputs(stack))

    def _read_outputs(self, outputs: dict[str, str]) -> None:
        missing = [key for key in (*TOPIC_OUTPUTS.values(), *(f"{p}Alarm" for p in ALARM_IDS.values()),
                                   *(f"{p}Function" for p in FUNCTION_IDS.values())) if key not in outputs]
        if missing:
            raise templates.TemplateError(f"{self.template_path}: the stack has no output {', '.join(missing)}")
        self.topic_arns = {topic: outputs[key] for topic, key in TOPIC_OUTPUTS.items()}
        self.alarm_names = {alarm: outputs[f"{prefix}Alarm"] for alarm, prefix in ALARM_IDS.items()}
        lam = self.client("lambda")
        for logical, prefix in FUNCTION_IDS.items():
            name = self.function_names[logical] = outputs[f"{prefix}Function"]
            self.function_arns[logical] = lam.get_function_configuration(FunctionName=name)["FunctionArn"]

    def _find_tap(self, topic: str, consume: bool = True) -> None:
        sqs = self.client("sqs")
        try:
            url = sqs.get_queue_url(QueueName=f"{self.prefix}-tap-{topic}")["QueueUrl"]
        except ClientError as error:
            raise DeployError(f"stack {self.prefix}: no tap queue for topic {topic} (the LocalStack at "
                              f"{self.endpoint.url} taps topics only when it runs the harness's launcher): "
                              f"{error}") from error
        self.tap_urls[topic] = url
        # Not consumed when attached: the stack is someone else's, and a second check must see it all too.
        self.taps[topic] = QueueTap(sqs, url, f"{topic} tap", consume=consume)

    def fault_registration(self, logical: str) -> dict[str, Any]:
        """What the executor gets for one function: its fault plan and where its attempt ledger is."""
        plan = fault_injection.fault_plan(self.config.faults, logical)
        return fault_injection.registration(plan, self.database_url, self.schema)

    def _register_faults(self) -> None:
        for logical in FUNCTIONS:
            name = self.function_name(logical)
            _harness_request(self.endpoint, FAULTS_ROUTE, "PUT", name, self.fault_registration(logical))
            self._registered.append(name)

    # -- attach ----------------------------------------------------------------------------------------
    def attach(self, consume: bool = False) -> PipelineStack:
        """Find this prefix's stack, deployed earlier (say by `harness up --deploy`), without creating
        anything: its outputs (topics, functions, alarms) and its tap queues. Raises DeployError naming what
        is missing."""
        try:
            stack = self.client("cloudformation").describe_stacks(StackName=self.prefix)["Stacks"][0]
            self._read_outputs(templates.outputs(stack))
        except (ClientError, templates.TemplateError) as error:
            raise DeployError(f"stack {self.prefix}: not found at {self.endpoint.url} (is the prefix right, and is "
                              f"that stack still up?): {error}") from error
        for topic in TOPICS:
            self._find_tap(topic, consume=consume)
        return self

    def alarm_state(self, alarm: str) -> str:
        """The alarm's current state (OK, ALARM or INSUFFICIENT_DATA), as CloudWatch has it now."""
        found = self.client("cloudwatch").describe_alarms(AlarmNames=[self.alarm_names[alarm]])["MetricAlarms"]
        return str(found[0]["StateValue"]) if found else "INSUFFICIENT_DATA"

    def mark_run(self, run: int) -> None:
        """Tell the fault wrapper that run `run` of the job starts now (faults can target runs)."""
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            ledger.mark_run(connection, self.schema, run)

    # -- use -------------------------------------------------------------------------------------------
    def run_job(self, job: dict[str, Any], invocation: str = "sync") -> dict[str, Any]:
        """Invoke the orchestrator with ``job``, synchronously (``sync``, its answer decoded) or as an
        asynchronous event (``event``: status 202 and no answer; Lambda retries it on failure)."""
        response = self.client("lambda").invoke(
            FunctionName=self.function_name("orchestrator"), Payload=json.dumps(job).encode(),
            InvocationType="Event" if invocation == "event" else "RequestResponse")
        payload = response["Payload"].read()
        body = json.loads(payload) if payload else None
        return {"status": response["StatusCode"], "function_error": response.get("FunctionError"), "body": body}

    def outputs(self) -> dict[str, str]:
        """One NAME=value per thing a person or script needs (printed by `harness up --deploy`)."""
        out = {f"{logical.upper()}_FUNCTION": self.function_name(logical) for logical in FUNCTIONS}
        topic_names = {"notifications": "NOTIFICATIONS", "dlq": "DLQ", "alarms": "ALARM",
                       "error_handler_dlq": "ERROR_HANDLER_DLQ"}
        out.update({f"{topic_names[topic]}_TOPIC_ARN": arn for topic, arn in self.topic_arns.items()})
        out.update({f"{topic_names[topic]}_TAP_QUEUE_URL": url for topic, url in self.tap_urls.items()})
        out.update({f"{alarm.upper()}_ALARM": name for alarm, name in self.alarm_names.items()})
        out["DB_SCHEMA"] = self.schema
        return out

    # -- teardown --------------------------------------------------------------------------------------
    def teardown(self) -> None:
        sns, sqs = self.client("sns"), self.client("sqs")
        for name in self._registered:
            _harness_request(self.endpoint, FAULTS_ROUTE, "DELETE", name)
        self._registered.clear()
        for topic in self.tap_urls:
            for subscription in sns.list_subscriptions_by_topic(TopicArn=self.topic_arns[topic])["Subscriptions"]:
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
        self.db.drop()


def _pipeline_zip(logical_id: str, directory: Path) -> Path:
    """The zip of a code directory: for one of lambdas/'s functions, with `common/` and the vendored
    requirements as the pipeline packages them; for any other directory, the directory as it is."""
    if directory.parent == templates.PIPELINE_TEMPLATE.parent.resolve() and directory.name in FUNCTIONS:
        return build_function_zip_path(directory.name)
    return build_directory_zip_path(directory)


def _harness_request(endpoint: Endpoint, route: str, method: str, name: str, body: Any = None) -> None:
    """A request to the harness's own routes in its LocalStack process: register (PUT) or remove (DELETE)
    a function's fault plan (`harness.executor.injection`) or a prefix whose topics are tapped
    (`harness.localstack.tapping`)."""
    url = f"{endpoint.url.rstrip('/')}{route}/{name}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10):
            return
    except urllib.error.HTTPError as error:
        if error.code == 404 and method == "PUT":
            raise DeployError(
                f"the LocalStack at {endpoint.url} does not run the harness's launcher and Lambda executor (no "
                f"{route} route): faults, the attempt ledger and the taps need them. Let the harness start "
                "LocalStack, or attach to one started by `harness up`.") from error
        if error.code == 404:
            return
        raise DeployError(f"{method} {url}: {error.code} {error.read().decode(errors='replace')}") from error
    except urllib.error.URLError as error:
        raise DeployError(f"{method} {url}: {error.reason}") from error


def unique_prefix(hint: str) -> str:
    """A stack prefix from a hint (a scenario name), unique enough for side-by-side stacks."""
    slug = re.sub(r"[^a-z0-9-]+", "-", hint.lower()).strip("-")[:28] or "stack"
    if not slug[0].isalpha():
        slug = "s-" + slug[:26]
    return f"{slug}-{uuid.uuid4().hex[:8]}"
