"""Order handler: validates an order with the layer's rules and sends it to the accepted orders queue.

An invalid order raises, so that Lambda retries the asynchronous invocation, then sends the event to
the dead-letter queue and a failure record to the OnFailure destination.
"""

import json
import os

import boto3
import order_rules  # from the OrderRulesLayer layer

sqs = boto3.client("sqs")


def handler(event, context):
    max_quantity = int(os.environ.get("MAX_QUANTITY", "100"))
    order = order_rules.validate(event, max_quantity)
    sqs.send_message(QueueUrl=os.environ["ACCEPTED_QUEUE_URL"], MessageBody=json.dumps(order))
    return {"order_id": order["order_id"], "accepted": True}
