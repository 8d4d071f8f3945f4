"""Taps that exist from the moment their topic does: in the embedded LocalStack, a topic created under a
prefix the harness registered gets its SQS tap queue and subscription inside the same CreateTopic call.

Why: a stack's topics are created by CloudFormation, and its alarms a few hundred milliseconds later in the
same deploy. At the harness's time scale an alarm's first evaluation comes within milliseconds of its
creation (JOB NOT RUN with missing data goes to ALARM at once), so a tap subscribed after the stack is
complete misses that notification for good. Here nothing can be published to the topic before its tap
listens. The tap is an ordinary SQS queue subscribed to the topic (SNS envelope, not raw), named
``<prefix>-tap-<rest of the topic's name>``, exactly what the harness would have made itself; the harness
then finds it by name.

A tap queue is the harness's instrument, not part of the pipeline: LocalStack publishes no SQS metrics for it.
Every SendMessage, ReceiveMessage and DeleteMessage would otherwise put a metric into CloudWatch through an
internal request and a sqlite insert (an empty receive cost LocalStack 9.9 ms of CPU instead of 1.9 ms), and
the taps are polled all the time; a user's own queues keep their metrics.

``PUT /_harness/taps/<prefix>`` registers a prefix, ``DELETE`` removes it. This module runs in the LocalStack
process (`harness.localstack.launch`), before LocalStack starts.

A topic without a TopicName gets AWS's name from CloudFormation here, `<stack>-<LogicalId>-<random>`:
LocalStack's own resource provider names it `topic-<random>`, which neither matches AWS nor says which
stack it belongs to.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

LOG = logging.getLogger(__name__)
ROUTE = "/_harness/taps"
_PREFIXES: set[str] = set()
_TAP_QUEUES: set[str] = set()  # every tap queue made, by name: no SQS metrics for these
_LOCK = threading.Lock()


def tap_queue_name(prefix: str, topic_name: str) -> str | None:
    """The tap queue of `topic_name` when it belongs to `prefix` (`<prefix>-...`), else None."""
    if not topic_name.startswith(f"{prefix}-"):
        return None
    return f"{prefix}-tap-{topic_name.removeprefix(f'{prefix}-')}"[:80]


def waiting(prefix: str, account: str, region: str) -> dict[str, int]:
    """Messages visible in each tap queue of `prefix` now, by queue name: what a receive would find."""
    from localstack.services.sqs.models import sqs_stores

    queues = sqs_stores[account][region].queues
    with _LOCK:
        names = [name for name in _TAP_QUEUES if name.startswith(f"{prefix}-tap-")]
    return {name: int(queue.approximate_number_of_messages) for name in names
            if (queue := queues.get(name)) is not None}


def registered_prefix(topic_name: str) -> str | None:
    with _LOCK:
        matches = [prefix for prefix in _PREFIXES if topic_name.startswith(f"{prefix}-")]
    return max(matches, key=len) if matches else None


def _tap(account_id: str, region: str, topic_arn: str, topic_name: str) -> None:
    prefix = registered_prefix(topic_name)
    queue_name = tap_queue_name(prefix, topic_name) if prefix else None
    if queue_name is None:
        return
    from localstack.aws.connect import connect_to

    clients = connect_to(aws_access_key_id=account_id, region_name=region)
    with _LOCK:
        _TAP_QUEUES.add(queue_name)
    clients.sqs.create_queue(QueueName=queue_name)
    queue_arn = f"arn:aws:sqs:{region}:{account_id}:{queue_name}"
    existing = clients.sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    if not any(subscription["Endpoint"] == queue_arn for subscription in existing):
        clients.sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)


def _name_topics_as_aws_does() -> None:
    from localstack.services.cloudformation.provider_utils import generate_default_name
    from localstack.services.sns.resource_providers.aws_sns_topic import SNSTopicProvider

    original = SNSTopicProvider.create
    if getattr(original, "harness_named", False):
        return

    def create(self: Any, request: Any) -> Any:
        model = request.desired_state
        if model.get("TopicName") is None:
            fifo = str(model.get("FifoTopic", "")).lower() == "true"
            name = generate_default_name(request.stack_name, request.logical_resource_id)
            model["TopicName"] = f"{name[:251]}.fifo" if fifo else name
        return original(self, request)

    create.harness_named = True  # type: ignore[attr-defined]
    SNSTopicProvider.create = create  # type: ignore[method-assign]


def is_tap_queue(queue_name: str) -> bool:
    with _LOCK:
        return queue_name in _TAP_QUEUES


def _no_metrics_for_taps() -> None:
    from localstack.services.sqs.provider import CloudwatchDispatcher

    original = CloudwatchDispatcher.dispatch_sqs_metric
    if getattr(original, "harness_taps_skipped", False):
        return

    def dispatch_sqs_metric(self: Any, account_id: str, region: str, queue_name: str, *args: Any,
                            **kwargs: Any) -> None:
        if not is_tap_queue(queue_name):
            original(self, account_id, region, queue_name, *args, **kwargs)

    dispatch_sqs_metric.harness_taps_skipped = True  # type: ignore[attr-defined]
    CloudwatchDispatcher.dispatch_sqs_metric = dispatch_sqs_metric  # type: ignore[method-assign]


def install() -> None:
    from localstack.services.edge import ROUTER
    from localstack.services.sns.provider import SnsProvider
    from rolo import Response

    original = SnsProvider.create_topic
    if getattr(original, "harness_tapping", False):
        return

    def create_topic(self: Any, context: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        response = original(self, context, name, *args, **kwargs)
        try:
            _tap(context.account_id, context.region, str(response["TopicArn"]), name)
        except Exception:  # noqa: BLE001 - the harness finds the tap missing and says so; the topic stands
            LOG.exception("harness: could not tap topic %s", name)
        return response

    create_topic.harness_tapping = True  # type: ignore[attr-defined]
    SnsProvider.create_topic = create_topic  # type: ignore[method-assign]
    _name_topics_as_aws_does()
    _no_metrics_for_taps()

    def endpoint(request: Any, prefix: str) -> Response:
        with _LOCK:
            if request.method == "DELETE":
                _PREFIXES.discard(prefix)
            else:
                _PREFIXES.add(prefix)
        return Response(status=204)

    ROUTER.add(f"{ROUTE}/<prefix>", endpoint=endpoint, methods=["PUT", "DELETE"])
