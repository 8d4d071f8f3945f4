"""scripts/mutants.py (`make mutants`) without LocalStack: the catalog, the copies, the JUnit verdicts."""

from __future__ import annotations

import os
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.support.mutants import mutants_script

REPO_ROOT = Path(__file__).resolve().parents[2]




mutants = mutants_script()
CATALOG = mutants.load_catalog()


def _snapshot(root: Path) -> dict[str, bytes]:
    files = {}
    for directory, _subdirs, names in os.walk(root):  # does not follow the .harness link
        for name in names:
            path = Path(directory) / name
            if not path.is_symlink():
                files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files


def _write_catalog(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    return path


def test_the_catalog_loads_with_unique_ids_and_every_field() -> None:
    assert len(CATALOG) >= 12
    ids = [m.id for m in CATALOG]
    assert len(ids) == len(set(ids))
    for mutant in CATALOG:
        assert all(getattr(mutant, name).strip() for name in mutants.FIELDS), mutant.id


@pytest.mark.parametrize("mutant", CATALOG, ids=lambda m: m.id)
def test_every_anchor_occurs_exactly_once_in_the_current_tree(mutant) -> None:
    assert mutant.new != mutant.old
    text = (REPO_ROOT / mutant.file).read_text()
    assert text.count(mutant.old) == 1, f"{mutant.id}: update its `old` in tests/mutants/catalog.yaml"


@pytest.fixture(scope="module")
def pristine_copy(tmp_path_factory: pytest.TempPathFactory):
    root = mutants.make_copy(mutants.REPO_ROOT, parent=tmp_path_factory.mktemp("copies"), label="pristine")
    yield root, _snapshot(root)
    mutants.remove_copy(root)


@pytest.mark.parametrize("mutant", CATALOG, ids=lambda m: m.id)
def test_applying_a_mutant_changes_exactly_its_file(mutant, pristine_copy, tmp_path: Path) -> None:
    source, before = pristine_copy
    # A copy of the pristine copy, so the test does not depend on files others may be editing meanwhile.
    copy = mutants.make_copy(source, parent=tmp_path, label=mutant.id)
    changed = mutant.apply(copy)
    after = _snapshot(copy)
    assert changed == copy / mutant.file
    assert after.keys() == before.keys()
    assert [name for name in after if after[name] != before[name]] == [mutant.file]
    assert mutant.new in after[mutant.file].decode()
    mutants.remove_copy(copy)
    assert not copy.exists()


def test_a_copy_holds_what_harness_run_needs_and_links_the_cache(pristine_copy) -> None:
    root, files = pristine_copy
    assert {Path(name).parts[0] for name in files} == set(mutants.COPIED)
    assert not any("__pycache__" in name for name in files)
    assert (root / ".harness").is_symlink()
    assert (root / ".harness").resolve() == (mutants.REPO_ROOT / ".harness").resolve()


def test_removing_a_copy_leaves_the_shared_cache_alone(tmp_path: Path) -> None:
    source = tmp_path / "repo"
    for name in mutants.COPIED:
        if name.endswith(".toml"):
            (source / name).write_text("")
        else:
            (source / name).mkdir(parents=True)
    (source / ".harness" / "cache").mkdir(parents=True)
    (source / ".harness" / "cache" / "kept.zip").write_bytes(b"zip")
    copy = mutants.make_copy(source, parent=tmp_path, label="t")
    mutants.remove_copy(copy)
    assert not copy.exists()
    assert (source / ".harness" / "cache" / "kept.zip").read_bytes() == b"zip"


def test_python_imports_the_harness_and_lambdas_of_the_copy(pristine_copy) -> None:
    # The harness is installed editable; PYTHONPATH must still win, or every mutant would survive.
    root, _ = pristine_copy
    assert mutants.check_copy_is_used(root, sys.executable) is None


def test_an_anchor_that_is_missing_or_repeated_is_refused_naming_mutant_and_file(tmp_path: Path) -> None:
    (tmp_path / "lambdas").mkdir()
    (tmp_path / "lambdas" / "f.py").write_text("x = 1\nx = 1\ny = 2\n")
    missing = mutants.Mutant("gone", "bug", "lambdas/f.py", "z = 3", "z = 4")
    repeated = mutants.Mutant("twice", "bug", "lambdas/f.py", "x = 1", "x = 2")
    with pytest.raises(mutants.CatalogError, match=r"mutant gone: .*does not occur in lambdas/f\.py"):
        missing.apply(tmp_path)
    with pytest.raises(mutants.CatalogError, match=r"mutant twice: .*occurs 2 times in lambdas/f\.py"):
        mutants.check_anchors([repeated], tmp_path)
    assert (tmp_path / "lambdas" / "f.py").read_text() == "x = 1\nx = 1\ny = 2\n"


def test_a_malformed_catalog_is_refused_with_every_problem(tmp_path: Path) -> None:
    path = _write_catalog(tmp_path, """
- {id: a, bug: b, file: lambdas/x.py, old: o, new: n}
- {id: a, bug: b, file: lambdas/y.py, old: o, new: n}
- {id: c, bug: b, file: lambdas/x.py, old: same, new: same}
- {id: d, bug: b, file: README.md, old: o, new: n}
- {id: e, bug: b, file: ../lambdas/x.py, old: o, new: n}
- {id: f, file: lambdas/x.py, old: o, new: n, extra: 1}
""")
    with pytest.raises(mutants.CatalogError) as error:
        mutants.load_catalog(path)
    message = str(error.value)
    assert "mutant a: the id is used more than once" in message
    assert "mutant c: `new` is the same as `old`" in message
    assert "mutant d: file 'README.md' is not in what a mutant copy holds" in message
    assert "mutant e: file '../lambdas/x.py' must be a relative path" in message
    assert "mutant f: missing or empty (must be text): bug" in message
    assert "mutant f: unknown keys: extra" in message


def test_block_scalars_keep_the_indentation_of_multi_line_anchors(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "- id: two-lines\n  bug: a bug\n  file: lambdas/worker/handler.py\n"
        "  old: |-\n    first()\n            raise\n  new: |-\n    first()\n            return None\n"
    )
    [mutant] = mutants.load_catalog(catalog)
    assert mutant.old.splitlines()[1] == "        raise"


# What `harness run --junit-xml` writes (harness/cli/run.py write_junit): one testcase per scenario,
# named by the scenario, with a <failure> when it did not pass.
JUNIT = """<?xml version='1.0' encoding='utf-8'?>
<testsuite name="harness" tests="3" failures="2" time="40.1">
  <testcase classname="scenarios" name="bad-table-name" file="scenarios/bad-table-name.yaml" time="12.0">
    <failure message="expectations not met">sns: expected 3 JOB FAILED messages</failure>
  </testcase>
  <testcase classname="scenarios" name="success-path" file="scenarios/success-path.yaml" time="8.0" />
  <testcase classname="scenarios" name="job-not-run" file="scenarios/job-not-run.yaml" time="20.1">
    <error message="DeployError: cannot create alarms">boom</error>
  </testcase>
</testsuite>
"""


def test_the_junit_parser_maps_failed_and_errored_cases_to_scenario_names(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    report = mutants.parse_junit(path)
    assert report.tests == 3
    # The element's text is the harness's whole report; the message attribute is cut at 200 characters.
    assert report.failed == {"bad-table-name": "sns: expected 3 JOB FAILED messages", "job-not-run": "boom"}


def test_the_junit_written_by_the_harness_itself_parses(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from harness.cli.run import write_junit

    def result(name: str, passed: bool):
        scenario = SimpleNamespace(name=name, source_file=Path(f"scenarios/{name}.yaml"))
        return SimpleNamespace(scenario=scenario, passed=passed, seconds=1.0, error=None if passed else "boom")

    path = tmp_path / "junit.xml"
    write_junit(path, [result("a", True), result("b", False)], 2.0)
    assert mutants.parse_junit(path).failed == {"b": "boom"}


@pytest.mark.parametrize(
    ("returncode", "junit", "status", "killed_by"),
    [
        (1, JUNIT, "killed", ["bad-table-name", "job-not-run"]),
        (0, JUNIT.replace("<failure", "<skipped").replace("</failure>", "</skipped>")
                 .replace("<error", "<skipped").replace("</error>", "</skipped>"), "survived", []),
        (2, None, "error", []),
        (1, None, "error", []),  # an uncaught exception exits 1 without a report: not a kill
        (1, '<testsuite name="harness" tests="0" failures="0" />', "error", []),
    ],
)
def test_a_mutant_is_killed_only_on_a_failed_scenario(tmp_path: Path, returncode, junit, status, killed_by) -> None:
    path = tmp_path / "junit.xml"
    if junit is not None:
        path.write_text(junit)
    mutant = mutants.Mutant("m", "a bug", "lambdas/x.py", "o", "n")
    outcome = mutants.judge(mutant, returncode, path, "last lines of output", 1.0)
    assert (outcome.status, outcome.killed_by) == (status, killed_by)
    if status == "error":
        assert "last lines of output" in outcome.detail


def test_a_scenario_refused_before_deploy_kills_the_mutant(tmp_path: Path) -> None:
    # The validator walks the model, which runs the (mutated) pipeline's own re-shard code.
    tail = ("/tmp/copy/scenarios/poison-file-quarantined.yaml:20:68: expect[2].reshard.quarantined[0]: file "
            "'f-0005' cannot be quarantined: the error handler quarantines no file\n")
    mutant = mutants.Mutant("m", "a bug", "lambdas/x.py", "o", "n")
    outcome = mutants.judge(mutant, 2, tmp_path / "missing.xml", tail, 1.0)
    assert (outcome.status, outcome.killed_by) == ("killed", ["poison-file-quarantined (refused before deploy)"])
    # Exit 2 for any other reason (LocalStack did not start) is no kill.
    other = mutants.judge(mutant, 2, tmp_path / "missing.xml", "LocalStackError: not ready\n", 1.0)
    assert other.status == "error"


def test_scenarios_that_fail_on_the_baseline_too_are_no_evidence(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT)
    mutant = mutants.Mutant("m", "a bug", "lambdas/x.py", "o", "n")
    partly = mutants.judge(mutant, 1, path, "", 1.0, baseline_failed=frozenset({"job-not-run"}))
    assert (partly.status, partly.killed_by) == ("killed", ["bad-table-name"])
    only = mutants.judge(mutant, 1, path, "", 1.0, baseline_failed=frozenset({"job-not-run", "bad-table-name"}))
    assert only.status == "error" and "fail on the baseline too" in only.detail


def test_the_kill_matrix_is_a_markdown_table_and_survivors_fail_the_run() -> None:
    killed = mutants.Outcome("a", "drops | things", "f", "killed", killed_by=["s1", "s2"])
    survived = mutants.Outcome("b", "bug b", "f", "survived")
    broken = mutants.Outcome("c", "bug c", "f", "error", detail="no scenario ran (exit status 2)\nTraceback")
    table = mutants.kill_matrix([killed, survived, broken]).splitlines()
    assert table[0] == "| mutant | bug | killed by |"
    assert table[2] == "| `a` | drops \\| things | `s1`, `s2` |"
    assert table[3] == "| `b` | bug b | **SURVIVED** |"
    assert table[4] == "| `c` | bug c | error: no scenario ran (exit status 2): Traceback |"
    assert mutants.exit_status([killed]) == 0
    assert mutants.exit_status([killed, broken]) == 2
    assert mutants.exit_status([killed, survived, broken]) == 1


def test_scenario_paths_are_mapped_into_the_copy(tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    mapped = mutants.scenario_arguments(["scenarios/bad-table-name.yaml", str(REPO_ROOT / "scenarios")], copy)
    assert mapped == [str(copy / "scenarios" / "bad-table-name.yaml"), str(copy / "scenarios")]


def test_a_run_that_outlives_its_timeout_is_stopped_by_pid(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"]
    returncode = mutants.run_child(command, tmp_path, dict(os.environ), tmp_path / "log", timeout_s=1.0)
    assert returncode is None
    assert "started" in (tmp_path / "log").read_text()


def test_a_junit_failure_message_is_the_first_unmet_expectation(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from harness.cli.run import write_junit
    from harness.expect.report import Outcome, Report
    from harness.scenario import load_scenario

    scenario = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "worker-exception-raised.yaml")
    outcomes = [Outcome(scenario.expect[0], "scenarios/x.yaml:20:5", True, "ok", "ok"),
                Outcome(scenario.expect[1], "scenarios/x.yaml:22:5", False, "3 attempts", "2 attempts")]
    result = SimpleNamespace(scenario=scenario, passed=False, seconds=1.0, error=None,
                             report=Report(scenario.name, outcomes))
    path = tmp_path / "junit.xml"
    write_junit(path, [result], 1.0)
    [failure] = ET.parse(path).iter("failure")
    assert failure.get("message").endswith("at scenarios/x.yaml:22:5: expected 3 attempts; observed 2 attempts")


def test_a_file_refused_while_the_others_ran_and_passed_kills_the_mutant(tmp_path: Path) -> None:
    # `harness run` reports an invalid file and runs the valid ones (exit 1); the refusal is printed first, so it
    # is read from the whole output, not its tail.
    path = tmp_path / "junit.xml"
    path.write_text(JUNIT.replace("<failure", "<skipped").replace("</failure>", "</skipped>")
                    .replace("<error", "<skipped").replace("</error>", "</skipped>"))
    mutant = mutants.Mutant("m", "a bug", "lambdas/x.py", "o", "n")
    whole = ("/tmp/copy/scenarios/reshard-depth-limit-quarantine.yaml:18:5: expect[1].reshard: the error handler "
             "re-shards 7 times, not 3\n")
    outcome = mutants.judge(mutant, 1, path, "44 passed, 0 failed", 1.0,
                            refused=mutants.refused_files(whole))
    assert (outcome.status, outcome.killed_by) == ("killed", ["reshard-depth-limit-quarantine (refused before deploy)"])
    assert mutants.judge(mutant, 0, path, "44 passed, 0 failed", 1.0, refused=[]).status == "survived"
