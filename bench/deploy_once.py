"""One LocalStack, one PostgreSQL: the pipeline's deploy time, first and warm, of the checkout in $TREE.

Used by `bench_pipeline.py --baseline DIR`, which runs it for this tree and for the baseline checkout in
alternation (the API it calls, `PipelineStack(...).deploy()`, is the same in both), and reads the JSON line
it prints: {"start_s": ..., "deploy_first_s": ..., "deploy_warm_s": [...], "teardown_s": [...]}, where start_s
is LocalStack's and PostgreSQL's start, before the first deploy.
"""

from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.environ["TREE"])

from harness.services import EmbeddedLocalStack  # noqa: E402
from harness.stack.database import EmbeddedPostgres  # noqa: E402
from harness.stack.pipeline import PipelineStack, StackConfig, unique_prefix  # noqa: E402


def main() -> None:
    warm_runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    started = time.perf_counter()
    localstack = EmbeddedLocalStack(quiet=True)
    endpoint = localstack.start()
    database = EmbeddedPostgres().start()
    figures: dict[str, object] = {"start_s": time.perf_counter() - started}
    try:
        started = time.perf_counter()
        first = PipelineStack(endpoint, database.url, StackConfig(prefix=unique_prefix("first"))).deploy()
        figures["deploy_first_s"] = time.perf_counter() - started
        warm, teardown = [], []
        for _ in range(warm_runs):
            started = time.perf_counter()
            stack = PipelineStack(endpoint, database.url, StackConfig(prefix=unique_prefix("warm"))).deploy()
            warm.append(time.perf_counter() - started)
            started = time.perf_counter()
            stack.teardown()
            teardown.append(time.perf_counter() - started)
        first.teardown()
        figures["deploy_warm_s"], figures["teardown_s"] = warm, teardown
    finally:
        database.stop()
        localstack.stop()
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
