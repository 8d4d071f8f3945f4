"""Collecting scenario files under pytest-xdist: a broken file is one error, not one per worker.

Collection deploys nothing and starts no LocalStack, so this runs pytest in a subprocess on a tmp project.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_a_broken_scenario_file_is_one_collection_error_under_xdist(tmp_path: Path) -> None:
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "broken.yaml").write_text("name: Bad\ndescription: x\nexpect: []\n")
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert True\n")
    # Entry-point plugins (the harness, xdist) load as they do for a user.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    completed = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "-rE"],
                               cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0, output
    assert re.search(r"\b1 error\b", output), output
    assert output.count("ERROR collecting scenarios/broken.yaml") == 1, output
    # The problems themselves, with file and line, and no traceback into the harness.
    assert f"{tmp_path / 'scenarios' / 'broken.yaml'}:3:1: expect: needs at least 1 item(s), got 0" in output
    assert "load_scenario" not in output


def test_a_template_beside_the_scenarios_is_not_collected(tmp_path: Path) -> None:
    from harness.pytest_plugin import _is_scenario_file

    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "template.yaml").write_text("AWSTemplateFormatVersion: '2010-09-09'\nResources: {}\n")
    (folder / "one.yaml").write_text("name: one\ndescription: d\nexpect: []\n")
    assert not _is_scenario_file(folder / "template.yaml")
    assert _is_scenario_file(folder / "one.yaml")
