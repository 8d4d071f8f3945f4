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

5. `/_harness/stacks/<name>?wait=S` answers a stack's status once it is no longer in progress (or after S
seconds), so the harness waits for a deploy with one request instead of a DescribeStacks every 20 ms.

6. The poller of a deleted function stops at once: its long poll of the event queue is interrupted by
the queue's own `InterruptibleQueue.shutdown`, as SQS does before it deletes a queue, instead of running out
its 2 s; the queue is deleted next. A stop that keeps the queue for the function's next poller (an update)
is left as it was: a queue shut down refuses new events. Before, the pending stops of a run's last teardown
held LocalStack's own stop for up to 2 s, at the end of every `harness run` and every pytest worker.

This module runs inside the LocalStack process (`harness.localstack.launch`), before LocalStack starts.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

POLL_INTERVAL_S = 0.02
# The longest a repeated GetFunction of CloudFormation's waits for the function to leave Pending; past it
# the provider asks as before (a function that stays Pending is LocalStack's to time out, as it was).
FUNCTION_WAIT_S = 1.0
# How often a waiter reads a state in LocalStack's own memory (an attribute read, not a request).
STORE_POLL_S = 0.005
LAMBDA_TASK_THREADS = 64
STACKS_ROUTE = "/_harness/stacks"
# The longest one /_harness/stacks request waits; the harness asks again until its own deadline.
STACK_WAIT_MAX_S = 10.0


def install(interval_s: float = POLL_INTERVAL_S) -> None:
    _poll_cloudformation_faster(interval_s)
    _presign_with_one_client()
    _routes_before_loaded()
    _function_state_from_store()
    _lambda_tasks_not_behind_stops()
    _pollers_stop_at_once()
    _stack_status_route()


def _lambda_tasks_not_behind_stops() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from localstack.services.lambda_.invocation.lambda_service import LambdaService

    original = LambdaService.__init__
    if getattr(original, "harness_pool", False):
        return

    def __init__(self: Any) -> None:
        original(self)
        self.task_executor.shutdown(wait=False)  # no task was submitted yet: it has no thread
        self.task_executor = ThreadPoolExecutor(max_workers=LAMBDA_TASK_THREADS,
                                                thread_name_prefix="lambda-service-task")

    __init__.harness_pool = True  # type: ignore[attr-defined]
    LambdaService.__init__ = __init__  # type: ignore[method-assign]


def _event_queue(poller: Any) -> Any:
    """The queue object a Lambda event poller receives from (Lambda's internal queues, not SQS's stores);
    None when it is gone."""
    from localstack.services.lambda_.invocation.internal_sqs_queue import get_fake_sqs_client

    name = getattr(poller, "event_queue_url", None)  # the internal queue's URL is its name
    return get_fake_sqs_client().queue_manager.queues.get(name) if name else None


def _pollers_stop_at_once() -> None:
    from localstack.services.lambda_.invocation.event_manager import LambdaEventManager, Poller

    original_stop, original_poller_stop = LambdaEventManager.stop, Poller.stop
    if getattr(original_stop, "harness_interrupts", False):
        return

    def stop(self: Any) -> None:
        poller = self.poller
        if poller is not None:
            poller.harness_final = True  # its queue is deleted once it has stopped
        original_stop(self)

    def poller_stop(self: Any) -> None:
        original_poller_stop(self)
        if getattr(self, "harness_final", False):
            visible = getattr(_event_queue(self), "visible", None)
            if visible is not None:
                visible.shutdown()  # wakes the poller's receive, which returns empty; it then sees its stop

    stop.harness_interrupts = True  # type: ignore[attr-defined]
    LambdaEventManager.stop, Poller.stop = stop, poller_stop  # type: ignore[method-assign]


def _function_state_from_store() -> None:
    from localstack.aws.api.lambda_ import State
    from localstack.services.lambda_.invocation.models import lambda_stores
    from localstack.services.lambda_.resource_providers import aws_lambda_function as module

    provider = module.LambdaFunctionProvider
    original = provider.create
    if getattr(original, "harness_waits", False):
        return

    def pending(request: Any) -> bool:
        name = (request.desired_state or {}).get("FunctionName")
        function = lambda_stores[request.account_id][request.region_name].functions.get(name) if name else None
        version = function.versions.get("$LATEST") if function is not None else None
        return version is not None and version.config.state.state == State.Pending

    def create(self: Any, request: Any) -> Any:
        context = request.custom_context
        # A repeated call of a function created as $LATEST (not a published managed-instance version, whose
        # wait the provider does its own way) is a poll of the function's state.
        if context.get(module.REPEATED_INVOCATION) and context.get("Version") != "$LATEST.PUBLISHED":
            deadline = time.monotonic() + FUNCTION_WAIT_S
            while pending(request) and time.monotonic() < deadline:
                time.sleep(STORE_POLL_S)
        return original(self, request)

    create.harness_waits = True  # type: ignore[attr-defined]
    provider.create = create  # type: ignore[method-assign]


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


def _stack_status_route() -> None:
    from localstack.services.edge import ROUTER
    from rolo import Response

    def endpoint(request: Any, name: str) -> Response:
        name = urllib.parse.unquote(name)  # the router leaves an encoded slash (%2F) encoded
        try:
            wait_s = min(float(request.args.get("wait", "0")), STACK_WAIT_MAX_S)
        except ValueError:
            return Response(json.dumps({"error": "wait: give seconds"}), status=400, mimetype="application/json")
        account = request.args.get("account", "000000000000")
        region = request.args.get("region", "us-east-1")
        deadline = time.monotonic() + wait_s
        while True:
            status = stack_status(account, region, name)
            if status is None or not status.endswith("_IN_PROGRESS") or time.monotonic() >= deadline:
                break
            time.sleep(STORE_POLL_S)
        return Response(json.dumps({"status": status}), mimetype="application/json")

    ROUTER.add(f"{STACKS_ROUTE}/<path:name>", endpoint=endpoint, methods=["GET"])


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
