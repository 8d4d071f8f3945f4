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

import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from botocore.exceptions import ClientError

from harness import faults as fault_injection
from harness.format.catalog import TOPICS
from harness.format.faults import fault_plan
from harness.observe import ledger
from harness.packaging import FUNCTIONS, build_directory_zip_path, build_function_zip_path
from harness.records import Attempt
from harness.scenario.pipeline import ALARM_PARAMETERS, FUNCTION_PARAMETERS, StackSettings
from harness.services import Endpoint
from harness.stack import template as templates
from harness.stack.database import PipelineDatabase, PipelineNames
from harness.stack.template import parameter_values
from harness.stack.template_stack import DeployError, TemplateStack

__all__ = ["DeployError", "PipelineStack", "unique_prefix"]

# The template's names for the pipeline's parts (its logical IDs and parameter prefixes).
FUNCTION_IDS = FUNCTION_PARAMETERS
TOPIC_OUTPUTS = {"notifications": "NotificationsTopicArn", "dlq": "DlqTopicArn", "alarms": "AlarmTopicArn",
                 "error_handler_dlq": "ErrorHandlerDlqTopicArn"}
ALARM_IDS = ALARM_PARAMETERS
ON_ERROR_PARAMETERS = {"logical": "OnErrorLogical", "programmatic": "OnErrorProgrammatic",
                       "transient": "OnErrorTransient"}
_PREFIX = re.compile(r"[a-z][a-z0-9-]{0,39}")


class PipelineStack(TemplateStack):
    """The seed pipeline deployed with a scenario's stack settings and faults (the template's parameters are
    the settings, every one the scenario omits the template's own default)."""

    def __init__(self, endpoint: Endpoint, database_url: str, prefix: str, settings: StackSettings | None = None,
                 faults: Sequence[Any] = (), template_path: Path = templates.PIPELINE_TEMPLATE) -> None:
        if not _PREFIX.fullmatch(prefix):
            raise ValueError(f"stack prefix {prefix!r} must be 1-40 of a-z, 0-9 and '-', starting with a letter")
        super().__init__(endpoint, database_url, prefix, template_path)
        self.settings = settings if settings is not None else StackSettings()
        self.faults = list(faults)
        self.names = PipelineNames()
        self.db = PipelineDatabase(database_url, self.schema, self.names)

    # -- deploy ----------------------------------------------------------------------------------------
    def deploy(self) -> PipelineStack:
        self.deploy_stack()
        self._step("the stack's outputs", lambda: self._read_outputs(self.stack_outputs))
        for topic in TOPICS:
            self._step(f"tap on topic {topic}", lambda t=topic: self.find_tap(t, self.topic_arns[t]))
        self._step("fault plans", lambda: self.register_faults(
            {self.function_name(logical): self.fault_registration(logical)["faults"] for logical in FUNCTIONS}))
        return self

    def _deploy_schema(self) -> None:
        self.db.create()
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            ledger.create(connection, self.schema)

    def _drop_schema(self) -> None:
        self.db.drop()

    def zip_for(self, logical_id: str, directory: Path) -> Path:
        return _pipeline_zip(logical_id, directory)

    def parameters(self) -> dict[str, str]:
        """The template's parameters for this stack's settings (every one the template declares and the
        scenario varies; the rest keep the template's defaults)."""
        settings, names = self.settings, self.names
        values: dict[str, Any] = {
            "DatabaseUrl": self.database_url, "DbSchema": self.schema,
            "FilesTable": names.files_table, "RowsTable": names.rows_table,
            "DecisionsTable": names.decisions_table, "QuarantineTable": names.quarantine_table,
            "MaxShardSize": settings.max_shard_size, "ReshardFactor": settings.reshard_factor,
            "MaxReshardDepth": settings.max_reshard_depth,
        }
        for logical, prefix in FUNCTION_IDS.items():
            function = settings.function(logical)  # type: ignore[arg-type]
            values.update({f"{prefix}Timeout": function.timeout_seconds, f"{prefix}MemorySize": function.memory_mb,
                           f"{prefix}MaxRetryAttempts": function.max_retry_attempts})
        for alarm, prefix in ALARM_IDS.items():
            design = settings.alarm(alarm)  # type: ignore[arg-type]
            values.update({f"{prefix}Period": design.period_seconds,
                           f"{prefix}EvaluationPeriods": design.evaluation_periods,
                           f"{prefix}Threshold": f"{design.threshold:g}",
                           f"{prefix}TreatMissingData": design.treat_missing_data})
        for failure_class, parameter in ON_ERROR_PARAMETERS.items():
            values[parameter] = settings.worker.on_error.action(failure_class)
        extra = parameter_values(settings.parameters)
        clashing = sorted(set(extra) & set(values))
        if clashing:
            raise DeployError(f"stack {self.prefix}: parameter(s) {', '.join(clashing)} come from the stack "
                              "settings (timeouts, retries, alarms, ...); set them there")
        values.update(extra)
        return {key: str(value) for key, value in values.items()}

    def _read_outputs(self, outputs: dict[str, str]) -> None:
        missing = [key for key in (*TOPIC_OUTPUTS.values(), *(f"{p}Alarm" for p in ALARM_IDS.values()),
                                   *(f"{p}Function" for p in FUNCTION_IDS.values())) if key not in outputs]
        if missing:
            raise templates.TemplateError(f"{self.template_path}: the stack has no output {', '.join(missing)}")
        self.topic_arns = {topic: outputs[key] for topic, key in TOPIC_OUTPUTS.items()}
        self.alarm_names = {alarm: outputs[f"{prefix}Alarm"] for alarm, prefix in ALARM_IDS.items()}
        for logical, prefix in FUNCTION_IDS.items():
            self.function_names[logical] = outputs[f"{prefix}Function"]

    def fault_registration(self, logical: str) -> dict[str, Any]:
        """What the executor gets for one function: its fault plan and where its attempt ledger is."""
        plan = fault_plan(self.faults, logical)
        return fault_injection.registration(plan, self.database_url, self.schema)

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
            self.find_tap(topic, self.topic_arns[topic], consume=consume)
        return self

    # -- use -------------------------------------------------------------------------------------------
    def run_job(self, job: dict[str, Any], invocation: str = "sync") -> dict[str, Any]:
        """Invoke the orchestrator with ``job`` (see `invoke`)."""
        return self.invoke("orchestrator", job, invocation)

    def attempts(self) -> list[Attempt]:
        logical = {name: function for function, name in self.function_names.items()}
        with self.db.reading() as connection:  # the stack's one connection: this is read many times a second
            return ledger.attempts(connection, self.schema, logical)

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

def _pipeline_zip(logical_id: str, directory: Path) -> Path:
    """The zip of a code directory: for one of lambdas/'s functions, with `common/` and the vendored
    requirements as the pipeline packages them; for any other directory, the directory as it is."""
    if directory.parent == templates.PIPELINE_TEMPLATE.parent.resolve() and directory.name in FUNCTIONS:
        return build_function_zip_path(directory.name)
    return build_directory_zip_path(directory)


def unique_prefix(hint: str) -> str:
    """A stack prefix from a hint (a scenario name), unique enough for side-by-side stacks."""
    slug = re.sub(r"[^a-z0-9-]+", "-", hint.lower()).strip("-")[:28] or "stack"
    if not slug[0].isalpha():
        slug = "s-" + slug[:26]
    return f"{slug}-{uuid.uuid4().hex[:8]}"
