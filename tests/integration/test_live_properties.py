"""Live properties: no file lost, none loaded twice, whatever fails, on the real stack.

Hypothesis draws small jobs and fault plans (`harness.strategies`) and each drawn scenario runs on the
embedded LocalStack and PostgreSQL the way a scenario file does (`harness.runner.run_scenario` with the
session's `harness_resources`). A drawn scenario carries what the model of the pipeline predicts for it
(`harness.strategies.live_predictions`), so the harness's own engine checks, on the real tables and the
real notifications:
- `database`: the files the model loads are each loaded exactly once (each file's rows, as
  `harness.stack.database.expected_row_counts` says, no duplicate row), every other file has no rows: the
  total rows are the sum of the loaded files' rows;
- `reshard`: exactly the files the model quarantines are in the quarantine table and reported as such;
- `sns` JOB FAILED per file not loaded: how many reports name it (at least one: it is reported), and JOB
  FAILED in all: one per reported error or decision;
- `sns` JOB SUCCEEDED: how many, and their totals of files_inserted and rows_inserted: what the workers
  say they inserted adds up to what the tables hold (less what an attempt that then failed committed).
Before running, each test checks that the prediction itself puts every file in exactly one of loaded
once / quarantined and reported / reported.

A failing example is written as a scenario file (`harness.reproduce`; `.harness/failures/` here) and the
failure names it: `harness run <file>` replays it exactly (its faults, their seeds, the same expectations).
Each example costs a deploy and a run (5-20 s), so the default run draws a few examples with a seed derived
from the test (`derandomize`: the same ones every time, as CI needs); `--hypothesis-profile=soak` draws
HARNESS_LIVE_SOAK_EXAMPLES (default 50) with fresh randomness, and HARNESS_LIVE_EXAMPLES sets the number
either way. Shrinking a live failure costs a run per try: it stops HARNESS_LIVE_SHRINK_SECONDS (default 120)
after the first failure, then Hypothesis replays and reports the smallest failing example so far.

`test_a_planted_bug_fails_the_live_property_and_its_file_replays` plants a catalog mutant in a copy of the
project, runs a live property there (it must fail and name a file), replays that file in the copy (it must
fail the same way) and in this project (it must pass). The copy attaches to this session's LocalStack and
database. About 35 s for `worker-files-inserted-equals-files`, 55 s for `error-handler-acts-twice` (a drawn
example, shrunk for 10 s); HARNESS_LIVE_PLANTED=0 skips it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, note, reject, settings
from hypothesis import strategies as st
from hypothesis.control import current_build_context
from hypothesis.errors import InvalidArgument

from harness.reproduce import failed_scenario
from harness.runner import run_scenario
from harness.scenario import Scenario
from harness.strategies import jobs, live_predictions, scenario_documents, stack_settings, with_expectations
from tests.support.mutants import mutants_script

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
_SOAK = settings.default.max_examples >= 1000  # the `soak` profile of conftest.py (5,000 examples)
_DEFAULT_EXAMPLES = int(os.environ.get("HARNESS_LIVE_SOAK_EXAMPLES") or 50) if _SOAK else 4
EXAMPLES = int(os.environ.get("HARNESS_LIVE_EXAMPLES") or _DEFAULT_EXAMPLES)
SHRINK_SECONDS = float(os.environ.get("HARNESS_LIVE_SHRINK_SECONDS") or 120)
LIVE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not _SOAK,
    report_multiple_bugs=False,
    # No explain phase: it would run more examples on the stack to say which parts of the failing one matter.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    # The budget is function-scoped on purpose (one per test, shared by its examples); the session's
    # LocalStack and database are session-scoped.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Jobs of 2-4 files in one run; worker faults only (a timeout, an exception of the worker's own code or a
# transient one, a wrong table name), each maybe narrowed to poison files, attempts, a minimum shard size or
# a seeded probability; a 1 s worker timeout, 0-1 retries, re-sharding at most once, and the worker's error
# policy (report or raise, per failure class) drawn too.
SHARDS = scenario_documents(
    job=jobs(min_files=2, max_files=4, runs=(1, 1)),
    stack=stack_settings(worker_timeouts=(1, 1), retry_attempts=(0, 1), reshard_depths=(0, 1)),
    functions=["worker"],
    kinds=["timeout", "exception", "bad_table"],
    min_faults=1,
    max_faults=2,
    expect=live_predictions,
)
# Drawn examples seldom load a file again after it was committed by an attempt that then failed (5 of 300
# in a sample): the case where the workers' statistics and the tables can disagree. So the property always runs
# one such example first: f-0001 times out after f-0000 is committed; the error handler re-shards the
# shard once; the child [f-0000] loads it again (already present: inserted 0), f-0001 is quarantined.
PARTIAL_COMMIT = with_expectations({
    "name": "property-partial-commit",
    "description": "Explicit example of the live property: f-0001 times out after f-0000 is committed; "
                   "the re-shard loads f-0000 again (already present) and quarantines f-0001.",
    "stack": {"worker": {"timeout_seconds": 1, "max_retry_attempts": 0}, "max_reshard_depth": 1},
    "job": {"files": 2, "shard_size": 2},
    "faults": [{"function": "worker", "kind": "timeout", "files": ["f-0001"]}],
}, live_predictions)
# A redelivered dead letter: poison files that always time out in a shard of 2-3 (dead-lettered, so the
# error handler re-shards or quarantines), and the error handler failing after its first attempt committed
# its decision and acted on it, so Lambda retries it with the same dead letter: the retry must do nothing.
REDELIVERY_FAULT = {"function": "error_handler", "kind": "fail_after_commit", "attempts": [1]}


@st.composite
def redelivered_dead_letters(draw: st.DrawFn) -> dict[str, Any]:
    document = draw(scenario_documents(
        job=jobs(min_files=2, max_files=3, min_shard_size=2, runs=(1, 1)),
        stack=stack_settings(worker_timeouts=(1, 1), retry_attempts=(0, 0), reshard_depths=(0, 1), policies=False),
        functions=["worker"], kinds=["timeout"], targeting=["files"], min_faults=1, max_faults=1,
    ))
    stack = document.setdefault("stack", {})
    stack["error_handler"] = {**stack.get("error_handler", {}), "max_retry_attempts": 1}
    description = (f"{document['description']} The error handler fails after its first attempt has acted "
                   "(fail_after_commit), so Lambda redelivers the dead letter.")
    return with_expectations({**document, "description": description,
                              "faults": [*document["faults"], REDELIVERY_FAULT]}, live_predictions)


# -- running an example ----------------------------------------------------------------------------------
@dataclass
class ShrinkBudget:
    """Live runs are slow: after the first failure, shrinking may run examples for `seconds`; later tries
    are rejected (Hypothesis then cannot shrink further) except its final replay of the example it reports."""

    seconds: float
    first_failure: float | None = None

    def __repr__(self) -> str:
        return f"ShrinkBudget({self.seconds:g} s)"

    def allows_a_run(self) -> bool:
        if self.first_failure is None or _is_final_replay():
            return True
        return time.monotonic() - self.first_failure < self.seconds

    def failed(self) -> None:
        if self.first_failure is None:
            self.first_failure = time.monotonic()


def _is_final_replay() -> bool:
    try:
        return bool(current_build_context().is_final)
    except InvalidArgument:  # not under Hypothesis
        return True


@pytest.fixture
def shrink_budget() -> ShrinkBudget:
    return ShrinkBudget(SHRINK_SECONDS)


def predicted_endings(document: dict[str, Any]) -> dict[str, str]:
    """How the drawn expectations say each file ends: exactly one of loaded once, quarantined (and
    reported), reported; asserts that they say one for every file (the model loses none)."""
    scenario = Scenario.model_validate(document)
    loaded: set[str] = set()
    quarantined: set[str] = set()
    reports: dict[str, int] = {}
    for expectation in document["expect"]:
        ((kind, spec),) = expectation.items()
        if kind == "database":
            files = spec["loaded_exactly_once"]
            loaded = set(scenario.file_ids() if files == "all" else [] if files == "none" else files)
        elif kind == "reshard":
            quarantined = set(spec["quarantined"])
        elif kind == "sns" and "file_ids" in spec.get("field_patterns", {}):
            file_id = re.fullmatch(r'"(.*)"', spec["field_patterns"]["file_ids"]).group(1).replace("\\", "")
            reports[file_id] = spec["count"]
    endings = {}
    for file_id in scenario.file_ids():
        if file_id in loaded:
            assert file_id not in quarantined, f"{file_id} is predicted both loaded and quarantined"
            endings[file_id] = "loaded once"
        elif file_id in quarantined:
            assert reports.get(file_id, 0) >= 1, f"{file_id} is predicted quarantined but not reported"
            endings[file_id] = "quarantined and reported"
        else:
            assert reports.get(file_id, 0) >= 1, f"{file_id} is predicted neither loaded nor quarantined nor reported"
            endings[file_id] = "reported"
    return endings


def run_live(document: dict[str, Any], resources: Any, budget: ShrinkBudget) -> None:
    """Run the drawn scenario on the stack; on failure write it as a scenario file and fail naming it."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    endings = predicted_endings(document)
    if not budget.allows_a_run():
        reject()
    note(f"predicted: {endings}")
    started = time.monotonic()
    result = run_scenario(Scenario.model_validate(document), resources)
    note(f"{document['name']}: {'passed' if result.passed else 'FAILED'} in {time.monotonic() - started:.1f} s "
         f"(deploy {result.deploy_seconds:.1f} s)")
    if not result.passed:
        budget.failed()
        raise failed_scenario(document, result.failure_text(), test=test)


@LIVE
@given(document=SHARDS)
@example(document=PARTIAL_COMMIT)
def test_live_each_file_is_loaded_once_or_quarantined_or_reported(
    document: dict[str, Any], harness_resources: Any, shrink_budget: ShrinkBudget
) -> None:
    run_live(document, harness_resources, shrink_budget)


@settings(LIVE, max_examples=min(EXAMPLES, int(os.environ.get("HARNESS_LIVE_REDELIVERY_EXAMPLES") or 2)))
@given(document=redelivered_dead_letters())
def test_live_a_redelivered_dead_letter_is_acted_on_once(
    document: dict[str, Any], harness_resources: Any, shrink_budget: ShrinkBudget
) -> None:
    run_live(document, harness_resources, shrink_budget)


# -- the live properties can fail ------------------------------------------------------------------------
PLANTED = {
    # A wrong statistic: JOB SUCCEEDED counts files already present as inserted.
    "worker-files-inserted-equals-files": "test_live_each_file_is_loaded_once_or_quarantined_or_reported",
    # A redelivered dead letter acted on again: children invoked twice, or a second report.
    "error-handler-acts-twice": "test_live_a_redelivered_dead_letter_is_acted_on_once",
}
# The project files a copy needs to run this module, besides what scripts/mutants.py copies.
TEST_FILES = ("conftest.py", "tests/__init__.py", "tests/integration/__init__.py", "tests/integration/conftest.py",
              "tests/integration/test_live_properties.py", "tests/support/__init__.py", "tests/support/mutants.py")
CHILD_TIMEOUT_S = 900
_REPLAY = re.compile(r"Replay it exactly: harness run (\S+\.yaml)")




def _attached(env: dict[str, str], resources: Any, failures: Path) -> dict[str, str]:
    """`env` attached to this session's LocalStack and database (no second LocalStack on a small machine),
    writing failed scenarios to `failures`, with no pytest or profile settings of this session."""
    child = {key: value for key, value in env.items()
             if not key.startswith(("PYTEST_", "HARNESS_LIVE_")) and key != "HYPOTHESIS_PROFILE"}
    child.update(HARNESS_ENDPOINT=resources.endpoint().url, DATABASE_URL=resources.database_url(),
                 HARNESS_FAILURES_DIR=str(failures), HARNESS_LIVE_SHRINK_SECONDS="10", NO_COLOR="1")
    return child


def _failed_expectations(output: str) -> list[str]:
    """What each failed expectation of the last report in `output` expected (without its deadline, which
    follows the timing of the LocalStack in use), without pytest's margins."""
    lines = [re.sub(r"^(?:E\s+|\s*\|\s?)*", "", line).strip() for line in output.splitlines()]
    reports: list[list[str]] = []
    for index, line in enumerate(lines):
        if re.search(r"\bscenario \S+ FAILED: \d+ of \d+ expectations", line):
            reports.append([])
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if re.match(r"FAILED \w+ at ", line) and following.startswith("expected: ") and reports:
            kind, expected = line.split()[1], re.sub(r" \(deadline [^)]*\)$", "", following)
            reports[-1].append(f"{kind}: {expected}")
    reports = [report for report in reports if report]  # a summary line may repeat the headline alone
    return reports[-1] if reports else []


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
                          check=False)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("HARNESS_LIVE_PLANTED") == "0", reason="HARNESS_LIVE_PLANTED=0")
@pytest.mark.parametrize("mutant_id", list(PLANTED))
def test_a_planted_bug_fails_the_live_property_and_its_file_replays(
    mutant_id: str, tmp_path: Path, harness_resources: Any
) -> None:
    script = mutants_script()
    mutant = {entry.id: entry for entry in script.load_catalog()}[mutant_id]
    copy = script.make_copy(REPO, parent=tmp_path, label=mutant_id)
    try:
        for name in TEST_FILES:
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
        mutant.apply(copy)
        misused = script.check_copy_is_used(copy, sys.executable)
        assert misused is None, misused
        failures = tmp_path / "failures"
        env = _attached(script.copy_environment(copy), harness_resources, failures)
        prop = f"tests/integration/test_live_properties.py::{PLANTED[mutant_id]}"
        status, output, seconds = _run([sys.executable, "-m", "pytest", prop, "-p", "no:cacheprovider", "-q",
                                        "-rfE"], copy, env)
        assert status == 1, f"the live property passed with {mutant_id} planted (exit {status}):\n{output[-5000:]}"
        written = _REPLAY.findall(output)
        assert written, f"the failure names no scenario file:\n{output[-5000:]}"
        path = Path(written[-1])
        assert path.is_file() and path.parent == failures.resolve(), path
        expected = _failed_expectations(output)
        assert expected, f"no failed expectation in the report:\n{output[-5000:]}"
        print(f"{mutant_id}: the live property failed in {seconds:.0f} s; wrote {path}\n{path.read_text()}")

        status, replay, seconds = _run([sys.executable, "-m", "harness.cli", "run", str(path)], copy, env)
        assert status == 1, f"the written file passed with {mutant_id} planted (exit {status}):\n{replay[-5000:]}"
        assert _failed_expectations(replay) == expected, (
            f"the replay failed otherwise: {_failed_expectations(replay)}, live: {expected}\n{replay[-5000:]}")
        print(f"replayed with the bug in {seconds:.0f} s: exit 1, failing the same way:\n  " + "\n  ".join(expected))

        plain = _attached(dict(os.environ), harness_resources, failures)
        status, unmutated, seconds = _run([sys.executable, "-m", "harness.cli", "run", str(path)], REPO, plain)
        assert status == 0, f"the written file fails without {mutant_id} (exit {status}):\n{unmutated[-5000:]}"
        print(f"replayed on the unmutated project in {seconds:.0f} s: exit 0")
    finally:
        script.remove_copy(copy)
