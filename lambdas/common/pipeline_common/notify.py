"""Publishing `JOB SUCCEEDED` / `JOB FAILED` messages to the notifications topic."""

from __future__ import annotations

import json
from typing import Any

from . import aws
from .messages import JOB_FAILED, JOB_SUCCEEDED, STATUS, SUBJECTS

__all__ = ["JOB_FAILED", "JOB_SUCCEEDED", "publish"]


def publish(topic_arn: str, subject: str, body: dict[str, Any]) -> str:
    """Publish `body` as JSON with `subject`; returns the SNS MessageId.

    `status` and `reason` are repeated as message attributes so subscribers can filter without parsing.
    The subject is one of `messages.SUBJECTS`, the vocabulary the harness checks scenarios against.
    """
    if subject not in SUBJECTS:
        raise ValueError(f"not a subject of the pipeline: {subject!r}; name it in pipeline_common.messages")
    body = {STATUS: subject, **body}
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
