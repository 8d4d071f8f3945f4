"""The `harness` command where a new user first meets it: outside the repository, in logs, on odd files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.cli import main


def test_schema_outside_a_project_prints_the_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # no scenarios/ folder here
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "harness scenario"
    assert list(tmp_path.iterdir()) == []


def test_schema_in_a_project_writes_next_to_the_scenarios(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scenarios").mkdir()
    assert main(["schema"]) == 0
    assert json.loads((tmp_path / "scenarios" / "scenario.schema.json").read_text())["title"] == "harness scenario"


def test_schema_to_a_missing_folder_fails_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["schema", "no/such/folder/schema.json"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("harness schema: cannot write no/such/folder/schema.json: No such file or directory")


# `harness run` with the stack faked: LocalStack is neither started nor needed to print a report.
RUN_WITH_A_FAILING_SCENARIO = """
import sys
from harness import runner
from harness.stack import resources


class FakeResources:
    attached = False

    def __init__(self, **_settings):
        pass

    def spawn(self):
        pass

    def endpoint(self):
        return None

    def database_url(self):
        return None

    def close(self):
        pass


def fail(scenario, _resources, _progress, keep_stack=False, template=None):
    return runner.ScenarioResult(scenario, None, 0.5, error="expected 1 dead letter, saw 0, at "
                                 + scenario.location("expect", 0))


resources.Resources = FakeResources
runner.run_scenario = fail
from harness.cli import main

sys.exit(main(["run", sys.argv[1]]))
"""


def test_run_in_a_log_writes_whole_lines(tmp_path: Path) -> None:
    folder = tmp_path.joinpath("a-folder-with-a-rather-long-name", "and-another-one-below-it", "scenarios")
    folder.mkdir(parents=True)
    path = folder / "a-scenario-file-whose-name-alone-is-long.yaml"
    path.write_text(textwrap.dedent("""
        name: long-path
        description: its report names a long path
        job: {files: 2}
        expect:
          - database: {loaded_exactly_once: all}
        """).lstrip())
    assert len(str(path)) > 80
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    completed = subprocess.run([sys.executable, "-c", RUN_WITH_A_FAILING_SCENARIO, str(path)], env=env,
                               capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 1, completed.stderr
    lines = completed.stderr.splitlines()
    # The failure report and the summary table each hold the path whole, on one line.
    assert f"expected 1 dead letter, saw 0, at {path}:5:5" in lines, completed.stderr
    assert any(str(path) in line and "FAILED" in line for line in lines), completed.stderr


def test_up_refuses_a_scenario_with_a_period_cloudwatch_does_not_have_before_starting_anything(
        tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.services import embedded

    def no_start(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("LocalStack must not start for a refused scenario")

    monkeypatch.setattr(embedded.EmbeddedLocalStack, "start", no_start)
    path = tmp_path / "odd-period.yaml"
    path.write_text("name: odd-period\ndescription: d\nstack:\n  alarm_period_seconds: 45\njob: {files: 1}\n"
                    "expect:\n  - database: {loaded_exactly_once: all}\n")
    assert main(["up", "--scenario", str(path)]) != 0
    err = capsys.readouterr().err
    assert f"{path}:4:" in err and "alarm_period_seconds" in err and "45" in err, err
