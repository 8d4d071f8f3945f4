"""Taps that exist from the moment their topic does, and SNS deliveries counted as their stack's activity.

A topic created under a registered stack prefix gets its SQS tap queue and subscription inside the same
CreateTopic call. A stack's topics are created by CloudFormation, and its alarms a few hundred milliseconds
later in the same deploy; an alarm's first evaluation comes at its creation (JOB NOT RUN with missing data
goes to ALARM at once), so a tap subscribed after the stack is complete would miss that notification for
good. Here nothing can be published to the topic before its tap listens. The tap is an ordinary SQS queue
subscribed to the topic (SNS envelope, not raw), named ``<prefix>-tap-<rest of the topic's name>``; the
harness finds it by name.

A tap queue is the harness's instrument, not part of the pipeline: LocalStack publishes no SQS metrics for
it (every receive the harness polls would otherwise put a metric into CloudWatch: an empty receive cost
LocalStack 9.9 ms of CPU instead of 1.9 ms); a user's own queues keep their metrics.

A topic without a TopicName gets AWS's name from CloudFormation here, `<stack>-<LogicalId>-<random>`:
LocalStack's own resource provider names it `topic-<random>`, which neither matches AWS nor says which
stack it belongs to.

Runs inside the LocalStack process; installed by `harness.localstack.patches`.
"""

from __future__ import annotations

import logging
import threading
import types
from typing import Any

from harness import wire
from harness.localstack import clock

LOG = logging.getLogger(__name__)
_PREFIXES: set[str] = set()
_TAP_QUEUES: set[str] = set()  # every tap queue made, by name: no SQS metrics for these
_LOCK = threading.Lock()


def register(prefix: str) -> None:
    with _LOCK:
        _PREFIXES.add(prefix)


def forget(prefix: str) -> None:
    with _LOCK:
        _PREFIXES.discard(prefix)


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
        matches = [prefix for prefix in _PREFIXES if wire.named_after(prefix, topic_name)]
    return max(matches, key=len) if matches else None


def is_tap_queue(queue_name: str) -> bool:
    with _LOCK:
        return queue_name in _TAP_QUEUES


def _tap(account_id: str, region: str, topic_arn: str, topic_name: str) -> None:
    prefix = registered_prefix(topic_name)
    queue_name = wire.tap_queue_name(prefix, topic_name) if prefix else None
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


# -- patch bodies --------------------------------------------------------------------------------------------

def create_topic(original: Any, self: Any, context: Any, name: str, *args: Any, **kwargs: Any) -> Any:
    """SnsProvider.create_topic: a topic of a registered stack is tapped before anything can publish to it."""
    response = original(self, context, name, *args, **kwargs)
    try:
        _tap(context.account_id, context.region, str(response["TopicArn"]), name)
    except Exception:  # noqa: BLE001 - the harness finds the tap missing and says so; the topic stands
        LOG.exception("harness: could not tap topic %s", name)
    return response


def create_topic_resource(original: Any, self: Any, request: Any) -> Any:
    """SNSTopicProvider.create (CloudFormation): a topic without a TopicName is named as AWS names it."""
    from localstack.services.cloudformation.provider_utils import generate_default_name

    model = request.desired_state
    if model.get("TopicName") is None:
        fifo = str(model.get("FifoTopic", "")).lower() == "true"
        name = generate_default_name(request.stack_name, request.logical_resource_id)
        model["TopicName"] = f"{name[:251]}.fifo" if fifo else name
    return original(self, request)


def dispatch_sqs_metric(original: Any, self: Any, account_id: str, region: str, queue_name: str, *args: Any,
                        **kwargs: Any) -> None:
    """CloudwatchDispatcher.dispatch_sqs_metric: none for tap queues."""
    if not is_tap_queue(queue_name):
        original(self, account_id, region, queue_name, *args, **kwargs)


def submit_notification(original: Any, self: Any, notifier: Any, ctx: Any, subscriber: Any) -> None:
    """PublishDispatcher._submit_notification: a message on its way to a subscriber (an SQS queue, a Lambda
    function's event queue) is its topic's stack's activity until it is delivered."""
    token = clock.begin("delivering", str(subscriber.get("TopicArn", "")).rsplit(":", 1)[-1])

    def publish(*args: Any, **kwargs: Any) -> Any:
        try:
            return notifier.publish(*args, **kwargs)
        finally:
            clock.end(token)

    try:
        original(self, types.SimpleNamespace(publish=publish), ctx, subscriber)
    except BaseException:
        clock.end(token)
        raise
