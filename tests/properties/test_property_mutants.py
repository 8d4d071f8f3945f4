"""The properties can fail: each pure mutant of `tests/mutants/catalog.yaml` (a bug in `pipeline_common`'s
sharding or re-shard decision) makes both the stateful model and a pure property of the walk fail, with a
shrunk falsifying example; the unmutated copy passes.

Each run is a subprocess of its own, on a copy of `lambdas/common` with the mutant applied, put first on
PYTHONPATH so that `pipeline_common` resolves to the copy: `harness.paths.pipeline_common` only appends
`lambdas/common` to sys.path, and only when it is not there. The subprocess prints the `pipeline_common`
it imported before and after the run, and the test checks that it is the copy's. It runs with a fixed
Hypothesis seed (the verdicts are repeatable), the `mutation` profile of conftest.py (no explain phase, no
example database) and in a temporary folder.

Re-sharding into children as big as their parent without a depth limit never terminates; the properties
bound their own work (the stateful model by its step count; the walk by the model's depth guard and a
budget of worker invocations, `walk_reading.GuardedWalk`), so that pair fails like the others, with the
scenario printed, instead of hanging; and each run is killed after RUN_TIMEOUT_S as a last resort.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from tests.support.mutants import mutants_script

from . import test_model_properties as model_properties
from . import walk_reading

REPO_ROOT = Path(__file__).resolve().parents[2]
# The stateful model first: with --maxfail=2 a mutant's run stops at the first pure property that fails
# after it (the others would only spend time shrinking their own examples of the same bug).
PROPERTIES = ("tests/properties/test_stateful_pipeline.py", "tests/properties/test_model_properties.py")
PURE = PROPERTIES[1]
STATEFUL = "tests/properties/test_stateful_pipeline.py::TestPipeline::runTest"
RUN_TIMEOUT_S = 600
# Imports pipeline_common the way the properties do (harness.paths, through the model's walk), says which
# one it got, runs pytest in the same interpreter, and says again which one was in use.
DRIVER = """
import sys
import pytest
import harness.model.walk
import pipeline_common
print("PIPELINE_COMMON_BEFORE=" + pipeline_common.__file__, flush=True)
status = pytest.main(sys.argv[1:])
print("PIPELINE_COMMON_AFTER=" + sys.modules["pipeline_common"].__file__, flush=True)
sys.exit(int(status))
"""
# Each case: the mutants planted together.
CASES = {
    "reshard-drops-last-file": ("reshard-drops-last-file",),
    "reshard-children-not-smaller": ("reshard-children-not-smaller",),
    "no-reshard-depth-limit": ("no-reshard-depth-limit",),
    "reshard-depth-not-increased": ("reshard-depth-not-increased",),
    "children-not-smaller-and-no-depth-limit": ("reshard-children-not-smaller", "no-reshard-depth-limit"),
}




def run_properties(tmp_path: Path, mutant_ids: tuple[str, ...]) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The properties run on a copy of lambdas/common with these mutants planted: (the run, the copy's
    pipeline_common folder)."""
    script = mutants_script()
    catalog = {mutant.id: mutant for mutant in script.load_catalog()}
    root = tmp_path / "copy"
    shutil.copytree(REPO_ROOT / "lambdas" / "common", root / "lambdas" / "common",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for mutant_id in mutant_ids:
        changed = catalog[mutant_id].apply(root)
        assert changed.is_relative_to(root / "lambdas" / "common"), f"{mutant_id} is not a pure mutant: {changed}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root / "lambdas" / "common"), env.get("PYTHONPATH")]))
    env["NO_COLOR"] = "1"
    command = [sys.executable, "-c", DRIVER, "-q", "-rfE", "-p", "no:cacheprovider", "--maxfail=2",
               "--hypothesis-profile=mutation", "--hypothesis-seed=0", *(str(REPO_ROOT / path) for path in PROPERTIES)]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=RUN_TIMEOUT_S, check=False)
    return result, root / "lambdas" / "common" / "pipeline_common"


def _check_the_copy_was_used(output: str, package: Path) -> None:
    used = re.findall(r"^PIPELINE_COMMON_(?:BEFORE|AFTER)=(.*)$", output, re.MULTILINE)
    assert len(used) == 2, f"the run did not say which pipeline_common it used:\n{output[-3000:]}"
    for path in used:
        assert Path(path).resolve().is_relative_to(package.resolve()), f"{path} is not the copy's ({package})"


def failed_tests(output: str) -> set[str]:
    """The failed tests' node IDs, from the repository's root (pytest names them from the working folder)."""
    failed = set()
    for line in re.findall(r"^FAILED (\S+)", output, re.MULTILINE):
        failed.add(line[line.index("tests/properties/"):] if "tests/properties/" in line else line)
    return failed


def falsifying_examples(output: str) -> list[str]:
    """The shrunk examples Hypothesis printed ("Failing test case:", formerly "Falsifying example:"), each
    up to the line that says how to reproduce it (the profile prints the blob), without pytest's margins."""
    lines = [re.sub(r"^(?:E\s+|\s*\|\s?)*", "", line) for line in output.splitlines()]
    examples, current = [], None
    for line in lines:
        if line.startswith(("Failing test case:", "Falsifying example:")):
            current = [line]
        elif current is not None and line.startswith("You can reproduce"):
            examples.append("\n".join(current).strip())
            current = None
        elif current is not None:
            current.append(line)
    return examples


@pytest.mark.slow
def test_the_unmutated_pipeline_passes_every_property(tmp_path: Path) -> None:
    result, package = run_properties(tmp_path, ())
    output = result.stdout + result.stderr
    _check_the_copy_was_used(output, package)
    assert result.returncode == 0, output[-5000:]
    assert re.search(r"\b6 passed\b", output), output[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("mutant_ids", list(CASES.values()), ids=list(CASES))
def test_each_pure_mutant_is_caught_with_a_shrunk_example(tmp_path: Path, mutant_ids: tuple[str, ...]) -> None:
    result, package = run_properties(tmp_path, mutant_ids)
    output = result.stdout + result.stderr
    _check_the_copy_was_used(output, package)
    assert result.returncode == 1, f"exit status {result.returncode}, expected 1 (tests failed):\n{output[-5000:]}"
    failed = failed_tests(output)
    assert STATEFUL in failed, f"the stateful model did not catch {mutant_ids}:\n{output[-5000:]}"
    assert any(name.startswith(PURE) for name in failed), (
        f"no pure property of the walk caught {mutant_ids}:\n{output[-5000:]}")
    examples = falsifying_examples(output)
    assert len(examples) >= 2, f"expected a falsifying example per failed property:\n{output[-5000:]}"
    print(f"{' + '.join(mutant_ids)}: {sorted(failed)}\n\n" + "\n\n".join(examples))


# The model's own bugs, planted in-process in the walk the pure properties read (`walk_reading.GuardedWalk`):
# the two properties that no pipeline_common mutant reaches can fail too. They stand for the live mutants
# of the worker and the error handler (UNIQUE keys, decisions keyed by message ID).


def _ignores_unique_keys(self, shard, files, at, *, complete):  # every commit counts as new rows
    self.loaded.update(files)
    self._events.append(walk_reading.Committed(at, shard, tuple(files), tuple(files), complete))


def _decides_twice(self, shard, event, fault, message, at):  # a redelivered dead letter acted on again
    walk_reading.Walk._decide(self, shard, event, fault, message, at)
    walk_reading.Walk._decide(self, shard, event, fault, message, at)


def _failures(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _failures(inner)]
    return [error]


@pytest.mark.parametrize(
    ("method", "bug", "prop", "message"),
    [
        ("_commit", _ignores_unique_keys, model_properties.test_no_file_is_loaded_twice_as_new,
         "inserted as new more than once"),
        ("_decide", _decides_twice, model_properties.test_every_dead_letter_of_the_worker_gets_exactly_one_decision,
         "decisions on one dead letter"),
    ],
    ids=["model-ignores-unique-keys", "model-decides-twice"],
)
def test_a_model_bug_fails_its_property(monkeypatch: pytest.MonkeyPatch, method: str, bug, prop, message: str) -> None:
    monkeypatch.setattr(walk_reading.GuardedWalk, method, bug)
    # The same test body on the same scenarios, without the example database (the examples are the bug's).
    run = given(scenario=model_properties.SCENARIOS)(
        settings(deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck),
                 phases=[Phase.generate, Phase.shrink])(prop.hypothesis.inner_test))
    with pytest.raises(Exception) as caught:  # noqa: B017 (an AssertionError, or a group of them)
        run()
    assert any(message in str(failure) for failure in _failures(caught.value)), caught.value
