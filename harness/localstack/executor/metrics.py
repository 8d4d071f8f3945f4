"""AWS parity for Lambda's ``Errors`` metric.

AWS publishes ``Errors`` for every invocation, with the value 0 when it succeeded; LocalStack publishes
it only for failures. The difference matters to any alarm on Errors that treats missing data as
breaching (the seed pipeline's JOB FAILED alarm): on LocalStack it could never return to OK after a clean
run. `record_invocation_and_zero_errors` stands in for LocalStack's `record_cw_metric_invocation`
(`harness.localstack.patches`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

LOG = logging.getLogger(__name__)


def record_invocation_and_zero_errors(function_name: str, account_id: str, region_name: str) -> None:
    from localstack.aws.connect import connect_to
    from localstack.utils.cloudwatch.cloudwatch_util import dimension_lambda, is_api_enabled

    if not is_api_enabled("cloudwatch"):
        return
    now = datetime.now(UTC)
    dimensions = dimension_lambda({"func_name": function_name})
    try:
        # One request for both datapoints: a second put per invocation measurably slowed warm invokes.
        connect_to(aws_access_key_id=account_id, region_name=region_name).cloudwatch.put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[
                {"MetricName": "Invocations", "Dimensions": dimensions, "Timestamp": now, "Value": 1},
                {"MetricName": "Errors", "Dimensions": dimensions, "Timestamp": now, "Value": 0},
            ],
        )
    except Exception as error:  # metrics are best effort in LocalStack too
        LOG.debug("Failed to send Lambda metrics for %s: %s", function_name, error)
