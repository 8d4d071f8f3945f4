"""Deploying in the embedded LocalStack without waiting for nothing, and without a race on first requests.

1. CloudFormation: a resource that is still being created is asked again after 20 ms, not after
LocalStack's fixed second.

LocalStack's resource-provider loop asks a provider a few times without pause, then sleeps 1 s between
asks (`ResourceProviderExecutor.deploy_loop(sleep_time=1)`). A Lambda function is Pending for longer than
those first asks (its code is unpacked and checked), so every function in a template cost a whole second,
and a stack deploys its functions one after another: 3.5 s for the pipeline's three, almost all of it
asleep. The same loop with a 20 ms pause deploys the same resources in the same order with the same
outcome, as soon as each is ready; the per-resource timeout (CFN_PER_RESOURCE_TIMEOUT) is unchanged.

2. GetFunction: its answer carries a presigned URL of the code, for which LocalStack built a new boto3 S3
client at every call (about 30 ms of CPU). CloudFormation asks GetFunction at every poll of a function it
creates, so that was about 0.17 s per function, half of a function's creation (py-spy on the LocalStack
process during warm deploys). One client per endpoint signs the same URL.

This module runs inside the LocalStack process (`harness.localstack.launch`), before LocalStack starts.
"""

from __future__ import annotations

from typing import Any

POLL_INTERVAL_S = 0.02


def install(interval_s: float = POLL_INTERVAL_S) -> None:
    _poll_cloudformation_faster(interval_s)
    _presign_with_one_client()
    _routes_before_loaded()


def _routes_before_loaded() -> None:
    """LocalStack 2026.3 marks a service loaded *before* it adds the service's operations to its request
    router (`ServiceLoader.require_service`), so a request that arrives meanwhile, the second of two first
    requests to a service, finds no route: "501 no handler for operation 'HeadObject' on service 's3'". Seen
    once in `make run` (-j 2: two stacks and the warm-up thread asked S3 first at once). Here the service
    counts as loaded only once its routes are in, under the same lock."""
    from localstack.aws.handlers.service_plugin import ServiceLoader
    from localstack.services.plugins import Service
    from localstack.utils.bootstrap import is_api_enabled
    from plux import PluginDisabled  # type: ignore[import-untyped]

    if getattr(ServiceLoader.require_service, "harness_ordered", False):
        return
    original = ServiceLoader.require_service

    def require_service(self: Any, chain: Any, context: Any, response: Any) -> Any:
        if not context.service or context.service.service_name in self.loaded_services:
            return None
        name = context.service.service_name
        if not self.service_manager.exists(name) or not is_api_enabled(name):
            return original(self, chain, context, response)  # LocalStack's own refusal
        try:
            plugin = self.service_manager.require(name)
        except PluginDisabled:
            return original(self, chain, context, response)
        with self.service_locks[name]:
            if name in self.loaded_services:
                return None
            if isinstance(plugin, Service):
                self.service_request_router.add_skeleton(plugin.skeleton)
                self.loaded_services.add(name)
                return None
        return original(self, chain, context, response)

    require_service.harness_ordered = True  # type: ignore[attr-defined]
    ServiceLoader.require_service = require_service  # type: ignore[method-assign,assignment]


def _presign_with_one_client() -> None:
    import threading

    import boto3
    from localstack import config
    from localstack.services.lambda_.invocation import lambda_models

    original = lambda_models.S3Code.generate_presigned_url
    if getattr(original, "harness_cached", False):
        return
    clients: dict[str, Any] = {}
    lock = threading.Lock()

    def generate_presigned_url(self: Any, endpoint_url: str) -> str:
        with lock:
            client = clients.get(endpoint_url)
            if client is None:
                client = clients[endpoint_url] = boto3.client(
                    "s3", region_name=lambda_models.AWS_REGION_US_EAST_1,
                    aws_access_key_id=config.INTERNAL_RESOURCE_ACCOUNT,
                    aws_secret_access_key=lambda_models.INTERNAL_AWS_SECRET_ACCESS_KEY, endpoint_url=endpoint_url)
        params = {"Bucket": self.s3_bucket, "Key": self.s3_key}
        if self.s3_object_version:
            params["VersionId"] = self.s3_object_version
        url: str = client.generate_presigned_url("get_object", Params=params)
        return url

    generate_presigned_url.harness_cached = True  # type: ignore[attr-defined]
    lambda_models.S3Code.generate_presigned_url = generate_presigned_url  # type: ignore[method-assign]


def _poll_cloudformation_faster(interval_s: float) -> None:
    from localstack import config
    from localstack.services.cloudformation.resource_provider import ResourceProviderExecutor

    original = ResourceProviderExecutor.deploy_loop
    if getattr(original, "harness_polling", False):
        return

    def deploy_loop(self: Any, resource_provider: Any, resource: dict, raw_payload: Any,
                    max_timeout: int | None = None, sleep_time: float = interval_s) -> Any:
        timeout = config.CFN_PER_RESOURCE_TIMEOUT if max_timeout is None else max_timeout
        return original(self, resource_provider, resource, raw_payload, timeout, sleep_time)

    deploy_loop.harness_polling = True  # type: ignore[attr-defined]
    ResourceProviderExecutor.deploy_loop = deploy_loop  # type: ignore[method-assign]
