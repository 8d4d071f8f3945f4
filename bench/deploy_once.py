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
from harness.stack.pipeline import PipelineStack, unique_prefix  # noqa: E402


def pipeline(endpoint: object, url: str, prefix: str) -> PipelineStack:
    """The pipeline's stack as this checkout builds it (before the redesign it took a StackConfig)."""
    try:
        from harness.stack.pipeline import StackConfig  # type: ignore[attr-defined]
    except ImportError:
        return PipelineStack(endpoint, url, prefix)  # type: ignore[arg-type]
    return PipelineStack(endpoint, url, StackConfig(prefix=prefix))  # type: ignore[arg-type]


def main() -> None:
    warm_runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    started = time.perf_counter()
    localstack = EmbeddedLocalStack(quiet=True)
    endpoint = localstack.start()
    database = EmbeddedPostgres().start()
    figures: dict[str, object] = {"start_s": time.perf_counter() - started}
    try:
        started = time.perf_counter()
        first = pipeline(endpoint, database.url, unique_prefix("first")).deploy()
        figures["deploy_first_s"] = time.perf_counter() - started
        warm, teardown = [], []
        for _ in range(warm_runs):
            started = time.perf_counter()
            stack = pipeline(endpoint, database.url, unique_prefix("warm")).deploy()
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
