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

3. A function CloudFormation creates is asked for again when Lambda has finished with it, not every
20 ms: the resource provider's next GetFunction waits (up to `FUNCTION_WAIT_S`) until the function's
state in Lambda's own store has left Pending. The provider then answers as before, from a GetFunction,
and the outcome (Active, Failed) and order are unchanged. Before, a stack of three functions cost 25
GetFunction calls through LocalStack's gateway while each was Pending; now about two per function.

4. A new function's preparation does not queue behind the stops of deleted ones. Lambda runs both on one
thread pool of cores + 4 threads, and stopping a function's event manager holds a thread until its poller's
2 s long poll of the event queue ends. A teardown of three functions, then a deploy, left the first new
function Pending for 0.9 s; with several stacks tearing down at once, longer. The pool has
`LAMBDA_TASK_THREADS` threads instead (threads that wait cost no CPU).

5. A stack the harness registered (`/_harness/stacks/<prefix>`, served by `harness.localstack.routes`) is
deployed on its own clock: while CloudFormation creates one of its resources, what that creates in the same
thread (an alarm, scheduled at its creation) belongs to the stack, and each resource's physical name is
registered with the stack (`harness.localstack.clock.register_name`), so that a name CloudFormation generated
(and may have cut short) is the stack's too. `stack_status` lets the harness wait for a deploy with one
request instead of a DescribeStacks every 20 ms.

6. The poller of a deleted function stops at once: its long poll of the event queue is interrupted by
the queue's own `InterruptibleQueue.shutdown`, as SQS does before it deletes a queue, instead of running out
its 2 s; the queue is deleted next. A stop that keeps the queue for the function's next poller (an update)
is left as it was: a queue shut down refuses new events. Before, the pending stops of a run's last teardown
held LocalStack's own stop for up to 2 s, at the end of every `harness run` and every pytest worker.

Runs inside the LocalStack process; installed by `harness.localstack.patches`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from harness import wire
from harness.localstack import clock

POLL_INTERVAL_S = 0.02
# The longest a repeated GetFunction of CloudFormation's waits for the function to leave Pending; past it
# the provider asks as before (a function that stays Pending is LocalStack's to time out, as it was).
FUNCTION_WAIT_S = 1.0
# How often a waiter reads a state in LocalStack's own memory (an attribute read, not a request).
STORE_POLL_S = 0.005
LAMBDA_TASK_THREADS = 64


def deploy_loop(original: Any, self: Any, resource_provider: Any, resource: dict, raw_payload: Any,
                max_timeout: int | None = None, sleep_time: float = POLL_INTERVAL_S) -> Any:
    """ResourceProviderExecutor.deploy_loop: asked again after 20 ms, not LocalStack's second (1); on the
    clock of the stack it deploys, whose resources' names it registers (5)."""
    from localstack import config

    timeout = config.CFN_PER_RESOURCE_TIMEOUT if max_timeout is None else max_timeout
    stack = str(raw_payload.get("stackId", ""))  # the stack's name (LocalStack's v2 engine), or its ARN
    name = stack.split("/")[1] if stack.startswith("arn:") and stack.count("/") >= 2 else stack
    prefix = name if clock.is_registered(name) else None
    with clock.deploying(prefix):
        event = original(self, resource_provider, resource, raw_payload, timeout, POLL_INTERVAL_S)
    physical = resource.get("PhysicalResourceId")
    if prefix is not None and isinstance(physical, str):
        clock.register_name(physical.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1], prefix)
    return event


def task_pool(original: Any, self: Any) -> None:
    """LambdaService.__init__: its task pool has LAMBDA_TASK_THREADS threads (4)."""
    from concurrent.futures import ThreadPoolExecutor

    original(self)
    self.task_executor.shutdown(wait=False)  # no task was submitted yet: it has no thread
    self.task_executor = ThreadPoolExecutor(max_workers=LAMBDA_TASK_THREADS, thread_name_prefix="lambda-service-task")
    _LAMBDA_SERVICE[:] = [self]


_LAMBDA_SERVICE: list[Any] = []
"""LocalStack's one LambdaService, once its provider has made it."""


def stop_functions(account: str, region: str, prefix: str) -> bool:
    """Stop every running version of the stack's functions (their environments end; the functions stay), in
    place of deleting the stack in a LocalStack that ends with the run. False, and nothing stopped, when an
    event source mapping feeds one of them: its poller would go on."""
    from localstack.services.lambda_.invocation.models import lambda_stores

    store = lambda_stores[account][region]
    functions = {name: function for name, function in list(store.functions.items()) if wire.named_after(prefix, name)}
    if any(str(mapping.get("FunctionArn", "")).split(":function:", 1)[-1].split(":")[0] in functions
           for mapping in list(store.event_source_mappings.values())):
        return False
    for service in _LAMBDA_SERVICE:
        for function in functions.values():
            for version in list(function.versions.values()):
                arn = version.id.qualified_arn()
                if arn in service.lambda_running_versions or arn in service.lambda_starting_versions:
                    service.stop_version(arn)
    return True


def _event_queue(poller: Any) -> Any:
    """The queue object a Lambda event poller receives from (Lambda's internal queues, not SQS's stores);
    None when it is gone."""
    from localstack.services.lambda_.invocation.internal_sqs_queue import get_fake_sqs_client

    name = getattr(poller, "event_queue_url", None)  # the internal queue's URL is its name
    return get_fake_sqs_client().queue_manager.queues.get(name) if name else None


def event_manager_stop(original: Any, self: Any) -> None:
    """LambdaEventManager.stop: the poller of a deleted function is told its queue goes next (6)."""
    poller = self.poller
    if poller is not None:
        poller.harness_final = True  # its queue is deleted once it has stopped
    original(self)


def poller_stop(original: Any, self: Any) -> None:
    """Poller.stop: a final stop interrupts the poller's long poll (6)."""
    original(self)
    if getattr(self, "harness_final", False):
        visible = getattr(_event_queue(self), "visible", None)
        if visible is not None:
            visible.shutdown()  # wakes the poller's receive, which returns empty; it then sees its stop


def create_function(original: Any, self: Any, request: Any) -> Any:
    """LambdaFunctionProvider.create: a repeated call waits for the function to leave Pending (3)."""
    from localstack.aws.api.lambda_ import State
    from localstack.services.lambda_.invocation.models import lambda_stores
    from localstack.services.lambda_.resource_providers import aws_lambda_function as module

    def pending() -> bool:
        name = (request.desired_state or {}).get("FunctionName")
        function = lambda_stores[request.account_id][request.region_name].functions.get(name) if name else None
        version = function.versions.get("$LATEST") if function is not None else None
        return version is not None and version.config.state.state == State.Pending

    context = request.custom_context
    # A repeated call of a function created as $LATEST (not a published managed-instance version, whose
    # wait the provider does its own way) is a poll of the function's state.
    if context.get(module.REPEATED_INVOCATION) and context.get("Version") != "$LATEST.PUBLISHED":
        deadline = time.monotonic() + FUNCTION_WAIT_S
        while pending() and time.monotonic() < deadline:
            time.sleep(STORE_POLL_S)
    return original(self, request)


def stack_status(account: str, region: str, name: str) -> str | None:
    """The status of the stack with the ID (or the live stack named) `name`, found as DescribeStacks finds
    it; None if there is none."""
    from localstack.services.cloudformation.models import get_cloudformation_store
    from localstack.services.cloudformation.v2.provider import find_stack_v2

    try:
        stack = find_stack_v2(get_cloudformation_store(account, region), name)
    except KeyError:  # an ID it does not know (a name it does not know gives None)
        return None
    return None if stack is None else str(stack.status)


def require_service(original: Any, self: Any, chain: Any, context: Any, response: Any) -> Any:
    """ServiceLoader.require_service: LocalStack 2026.3 marks a service loaded *before* it adds the
    service's operations to its request router, so a request that arrives meanwhile, the second of two first
    requests to a service, finds no route: "501 no handler for operation 'HeadObject' on service 's3'". Seen
    once in `make run` (-j 2: two stacks and the warm-up thread asked S3 first at once). Here the service
    counts as loaded only once its routes are in, under the same lock."""
    from localstack.services.plugins import Service
    from localstack.utils.bootstrap import is_api_enabled
    from plux import PluginDisabled  # type: ignore[import-untyped]

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


_PRESIGNERS: dict[str, Any] = {}
_PRESIGNERS_LOCK = threading.Lock()


def generate_presigned_url(original: Any, self: Any, endpoint_url: str) -> str:
    """S3Code.generate_presigned_url: one S3 client per endpoint signs every URL (2)."""
    import boto3
    from localstack import config
    from localstack.services.lambda_.invocation import lambda_models

    with _PRESIGNERS_LOCK:
        client = _PRESIGNERS.get(endpoint_url)
        if client is None:
            client = _PRESIGNERS[endpoint_url] = boto3.client(
                "s3", region_name=lambda_models.AWS_REGION_US_EAST_1,
                aws_access_key_id=config.INTERNAL_RESOURCE_ACCOUNT,
                aws_secret_access_key=lambda_models.INTERNAL_AWS_SECRET_ACCESS_KEY, endpoint_url=endpoint_url)
    params = {"Bucket": self.s3_bucket, "Key": self.s3_key}
    if self.s3_object_version:
        params["VersionId"] = self.s3_object_version
    url: str = client.generate_presigned_url("get_object", Params=params)
    return url
