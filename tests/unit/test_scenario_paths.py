"""Finding scenario files: directories, missing paths, names used twice, and `validate_paths`."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario import ScenarioError, load_scenarios, validate_paths

from .test_scenario_errors import only, write


def test_missing_file(tmp_path: Path) -> None:
    problem = only(tmp_path / "nope.yaml")
    assert (problem.line, problem.message) == (None, "no such file")


VALID = """
name: {name}
description: a valid scenario
job: {{files: 2}}
expect:
  - database: {{loaded_exactly_once: all}}
"""


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    write(tmp_path, VALID.format(name="same"), "a.yaml")
    (tmp_path / "nested").mkdir()
    second = write(tmp_path / "nested", VALID.format(name="same"), "b.yaml")
    with pytest.raises(ScenarioError) as caught:
        load_scenarios([tmp_path])
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.column, problem.field) == (str(second), 1, 1, "name")
    assert problem.message == f"scenario name 'same' is already used by {tmp_path / 'a.yaml'}:1:1"


def test_load_scenarios_searches_directories_and_skips_repeats(tmp_path: Path) -> None:
    first = write(tmp_path, VALID.format(name="first"), "a.yaml")
    (tmp_path / "deeper").mkdir()
    write(tmp_path / "deeper", VALID.format(name="second"), "b.yaml")
    write(tmp_path, "not: a scenario\n", "notes.txt")
    scenarios = load_scenarios([tmp_path, first])
    assert [scenario.name for scenario in scenarios] == ["first", "second"]


def test_validate_paths_returns_one_error_per_problem(tmp_path: Path) -> None:
    write(tmp_path, VALID.format(name="fine"), "fine.yaml")
    bad = write(tmp_path, "name: Bad\ndescription: ''\nexpect: []\n", "bad.yaml")
    errors = validate_paths([tmp_path, tmp_path / "missing"])
    lines = [str(error) for error in errors]
    assert lines == [
        f"{tmp_path / 'missing'}: no such file or directory",
        f"{bad}:1:7: name: must be a slug of at most 63 characters: lowercase letters, digits and single "
        "hyphens (like worker-timeout-reshards), got 'Bad'",
        f"{bad}:2:14: description: must not be empty",
        f"{bad}:3:1: expect: needs at least 1 item(s), got 0",
    ]
    assert validate_paths([tmp_path / "fine.yaml"]) == []


def test_a_folder_of_yml_files_is_found_as_pytest_collects_it(tmp_path: Path) -> None:
    from harness.pytest_plugin import _is_scenario_file

    folder = tmp_path / "scenarios"
    folder.mkdir()
    short = write(folder, VALID.format(name="short-suffix"), "a.yml")
    write(folder, VALID.format(name="long-suffix"), "b.yaml")
    assert _is_scenario_file(short)
    assert validate_paths([folder]) == []
    assert [scenario.name for scenario in load_scenarios([folder])] == ["short-suffix", "long-suffix"]
