"""One scenario as `harness run FILE` runs it, timed from the moment the command was spawned to its job's
invoke (the start-up a user waits through before anything of the scenario happens). Used by
bench/bench_executor.py; prints one JSON line.

Run: .venv/bin/python bench/first_job.py <spawn time, epoch seconds> <scenario file>
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

spawned, path = float(sys.argv[1]), sys.argv[2]

from harness.scenario import load_scenario  # noqa: E402
from harness.stack.resources import Resources  # noqa: E402

marks: dict[str, float] = {}


def progress(step: str) -> None:
    if step.startswith("invoking") and "job" not in marks:
        marks["job"] = time.time() - spawned


scenario = load_scenario(path)
resources = Resources(quiet=True)
try:
    # As `harness run` does: LocalStack spawned, what runs a scenario imported while it starts, then LocalStack
    # and PostgreSQL waited for, in this thread, before the scenario.
    resources.spawn()
    from harness.runner import run_scenario

    resources.endpoint()
    resources.database_url()
    result = run_scenario(scenario, resources, progress)
finally:
    resources.close()
print(json.dumps({"to_job_s": marks.get("job"), "passed": result.passed, "error": result.error}))
