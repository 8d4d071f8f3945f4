"""The scenario shown in README.md must stay a valid scenario file."""

from __future__ import annotations

import re
from pathlib import Path

from harness.scenario import load_scenario

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_scenario_is_valid(tmp_path):
    [block] = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)
    path = tmp_path / "scenario_readme.yaml"
    path.write_text(block)
    scenario = load_scenario(path)
    assert scenario.name == "poison-file-raises" and scenario.poison_files() == ["f-0003"]
