"""Orchestrator: splits a job `{job_id, file_ids, shard_size}` into shards and invokes one worker per
shard asynchronously (`InvocationType=Event`).

The whole job is validated before the first invoke, so a malformed job starts nothing. An invoke that is
not accepted with status 202 fails the orchestrator after all shards were tried; a retry re-invokes every
shard, which is safe because workers load idempotently.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pipeline_common import aws, messages
from pipeline_common.config import load_orchestrator_config
from pipeline_common.errors import WorkerInvokeError
from pipeline_common.events import Shard, parse_job
from pipeline_common.logs import get_logger
from pipeline_common.sharding import shards_for_job

aws.prepare("lambda")

logger = get_logger("orchestrator")

ACCEPTED = 202


def handler(event: Any, context: Any) -> dict[str, Any]:
    config = load_orchestrator_config()
    job = parse_job(event, max_shard_size=config.max_shard_size)
    shards = shards_for_job(job)
    lambda_client = aws.client("lambda")

    def invoke(shard: Shard) -> tuple[str, str | None]:
        try:
            response = lambda_client.invoke(
                FunctionName=config.worker_function,
                InvocationType="Event",
                Payload=json.dumps(shard.to_event()).encode("utf-8"),
            )
        except Exception as exc:
            return shard.shard_id, f"{type(exc).__name__}: {exc}"
        status = response.get("StatusCode")
        return shard.shard_id, None if status == ACCEPTED else f"status {status}, expected {ACCEPTED}"

    with ThreadPoolExecutor(max_workers=min(config.invoke_concurrency, len(shards))) as pool:
        outcomes = list(pool.map(invoke, shards))
    failures = [(shard_id, why) for shard_id, why in outcomes if why is not None]
    if failures:
        raise WorkerInvokeError(config.worker_function, failures)

    summary = messages.message(
        messages.JOB_SHARDED,
        job_id=job.job_id,
        files=len(job.file_ids),
        shard_size=job.shard_size,
        shard_count=len(shards),
        shard_sizes=[len(shard.file_ids) for shard in shards],
        shard_ids=[shard.shard_id for shard in shards],
        worker_function=config.worker_function,
        request_id=getattr(context, "aws_request_id", None),
    )
    logger.info("job sharded %s", json.dumps(summary))
    return summary
