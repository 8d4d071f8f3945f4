"""Deploys the seed pipeline onto LocalStack under a name prefix, idempotently, and tears it down.

One stack: an IAM role; notifications, DLQ, alarm and error-handler DLQ topics, each with an SQS tap
that sees every message; the orchestrator, worker and error handler (each behind the fault wrapper,
with an empty fault plan when the scenario injects nothing); the worker's and the error handler's
dead-letter configs and retry settings (a dead letter the error handler fails on is kept, not lost);
the error handler subscribed to the DLQ topic; the JOB NOT RUN and JOB FAILED alarms; and a PostgreSQL
schema. Several stacks live side by side in one LocalStack and one database.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psycopg
from botocore.exceptions import ClientError

from harness import faults as fault_injection
from harness.localstack import Endpoint
from harness.observe import ledger
from harness.observe.taps import QueueTap
from harness.scenario.catalog import DEAD_LETTER_TOPICS, TOPICS
from harness.stack.database import PipelineDatabase, PipelineNames
from harness.stack.lambda_api import wait_active
from harness.stack.packaging import FUNCTIONS, build_function_zip

TRUST_POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})


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

    def __post_init__(self) -> None:
        if self.alarm_period_seconds is not None:
            for settings in self.alarms.values():
                settings.period_seconds = self.alarm_period_seconds
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,39}", self.prefix):
            raise ValueError(f"stack prefix {self.prefix!r} must be 1-40 of a-z, 0-9 and '-', starting with a letter")


class PipelineStack:
    def __init__(self, endpoint: Endpoint, database_url: str, config: StackConfig) -> None:
        self.endpoint, self.database_url, self.config = endpoint, database_url, config
        self.prefix = config.prefix
        self.schema = self.prefix.replace("-", "_")
        self.names = PipelineNames()
        self.db = PipelineDatabase(database_url, self.schema, self.names)
        self.role_arn = ""
        self.topic_arns: dict[str, str] = {}
        self.tap_urls: dict[str, str] = {}
        self.taps: dict[str, QueueTap] = {}
        self.function_arns: dict[str, str] = {}
        self.alarm_names = {"job_not_run": f"{self.prefix}-job-not-run", "job_failed": f"{self.prefix}-job-failed"}
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()  # deploy() asks for its clients from several threads

    def client(self, service: str) -> Any:
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = self.endpoint.client(service)
            return self._clients[service]

    def function_name(self, logical: str) -> str:
        return f"{self.prefix}-{logical.replace('_', '-')}"

    # -- deploy ----------------------------------------------------------------------------------------
    def deploy(self) -> PipelineStack:
        self._step("database schema", self._deploy_schema)
        self.role_arn = self._step("IAM role", self._deploy_role)
        for topic in TOPICS:
            self._step(f"topic {topic}", lambda t=topic: self._deploy_topic(t))
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda name: self._step(f"function {name}", lambda: self._deploy_function(name)),
                          FUNCTIONS))
        self._step("retry settings of the worker and the error handler", self._configure_async)
        self._step("error handler subscription to the DLQ topic", self._subscribe_error_handler)
        self._step("alarms", self._deploy_alarms)
        return self

    def _step(self, what: str, action: Any) -> Any:
        try:
            return action()
        except ClientError as error:
            raise DeployError(f"stack {self.prefix}: cannot create {what}: {error}") from error
        except psycopg.Error as error:
            raise DeployError(f"stack {self.prefix}: cannot create {what} in {self.database_url}: {error}") from error

    def _deploy_schema(self) -> None:
        self.db.create()
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            ledger.create(connection, self.schema)

    def _deploy_role(self) -> str:
        iam, name = self.client("iam"), f"{self.prefix}-role"
        try:
            return iam.get_role(RoleName=name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            return iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST_POLICY)["Role"]["Arn"]

    def _deploy_topic(self, topic: str) -> None:
        sns, sqs = self.client("sns"), self.client("sqs")
        arn = sns.create_topic(Name=f"{self.prefix}-{topic}")["TopicArn"]  # idempotent by name
        url = sqs.create_queue(QueueName=f"{self.prefix}-tap-{topic}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        existing = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
        if not any(s["Endpoint"] == queue_arn for s in existing):
            sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
        self.topic_arns[topic], self.tap_urls[topic] = arn, url
        self.taps[topic] = QueueTap(sqs, url, f"{topic} tap")

    def function_environment(self, logical: str) -> dict[str, str]:
        env = {"LOG_LEVEL": "INFO"}
        if logical in ("worker", "error_handler"):
            env.update(DATABASE_URL=self.database_url, DB_SCHEMA=self.schema,
                       NOTIFICATIONS_TOPIC_ARN=self.topic_arns["notifications"])
            env.update({k: v for k, v in self.names.as_env().items() if k in FUNCTIONS[logical].env_names})
        if logical in ("orchestrator", "error_handler"):
            env["WORKER_FUNCTION"] = self.function_name("worker")
        if logical == "orchestrator":
            env["MAX_SHARD_SIZE"] = str(self.config.max_shard_size)
        if logical == "worker":
            env.update(self.config.worker_on_error)
        if logical == "error_handler":
            env.update(RESHARD_FACTOR=str(self.config.reshard_factor),
                       MAX_RESHARD_DEPTH=str(self.config.max_reshard_depth))
        plan = fault_injection.fault_plan(self.config.faults, logical)
        env.update(fault_injection.wrapper_environment(plan, FUNCTIONS[logical].handler, self.database_url,
                                                       self.schema))
        return env

    def _deploy_function(self, logical: str) -> None:
        lam, name = self.client("lambda"), self.function_name(logical)
        settings = self.config.functions[logical]
        code = build_function_zip(logical, fault_injection.wrapper_files())
        common = dict(Runtime="python3.13", Role=self.role_arn, Handler=fault_injection.WRAPPER_HANDLER,
                      Timeout=settings.timeout_seconds, MemorySize=settings.memory_mb,
                      Environment={"Variables": self.function_environment(logical)})
        if logical in DEAD_LETTER_TOPICS:
            common["DeadLetterConfig"] = {"TargetArn": self.topic_arns[DEAD_LETTER_TOPICS[logical]]}
        try:
            arn = lam.create_function(FunctionName=name, Code={"ZipFile": code}, **common)["FunctionArn"]
        except lam.exceptions.ResourceConflictException:
            lam.update_function_code(FunctionName=name, ZipFile=code)
            wait_active(lam, name)
            arn = lam.update_function_configuration(FunctionName=name, **common)["FunctionArn"]
        wait_active(lam, name)
        self.function_arns[logical] = arn

    def _configure_async(self) -> None:
        # The orchestrator too: it is retried like the others when a scenario invokes it asynchronously.
        for logical in ("orchestrator", *DEAD_LETTER_TOPICS):
            self.client("lambda").put_function_event_invoke_config(
                FunctionName=self.function_name(logical),
                MaximumRetryAttempts=self.config.functions[logical].max_retry_attempts,
            )

    def _subscribe_error_handler(self) -> None:
        sns, arn = self.client("sns"), self.function_arns["error_handler"]
        existing = sns.list_subscriptions_by_topic(TopicArn=self.topic_arns["dlq"])["Subscriptions"]
        if not any(s["Endpoint"] == arn for s in existing):
            sns.subscribe(TopicArn=self.topic_arns["dlq"], Protocol="lambda", Endpoint=arn)

    def _deploy_alarms(self) -> None:
        cloudwatch, topic = self.client("cloudwatch"), self.topic_arns["alarms"]
        common = dict(Namespace="AWS/Lambda", Statistic="Sum", ActionsEnabled=True,
                      AlarmActions=[topic], OKActions=[topic], InsufficientDataActions=[topic])

        def design(alarm: str) -> dict[str, Any]:
            settings = self.config.alarms[alarm]
            return dict(Period=settings.period_seconds, EvaluationPeriods=settings.evaluation_periods,
                        Threshold=settings.threshold, TreatMissingData=settings.treat_missing_data, **common)

        cloudwatch.put_metric_alarm(
            AlarmName=self.alarm_names["job_not_run"], AlarmDescription="JOB NOT RUN",
            MetricName="Invocations", ComparisonOperator="LessThanThreshold",
            Dimensions=[{"Name": "FunctionName", "Value": self.function_name("orchestrator")}],
            **design("job_not_run"))
        cloudwatch.put_metric_alarm(
            AlarmName=self.alarm_names["job_failed"], AlarmDescription="JOB FAILED",
            MetricName="Errors", ComparisonOperator="GreaterThanOrEqualToThreshold",
            Dimensions=[{"Name": "FunctionName", "Value": self.function_name("worker")}],
            **design("job_failed"))

    # -- attach ----------------------------------------------------------------------------------------
    def attach(self, consume: bool = False) -> PipelineStack:
        """Find this prefix's stack, deployed earlier (say by `harness up --deploy`), without creating
        anything: its topics, their tap queues and its functions. Raises DeployError naming what is missing."""
        sns, sqs, lam = self.client("sns"), self.client("sqs"), self.client("lambda")
        arns = {arn.rsplit(":", 1)[-1]: arn for page in sns.get_paginator("list_topics").paginate()
                for arn in (topic["TopicArn"] for topic in page["Topics"])}
        for topic in TOPICS:
            name = f"{self.prefix}-{topic}"
            if name not in arns:
                raise DeployError(f"stack {self.prefix}: no topic {name} at {self.endpoint.url} "
                                  "(is the prefix right, and is that stack still up?)")
            try:
                url = sqs.get_queue_url(QueueName=f"{self.prefix}-tap-{topic}")["QueueUrl"]
            except ClientError as error:
                raise DeployError(f"stack {self.prefix}: no tap queue for topic {topic}: {error}") from error
            self.topic_arns[topic], self.tap_urls[topic] = arns[name], url
            # Not consumed by default: the stack is someone else's, and a second check must see it all too.
            self.taps[topic] = QueueTap(sqs, url, f"{topic} tap", consume=consume)
        for logical in FUNCTIONS:
            try:
                self.function_arns[logical] = lam.get_function(
                    FunctionName=self.function_name(logical))["Configuration"]["FunctionArn"]
            except ClientError as error:
                raise DeployError(f"stack {self.prefix}: no function {self.function_name(logical)}: "
                                  f"{error}") from error
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
        lam, sns, sqs = self.client("lambda"), self.client("sns"), self.client("sqs")
        self.client("cloudwatch").delete_alarms(AlarmNames=list(self.alarm_names.values()))
        for logical in FUNCTIONS:
            try:
                lam.delete_function(FunctionName=self.function_name(logical))
            except lam.exceptions.ResourceNotFoundException:
                pass
        for topic, arn in self.topic_arns.items():
            for subscription in sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]:
                sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
            sns.delete_topic(TopicArn=arn)
            sqs.delete_queue(QueueUrl=self.tap_urls[topic])
        try:
            self.client("iam").delete_role(RoleName=f"{self.prefix}-role")
        except ClientError:
            pass
        self.db.drop()


def unique_prefix(hint: str) -> str:
    """A stack prefix from a hint (a scenario name), unique enough for side-by-side stacks."""
    slug = re.sub(r"[^a-z0-9-]+", "-", hint.lower()).strip("-")[:28] or "stack"
    if not slug[0].isalpha():
        slug = "s-" + slug[:26]
    return f"{slug}-{uuid.uuid4().hex[:8]}"
