"""`harness run -j 2` on real stacks: shipped scenarios side by side in one LocalStack and one PostgreSQL, each
passing, reported in the order given, and every stack torn down."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import psycopg
import pytest

from harness.services import Endpoint

REPO = Path(__file__).resolve().parents[2]
# Quick ones (few attempts), given in an order that is not the alphabet's.
SHIPPED = ["transient-error-reported", "bad-table-name", "bad-input-reported"]
# Renamed, so that their stacks' prefixes (from the name) are this test's alone on a shared LocalStack.
NAMES = [f"jobs-{name}" for name in SHIPPED]

pytestmark = pytest.mark.integration


def _leftovers(endpoint: Endpoint, database_url: str) -> list[str]:
    """What is named after this test's scenarios: functions, topics, queues, alarms and schemas."""
    names = [f["FunctionName"] for f in endpoint.client("lambda").list_functions()["Functions"]]
    names += [t["TopicArn"].rsplit(":", 1)[-1] for t in endpoint.client("sns").list_topics()["Topics"]]
    names += [url.rsplit("/", 1)[-1] for url in endpoint.client("sqs").list_queues().get("QueueUrls", [])]
    names += [a["AlarmName"] for a in endpoint.client("cloudwatch").describe_alarms()["MetricAlarms"]]
    with psycopg.connect(database_url, autocommit=True) as connection:
        names += [row[0] for row in connection.execute("SELECT schema_name FROM information_schema.schemata")]
    return sorted(name for name in names if name.startswith(("jobs-", "jobs_")))


def test_harness_run_j2_runs_scenarios_side_by_side(tmp_path: Path, harness_endpoint: Endpoint,
                                                    harness_database_url: str) -> None:
    paths = []
    for shipped, name in zip(SHIPPED, NAMES, strict=True):
        text = (REPO / "scenarios" / f"{shipped}.yaml").read_text()
        path = tmp_path / f"{shipped}.yaml"
        path.write_text(re.sub(r"(?m)^name: .*$", f"name: {name}", text, count=1))
        paths.append(str(path))
    junit = tmp_path / "junit.xml"
    # The session's LocalStack and PostgreSQL, attached (its stacks have clocks: it runs the harness's launcher).
    env = {**os.environ, "DATABASE_URL": harness_database_url}
    run = subprocess.run([sys.executable, "-m", "harness.cli", "run", "-j", "2", *paths,
                          "--endpoint", harness_endpoint.url, "--junit-xml", str(junit)],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert "3 passed, 0 failed" in run.stdout
    # One verdict line per scenario, in the order given; the summary table in that order too.
    lines = run.stderr.splitlines()
    verdicts = [m.group(1) for line in lines if (m := re.match(r"PASS (\S+) \(", line))]
    assert verdicts == NAMES, output[-4000:]
    assert [name for line in lines for name in NAMES if re.search(rf"│ {name} +│", line)] == NAMES
    # They ran side by side: the wall time is less than the scenarios' times added up.
    total = float(re.search(r"in ([0-9.]+)s", run.stdout).group(1))  # type: ignore[union-attr]
    seconds = [float(case.get("time", "0")) for case in ET.parse(junit).getroot().iter("testcase")]
    assert total < sum(seconds), (total, seconds)
    # Every stack torn down: nothing named after these scenarios in the LocalStack or the database.
    assert _leftovers(harness_endpoint, harness_database_url) == []
