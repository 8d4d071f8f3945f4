"""The scenarios shown in README.md must stay valid scenario files: the pipeline's, and the one on a
template of one's own (checked against the example's template too)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.scenario import TemplateScenario, load_scenario

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def test_readme_scenarios_are_valid(tmp_path):
    pipeline, own = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)
    path = tmp_path / "scenario_readme.yaml"
    path.write_text(pipeline)
    scenario = load_scenario(path)
    assert scenario.name == "poison-file-raises" and scenario.poison_files() == ["f-0003"]
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "template.yaml").write_text((ROOT / "examples" / "order-handler" / "template.yaml").read_text())
    path = tmp_path / "scenarios" / "own.yaml"
    path.write_text(own)
    # Loading validates every logical ID it names against the template (a ScenarioError otherwise).
    scenario = load_scenario(path)
    assert isinstance(scenario, TemplateScenario)
    assert scenario.invoked() in scenario.functions()
