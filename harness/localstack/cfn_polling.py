"""CloudFormation in the embedded LocalStack: a resource that is still being created is asked again after
20 ms, not after LocalStack's fixed second.

LocalStack's resource-provider loop asks a provider a few times without pause, then sleeps 1 s between
asks (`ResourceProviderExecutor.deploy_loop(sleep_time=1)`). A Lambda function is Pending for longer than
those first asks (its code is unpacked and checked), so every function in a template cost a whole second,
and a stack deploys its functions one after another: 3.5 s for the pipeline's three, almost all of it
asleep. The same loop with a 20 ms pause deploys the same resources in the same order with the same
outcome, as soon as each is ready; the per-resource timeout (CFN_PER_RESOURCE_TIMEOUT) is unchanged.

This module runs inside the LocalStack process (`harness.localstack.launch`), before LocalStack starts.
"""

from __future__ import annotations

from typing import Any

POLL_INTERVAL_S = 0.02


def install(interval_s: float = POLL_INTERVAL_S) -> None:
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
