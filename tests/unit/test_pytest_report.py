"""`pytest --harness-report DIR`: a page and JSON per scenario, written by whichever pytest-xdist worker ran
it, one index written by the controller, and JUnit XML naming each page. The scenarios run on the scripted
stand-in (a conftest swaps it in for `harness.runner.run_scenario`), so no LocalStack starts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CONFTEST = '''
from harness import runner
from harness.expect import evaluate
from tests.support.fakes import FakeClock, FakeObservations
from tests.support.simulated import PLATFORM, simulate_pipeline


def run(scenario, resources, progress=None, keep_stack=False):
    clock = FakeClock()
    observations = FakeObservations(clock, started_at=clock.now, platform=PLATFORM)
    simulate_pipeline(scenario, observations, PLATFORM)
    if scenario.name.endswith("-silent"):  # a planted bug: the workers never report JOB SUCCEEDED
        observations._messages = [m for m in observations._messages if m.topic != "notifications"]
    report = evaluate(scenario, observations, wall_clock=clock, sleep=clock.sleep, poll_interval=0.1)
    return runner.ScenarioResult(scenario, report, 0.5)


runner.run_scenario = run
'''


@pytest.mark.slow
def test_pytest_harness_report_under_xdist_writes_pages_an_index_and_names_them_in_junit(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "scenarios").mkdir(parents=True)
    (project / "conftest.py").write_text(CONFTEST)
    shutil.copy(ROOT / "scenarios" / "worker-timeout-reshards.yaml", project / "scenarios")
    clean = (ROOT / "scenarios" / "success-path.yaml").read_text()
    (project / "scenarios" / "success-path-silent.yaml").write_text(
        clean.replace("name: success-path", "name: success-path-silent"))
    out, junit = tmp_path / "report", tmp_path / "junit.xml"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    env["PYTHONPATH"] = str(ROOT)
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "scenarios",
         "--harness-report", str(out), "--junit-xml", str(junit)],
        cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode == 1, output
    assert "1 failed, 1 passed" in output, output
    assert f"harness: report of 2 scenario(s): {out / 'index.html'}" in output, output
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "1 of 2 scenarios passed" in index
    assert index.index("success-path-silent.html") < index.index("worker-timeout-reshards.html")
    failing = json.loads((out / "success-path-silent.json").read_text(encoding="utf-8"))
    assert failing["passed"] is False
    [unmet] = [item for item in failing["expectations"] if not item["passed"]]
    assert (unmet["kind"], unmet["location"]) == ("sns", f"{project / "scenarios" / "success-path-silent.yaml"}:13:5")
    assert any(event["type"] == "attempt" and event["log"] for event in failing["events"])
    assert "FAILED" in (out / "success-path-silent.html").read_text(encoding="utf-8")
    cases = {case.get("name"): case for case in ET.parse(junit).getroot().iter("testcase")}
    for name in ("worker-timeout-reshards", "success-path-silent"):
        properties = {p.get("name"): p.get("value") for p in cases[name].iter("property")}
        assert properties["report"] == str((out / f"{name}.html").resolve())
