"""Publishing `JOB SUCCEEDED` / `JOB FAILED` messages to the notifications topic."""

from __future__ import annotations

import json
from typing import Any

from . import aws

JOB_SUCCEEDED = "JOB SUCCEEDED"
JOB_FAILED = "JOB FAILED"


def publish(topic_arn: str, subject: str, body: dict[str, Any]) -> str:
    """Publish `body` as JSON with `subject`; returns the SNS MessageId.

    `status` and `reason` are repeated as message attributes so subscribers can filter without parsing.
    """
    body = {"status": subject, **body}
    attributes = {"status": {"DataType": "String", "StringValue": subject}}
    if body.get("reason"):
        attributes["reason"] = {"DataType": "String", "StringValue": str(body["reason"])}
    if body.get("job_id"):
        attributes["job_id"] = {"DataType": "String", "StringValue": str(body["job_id"])}
    response = aws.client("sns").publish(
        TopicArn=topic_arn,
        Subject=subject,
        Message=json.dumps(body, sort_keys=True, default=str),
        MessageAttributes=attributes,
    )
    return str(response.get("MessageId", ""))
