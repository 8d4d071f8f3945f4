"""AWS parity for Lambda's ``Errors`` metric.

AWS publishes ``Errors`` for every invocation, with the value 0 when it succeeded; LocalStack publishes
it only for failures. The difference matters to any alarm on Errors that treats missing data as
breaching (the seed pipeline's JOB FAILED alarm): on LocalStack it could never return to OK after a clean
run. Installed when LocalStack loads the process executor, before any invocation.
"""

from __future__ import annotations

import logging

LOG = logging.getLogger(__name__)
_installed = False


def install_zero_errors_on_success() -> None:
    global _installed
    if _installed:
        return
    from localstack.services.lambda_.invocation import metrics, version_manager
    from localstack.utils.cloudwatch.cloudwatch_util import publish_lambda_metric

    record_invocation = metrics.record_cw_metric_invocation

    def record_invocation_and_zero_errors(function_name: str, account_id: str, region_name: str) -> None:
        record_invocation(function_name=function_name, account_id=account_id, region_name=region_name)
        try:
            publish_lambda_metric("Errors", 0, {"func_name": function_name}, region_name=region_name,
                                  account_id=account_id)
        except Exception as error:  # metrics are best effort in LocalStack too
            LOG.debug("Failed to send the Errors=0 metric for %s: %s", function_name, error)

    # version_manager imported the function by name, so its reference is the one to replace.
    version_manager.record_cw_metric_invocation = record_invocation_and_zero_errors
    _installed = True
