"""One template deployed as one CloudFormation stack under a prefix, with what the harness observes it by.

Around the stack: a PostgreSQL schema holding the attempt ledger (the fault wrapper writes one row per
invocation attempt), a tap on every topic (made by the LocalStack process as the topic is created), a clock
of the stack's own (registered before the deploy, so that everything CloudFormation creates runs on it),
and a fault plan per function registered with the harness's executor, never a change to the template or the
code; all through the routes of `harness.wire`. `PipelineStack` is this with the seed pipeline's database and
names; `TemplateStack` itself serves any template.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psycopg
from botocore.exceptions import ClientError
from psycopg import sql

from harness import faults as fault_injection
from harness import wire
from harness.faults.plan import init_fault
from harness.format.faults import fault_plan
from harness.format.template import ALARM_TYPES, QUEUE_TYPES, TOPIC_TYPES
from harness.observe import ledger
from harness.observe.taps import QueueTap
from harness.packaging import build_directory_zip_path
from harness.records import AlarmTransition, Attempt, epoch, is_initial
from harness.services import Endpoint
from harness.stack import template as templates


class DeployError(Exception):
    """A resource that could not be created, named, with LocalStack's reason."""


class TemplateStack:
    def __init__(self, endpoint: Endpoint, database_url: str, prefix: str, template_path: Path,
                 parameters: Mapping[str, str] | None = None, faults: Sequence[Any] = ()) -> None:
        self.endpoint, self.database_url, self.prefix = endpoint, database_url, prefix
        self.faults = list(faults)
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
        """A reader of every topic (its tap) and queue of the stack, by its logical name."""
        self.function_names: dict[str, str] = {}
        """Logical name -> deployed name of each function."""
        self.alarm_names: dict[str, str] = {}
        """Logical name -> deployed name of each alarm."""
        self._registered: list[str] = []
        self._plans: dict[str, list[dict[str, Any]]] = {}
        self._last_run: int | None = None

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
    def deploy(self) -> TemplateStack:
        """The stack, a reader of each of its topics (its tap) and queues, and each function's fault plan."""
        self.deploy_stack()
        assert self.template is not None  # deploy_stack loaded it
        for logical in self.template.of_type(TOPIC_TYPES):
            self._step(f"tap on topic {logical}", lambda lg=logical: self.find_tap(lg, self.physical[lg]))
        sqs = self.client("sqs")
        for logical in self.template.of_type(QUEUE_TYPES):
            self.taps[logical] = QueueTap(sqs, self.physical[logical], logical)
        self.function_names = {logical: self.physical[logical] for logical in self.template.functions()}
        self.alarm_names = {logical: self.physical[logical] for logical in self.template.of_type(ALARM_TYPES)}
        self._step("fault plans", lambda: self.register_faults(
            {name: fault_plan(self.faults, logical) for logical, name in self.function_names.items()}))
        return self

    def attach(self, consume: bool = False) -> TemplateStack:
        """Find this prefix's stack, deployed earlier (by `harness up --scenario`), without creating anything:
        its resources, and a reader of each topic's tap and each queue that leaves the messages for the next
        check (`consume=False`). Raises DeployError naming what is missing."""
        try:
            stack = self.client("cloudformation").describe_stacks(StackName=self.prefix)["Stacks"][0]
        except ClientError as error:
            raise DeployError(f"stack {self.prefix}: not found at {self.endpoint.url} (is the prefix right, and is "
                              f"that stack still up?): {error}") from error
        self.stack_id, self.template = stack["StackId"], templates.load(self.template_path)
        self.physical = templates.physical_ids(self.client("cloudformation"), self.stack_id)
        for logical in self.template.of_type(TOPIC_TYPES):
            self.find_tap(logical, self.physical[logical], consume=consume)
        for logical in self.template.of_type(QUEUE_TYPES):
            self.taps[logical] = QueueTap(self.client("sqs"), self.physical[logical], logical, consume=consume)
        self.function_names = {logical: self.physical[logical] for logical in self.template.functions()}
        self.alarm_names = {logical: self.physical[logical] for logical in self.template.of_type(ALARM_TYPES)}
        return self

    def outputs(self) -> dict[str, str]:
        """One NAME=value per thing a person or script needs (printed by `harness up --scenario`)."""
        out = {f"{_constant(logical)}_FUNCTION": name for logical, name in self.function_names.items()}
        out.update({f"{_constant(key)}_TOPIC_ARN": arn for key, arn in self.topic_arns.items()})
        out.update({f"{_constant(key)}_TAP_QUEUE_URL": url for key, url in self.tap_urls.items()})
        out.update({f"{_constant(alarm)}_ALARM": name for alarm, name in self.alarm_names.items()})
        out["DB_SCHEMA"] = self.schema
        return out

    def function_name(self, logical: str) -> str:
        """The deployed name of a function of the stack, by its logical name."""
        if logical not in self.function_names:
            raise DeployError(f"stack {self.prefix}: function {logical} is not known before deploy() or attach()")
        return self.function_names[logical]

    def deploy_stack(self) -> None:
        """The schema, then the stack with every topic tapped as CloudFormation creates it (an alarm's first
        notification comes within milliseconds of the alarm), then the check of its delivery targets."""
        self._step("database schema", self._deploy_schema)
        self._route(wire.STACKS, "PUT", self.prefix)
        self._step("stack from the template", self._deploy_template)

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
        self.physical = templates.physical_ids(self.client("cloudformation"), self.stack_id)
        missing = templates.missing_targets(template, self.client, self.physical)
        if missing:
            raise templates.TemplateError("\n  ".join(["the stack's functions deliver to targets that do not exist:",
                                                        *missing]))
        self.stack_outputs = templates.outputs(stack)
        templates.apply_reserved_concurrency(template, self.physical, self.client("lambda"), parameters)
        self.warnings = templates.unsupported_properties(template)

    def find_tap(self, key: str, topic_arn: str, consume: bool = True) -> None:
        """The tap of the topic `topic_arn`, kept as `self.taps[key]`."""
        sqs = self.client("sqs")
        name = wire.tap_queue_name(self.prefix, topic_arn.rsplit(":", 1)[-1])
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
            self._route(wire.FAULTS, "PUT", name, fault_injection.registration(plan, self.database_url, self.schema))
            self._registered.append(name)
            self._plans[name] = list(plan)

    def alarm_state(self, alarm: str) -> str:
        """The alarm's current state (OK, ALARM or INSUFFICIENT_DATA), as CloudWatch has it now."""
        found = self.client("cloudwatch").describe_alarms(AlarmNames=[self.alarm_names[alarm]])["MetricAlarms"]
        return str(found[0]["StateValue"]) if found else "INSUFFICIENT_DATA"

    def mark_run(self, run: int) -> None:
        """Tell the fault wrapper that run `run` of the job starts now (faults can target runs).

        A broken deployment that starts or ends with this run (`runs` of an `import_error`) is a deploy between
        runs: on AWS the function's environments are new ones, whose init meets it. Registering the plan again
        tells the executor so (`harness.localstack.executor.injection.generation`): warm environments start
        over with their own init at their next invocation."""
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            ledger.mark_run(connection, self.schema, run)
        last, self._last_run = self._last_run, run
        for name, plan in self._plans.items():
            if last is not None and init_fault(plan, run) != init_fault(plan, last):
                self._route(wire.FAULTS, "PUT", name,
                            fault_injection.registration(plan, self.database_url, self.schema))

    # -- what it shows ---------------------------------------------------------------------------------
    def attempts(self) -> list[Attempt]:
        """Every attempt in the ledger, by the functions' logical names."""
        logical = {name: function for function, name in self.function_names.items()}
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            return ledger.attempts(connection, self.schema, logical)

    def alarm_history(self, alarm: str, interval: float) -> list[AlarmTransition]:
        """The alarm's state changes from CloudWatch's history (an alarm that notifies no topic of the stack).

        LocalStack stamps a history item with the time of the change before it, so each change's time is the
        next item's stamp, and the last one's is the alarm's StateUpdatedTimestamp."""
        cloudwatch = self.client("cloudwatch")
        name = self.alarm_names[alarm]
        items = sorted(cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")
                       ["AlarmHistoryItems"], key=lambda item: item["Timestamp"])
        [details] = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"] or [{}]
        stamps = [item["Timestamp"] for item in items[1:]] + [details.get("StateUpdatedTimestamp")]
        configured = details.get("AlarmConfigurationUpdatedTimestamp")
        found = []
        for item, stamp in zip(items, stamps, strict=True):
            data = json.loads(item["HistoryData"])
            at = epoch(stamp, 0.0)
            old = data.get("oldState", {}).get("stateValue")
            found.append(AlarmTransition(alarm_name=name, old_state=old, new_state=data["newState"]["stateValue"],
                                         at=at, reason=str(data["newState"].get("stateReason") or ""),
                                         initial=is_initial(old, at, epoch(configured, 0.0) if configured else None,
                                                            interval)))
        return found

    def invoke(self, function: str, event: Any, invocation: str = "sync") -> dict[str, Any]:
        """Invoke a function of the stack with `event`, synchronously (`sync`, its answer decoded) or as an
        asynchronous event (`event`: status 202 and no answer; Lambda retries it on failure)."""
        response = self.client("lambda").invoke(
            FunctionName=self.function_name(function), Payload=json.dumps(event).encode(),
            InvocationType="Event" if invocation == "event" else "RequestResponse")
        payload = response["Payload"].read()
        try:
            body = json.loads(payload) if payload else None
        except ValueError:
            body = payload.decode(errors="replace")
        return {"status": response["StatusCode"], "function_error": response.get("FunctionError"), "body": body}

    # -- the stack's clock ---------------------------------------------------------------------------
    def clock_state(self, idle_within: float | None = None) -> wire.ClockState | None:
        """The stack's clock (`harness.wire.ClockState`): now, its history, what keeps it from moving, its
        wake-ups, and the messages waiting in its taps; None when the LocalStack has no stack clocks. With
        `idle_within`, once none of its code runs or after that many seconds, whichever comes first."""
        query = {"region": self.client("sqs").meta.region_name}
        if idle_within is not None:
            query["idle_within"] = f"{idle_within:.3f}"
        answer = self._route(wire.CLOCK, "GET", self.prefix, query=query, timeout=wire.STACK_WAIT_MAX_S + 10)
        return None if answer is None else answer  # type: ignore[no-any-return]

    def advance_clock(self, until: float, *, stop_at_change: bool = False) -> dict[str, Any]:
        """Move the idle stack's clock from wake-up to wake-up up to `until` (`harness.wire.Advance`), or
        `{"busy": [...]}` when its code runs."""
        body = {"until": until, "stop_at_change": stop_at_change, "region": self.client("sqs").meta.region_name}
        return dict(self._route(wire.CLOCK, "POST", self.prefix, body, answered=(409,), timeout=60))

    def _route(self, route: str, method: str, name: str, body: Any = None, **options: Any) -> Any:
        try:
            return wire.call(self.endpoint.url, route, method, name, body, **options)
        except wire.WireError as error:
            raise DeployError(str(error)) from error

    # -- teardown --------------------------------------------------------------------------------------
    def teardown(self, discard: bool = False) -> None:
        """Delete the stack, its taps and its schema. With `discard` (its LocalStack ends with the run, which
        deletes everything in it), only its clock, timers, fault plans and schema go, and its functions'
        environments stop: a third of LocalStack's work per scenario was the deletion of what it was about to
        drop. A stack fed by an event source mapping is deleted all the same (its poller would go on)."""
        # Its clock and timers (a retry still due) go first; a 409 says an event source mapping feeds it.
        refused = self._route(wire.STACKS, "DELETE", self.prefix, query={"discard": "1"} if discard else None,
                              answered=(409,))
        discarded = discard and refused is None
        self._forget_faults(discarded)
        if not discarded:
            self._delete()
        self._drop_schema()

    def _forget_faults(self, discarded: bool) -> None:
        """Each function's fault plan goes; a discarded stack's went with it, but for functions whose names do
        not carry its prefix (a FunctionName the template sets)."""
        for name in self._registered:
            if not (discarded and wire.named_after(self.prefix, name)):
                self._route(wire.FAULTS, "DELETE", name)
        self._registered.clear()

    def _delete(self) -> None:
        sns, sqs = self.client("sns"), self.client("sqs")
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
                if wire.named_after(self.prefix, name) and \
                        lam.get_function_configuration(FunctionName=name).get("State") != "Failed":
                    lam.delete_function(FunctionName=name)




def _constant(name: str) -> str:
    """`OrderHandlerFunction` -> `ORDER_HANDLER_FUNCTION`, `error_handler` -> `ERROR_HANDLER`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).upper()
