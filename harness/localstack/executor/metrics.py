"""AWS parity for Lambda's ``Invocations`` and ``Errors`` metrics.

AWS publishes ``Errors`` for every invocation, with the value 0 when it succeeded; LocalStack publishes
it only for failures. The difference matters to any alarm on Errors that treats missing data as
breaching (the seed pipeline's JOB FAILED alarm): on LocalStack it could never return to OK after a clean
run. `record_invocation` stands in for LocalStack's `record_cw_metric_invocation` and
`record_cw_metric_error` (`harness.localstack.patches`).

The datapoints carry no Timestamp: CloudWatch stamps them when it stores them, on the stack's clock
(`harness.localstack.alarms.add_metric_data`). LocalStack's own stamp (the wall clock, sent through its
internal client) arrived cut to the whole second, so a failure recorded just after an alarm evaluation was
dated up to a second before it, on the stack's clock: it fell into the period that evaluation had already
judged, and two errors a fraction of a second apart were split between two periods (a Sum of 2 read as 1).
"""

from __future__ import annotations

import logging

LOG = logging.getLogger(__name__)


def record_invocation(function_name: str, account_id: str, region_name: str, errors: int = 0) -> None:
    """One request for both datapoints of an invocation: Invocations 1 and Errors 0 or 1."""
    from localstack.aws.connect import connect_to
    from localstack.utils.cloudwatch.cloudwatch_util import dimension_lambda, is_api_enabled

    if not is_api_enabled("cloudwatch"):
        return
    dimensions = dimension_lambda({"func_name": function_name})
    try:
        connect_to(aws_access_key_id=account_id, region_name=region_name).cloudwatch.put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[
                {"MetricName": "Invocations", "Dimensions": dimensions, "Value": 1},
                {"MetricName": "Errors", "Dimensions": dimensions, "Value": errors},
            ],
        )
    except Exception as error:  # metrics are best effort in LocalStack too
        LOG.debug("Failed to send Lambda metrics for %s: %s", function_name, error)


def record_invocation_and_error(function_name: str, account_id: str, region_name: str) -> None:
    record_invocation(function_name, account_id, region_name, errors=1)


RECORDS = {"record_cw_metric_invocation": record_invocation, "record_cw_metric_error": record_invocation_and_error}
"""What each of LocalStack's `version_manager` recorders is replaced with (`harness.localstack.patches`)."""
