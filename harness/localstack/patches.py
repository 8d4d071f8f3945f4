"""Every change the harness makes to LocalStack, in one list, and the checks that it still fits.

Each entry is one of LocalStack's own `localstack.utils.patch.Patch` objects (as `localstack/aws/patches.py`
writes its own), naming the attribute it replaces; `install` applies them all from one place, the launcher
(`harness.localstack.launch`), before LocalStack starts. What each replacement does is said where its body
lives: `retries` (Lambda's async retries, event age, dead letters and activity), `alarms` (CloudWatch on the stacks'
clocks), `taps` (topic taps, SNS deliveries), `control_plane` (deploys without idle waits, a stack's
resources on its clock), `executor.metrics` (Errors = 0 on success), `launch` (the gateway on loopback), `speed` (one
request parser per service, no deep copies of CloudFormation's runtime cache, one Lambda log client per
account and region, one botocore session for every service's regions).

A LocalStack other than the pinned one stops before it starts, with one line naming both versions; so does
a patch whose target is missing. Whether LocalStack serves the classes these patches change (a provider
override such as `PROVIDER_OVERRIDE_SNS=v2` would serve another) is checked before the start, from its
configuration, and again once it runs, on the providers it loaded (`health`, `GET /_harness/health`).
"""

from __future__ import annotations

import importlib.metadata
import re
from typing import Any

LOCALSTACK_DISTRIBUTION = "localstack-core"

SERVED: dict[str, tuple[str, str]] = {
    "sns": ("localstack.services.sns.provider", "SnsProvider"),
    "cloudwatch": ("localstack.services.cloudwatch.provider_v2", "CloudwatchProvider"),
    "lambda": ("localstack.services.lambda_.provider", "LambdaProvider"),
    "sqs": ("localstack.services.sqs.provider", "SqsProvider"),
}
"""The services whose providers the patches change (or depend on), and the provider class each must be."""


class Mismatch(Exception):
    """LocalStack is not the one these patches were written for; the message says how, in one line."""


def pinned_version() -> str | None:
    """The LocalStack version the harness pins (its own requirement on localstack-core), or None when the
    harness's metadata is not installed."""
    try:
        requirements = importlib.metadata.requires("harness") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for requirement in requirements:
        found = re.match(rf"{LOCALSTACK_DISTRIBUTION}(\[[^\]]*\])?\s*==\s*([^\s;,]+)", requirement)
        if found:
            return found.group(2)
    return None


def installed_version() -> str:
    return importlib.metadata.version(LOCALSTACK_DISTRIBUTION)


def check_version(installed: str | None = None, pinned: str | None = None) -> None:
    """Raise `Mismatch` unless the installed LocalStack is the pinned one."""
    installed = installed or installed_version()
    pinned = pinned or pinned_version()
    if pinned is not None and installed != pinned:
        raise Mismatch(f"harness: LocalStack {installed} is installed, but the harness's patches are written for "
                       f"LocalStack {pinned} (pyproject.toml pins it): install localstack-core=={pinned} "
                       "with the constraints in constraints/localstack.txt")


def patch_list() -> list[Any]:
    """The one list: every attribute of LocalStack the harness replaces, in the order they are applied."""
    from localstack.aws.handlers.service_plugin import ServiceLoader
    from localstack.services.cloudformation.resource_provider import ResourceProviderExecutor
    from localstack.services.cloudwatch import alarm_scheduler, provider_v2
    from localstack.services.cloudwatch.cloudwatch_database_helper import CloudwatchDatabase
    from localstack.services.lambda_.invocation import event_manager, lambda_models, version_manager
    from localstack.services.lambda_.invocation.lambda_service import LambdaService
    from localstack.services.lambda_.resource_providers.aws_lambda_function import LambdaFunctionProvider
    from localstack.services.sns.provider import SnsProvider
    from localstack.services.sns.publisher import PublishDispatcher
    from localstack.services.sns.resource_providers.aws_sns_topic import SNSTopicProvider
    from localstack.services.sqs.provider import CloudwatchDispatcher
    from localstack.utils.aws import dead_letter_queue
    from localstack.utils.patch import Patch, create_patch_proxy

    from harness.localstack import alarms, control_plane, retries, speed, taps
    from harness.localstack.executor import metrics

    fn = Patch.function
    return [
        # The gateway listens on the configured interface (loopback) only.
        loopback_endpoint_patch(),
        # Lambda's async retries and event age on the stack clock, and what LocalStack does for a stack.
        fn(event_manager.get_sqs_client, retries.get_sqs_client),
        fn(event_manager.has_enough_time_for_retry, retries.has_enough_time_for_retry),
        fn(event_manager.Poller.handle_message, retries.handle_message),
        fn(event_manager.Poller.__init__, retries.poller_init),
        fn(event_manager.Poller._handle_invoke_exception, retries.handle_invoke_exception),
        fn(event_manager.Poller.process_dead_letter_queue, retries.process_dead_letter_queue),
        fn(dead_letter_queue._prepare_messages_to_dlq, retries.prepare_messages_to_dlq),
        fn(LambdaService.invoke, retries.invoke),
        Patch(version_manager, "start_thread", create_patch_proxy(version_manager.start_thread, retries.start_thread)),
        *(Patch(version_manager, name, record) for name, record in metrics.RECORDS.items()),  # no stamp cut
        # CloudWatch: metrics and alarm evaluations on the stack clock.
        Patch(alarm_scheduler, "datetime", alarms.StackDatetime),
        Patch(provider_v2, "datetime", alarms.DATETIME_MODULE),
        fn(alarm_scheduler.calculate_alarm_state, alarms.calculate_alarm_state),
        fn(alarm_scheduler.get_cloudwatch_client_for_region_of_alarm, alarms.get_cloudwatch_client_for_region_of_alarm),
        fn(alarm_scheduler.AlarmScheduler.schedule_metric_alarm, alarms.schedule_metric_alarm),
        fn(alarm_scheduler.AlarmScheduler.delete_scheduler_for_alarm, alarms.delete_scheduler_for_alarm),
        fn(provider_v2.CloudwatchProvider.set_alarm_state, alarms.set_alarm_state),
        fn(provider_v2.CloudwatchProvider.put_metric_alarm, alarms.put_metric_alarm),
        fn(CloudwatchDatabase.add_metric_data, alarms.add_metric_data),
        # SNS: taps, AWS's topic names, deliveries counted.
        fn(SnsProvider.create_topic, taps.create_topic),
        fn(SNSTopicProvider.create, taps.create_topic_resource),
        fn(CloudwatchDispatcher.dispatch_sqs_metric, taps.dispatch_sqs_metric),
        fn(PublishDispatcher._submit_notification, taps.submit_notification),
        # Deploys without idle waits; a stack's resources on its clock.
        fn(ResourceProviderExecutor.deploy_loop, control_plane.deploy_loop),
        fn(lambda_models.S3Code.generate_presigned_url, control_plane.generate_presigned_url),
        fn(ServiceLoader.require_service, control_plane.require_service),
        fn(LambdaFunctionProvider.create, control_plane.create_function),
        fn(LambdaService.__init__, control_plane.task_pool),
        fn(event_manager.LambdaEventManager.stop, control_plane.event_manager_stop),
        fn(event_manager.Poller.stop, control_plane.poller_stop),
        *speed.patches(),  # one parser per service, no deep copies of runtime caches, shared log clients, regions
    ]


def loopback_endpoint_patch() -> Any:
    """LocalStack 2026.3.0's twisted gateway ignores the host of ``GATEWAY_LISTEN`` for IPv4 and listens on
    every interface: the IPv4 endpoint is given the configured interface (loopback) instead."""
    from localstack.utils.patch import Patch
    from twisted.internet import endpoints

    class LoopbackTCP4ServerEndpoint(endpoints.TCP4ServerEndpoint):
        def __init__(self, reactor: Any, port: int, backlog: int = 50, interface: str = "") -> None:
            if not interface:
                from localstack import config

                hosts = {listen.host for listen in config.GATEWAY_LISTEN if listen.port == port}
                interface = hosts.pop() if len(hosts) == 1 else "127.0.0.1"
            super().__init__(reactor, port, backlog, interface)

    return Patch(endpoints, "TCP4ServerEndpoint", LoopbackTCP4ServerEndpoint)


def _missing(patches: list[Any]) -> list[str]:
    return [f"{getattr(p.obj, '__name__', p.obj)}.{p.name}" for p in patches if p.old is None]


def _overridden() -> list[str]:
    """Services whose provider the configuration overrides: another class would be served than the patched."""
    from localstack import config

    return [f"{service} (PROVIDER_OVERRIDE_{service.upper()}={config.SERVICE_PROVIDER_CONFIG.get_provider(service)})"
            for service in SERVED if config.SERVICE_PROVIDER_CONFIG.get_provider(service) != "default"]


def install() -> None:
    """Check the version and every target, then apply the one list; raises
    `Mismatch` (one line) and applies nothing when anything does not fit."""
    check_version()
    patches = patch_list()
    missing = _missing(patches)
    if missing:
        raise Mismatch(f"harness: LocalStack {installed_version()} has no {', '.join(missing)}: the harness's "
                       "patches do not fit it")
    overridden = _overridden()
    if overridden:
        raise Mismatch(f"harness: LocalStack would serve other providers than the ones the harness patches: "
                       f"{', '.join(overridden)}; unset those variables")
    from localstack.utils.patch import Patches

    Patches(patches).apply()


def health() -> dict[str, Any]:
    """The running LocalStack's version, and any service whose loaded provider is not the patched class."""
    import importlib

    from localstack.services.plugins import SERVICE_PLUGINS

    problems = []
    for service, (module, name) in SERVED.items():
        plugin = SERVICE_PLUGINS.get_service(service) if SERVICE_PLUGINS.exists(service) else None
        provider = getattr(plugin, "_provider", None)
        expected = getattr(importlib.import_module(module), name)
        if provider is not None and not isinstance(provider, expected):
            problems.append(f"{service} is served by {type(provider).__module__}.{type(provider).__name__}, "
                            f"not the patched {module}.{name}")
    return {"localstack": installed_version(), "pinned": pinned_version(), "problems": problems}
