"""The fault plan: the one place faults are matched to attempts and the seeded draw is made."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from harness.faults import plan
from harness.format.faults import Fault, fault_plan

ROOT = Path(__file__).resolve().parents[2]


def entry(**fields: object) -> dict[str, object]:
    return {"kind": "exception", **fields}


def test_the_first_matching_entry_wins() -> None:
    entries = [entry(attempts=[2]), entry(files=["f-0002"]), entry()]
    assert plan.pick(entries, 1, 1, "0000", ["f-0001"]) == 2
    assert plan.pick(entries, 1, 1, "0000", ["f-0001", "f-0002"]) == 1
    assert plan.pick(entries, 2, 1, "0000", ["f-0002"]) == 0
    assert plan.pick([entry(runs=[2])], 1, 1, "0000", ["f-0001"]) is None


def test_a_broken_deployment_of_the_run_wins_over_every_other_entry() -> None:
    # It fails the runtime's init, before any attempt is handed to the code (the wrapper's `_init_fault`), so
    # an entry listed before it never strikes in its runs; the walk picks as the wrapper does.
    faults = TypeAdapter(list[Fault]).validate_python([
        {"function": "worker", "kind": "timeout", "attempts": [1]},
        {"function": "worker", "kind": "import_error", "runs": [2]},
    ])
    entries = fault_plan(faults, "worker")
    assert [e.get("at_init") for e in entries] == [None, True]
    assert plan.init_fault(entries, 1) is None and plan.init_fault(entries, 2) == 1
    assert plan.pick(entries, 1, 1, "0000", ["f-0001"]) == 0
    assert plan.pick(entries, 1, 2, "0000", ["f-0001"]) == 1


def test_min_shard_size_filters_small_shards() -> None:
    big = entry(min_shard_size=3)
    assert plan.matches(big, 1, 1, "0000", ["a", "b", "c"])
    assert not plan.matches(big, 1, 1, "0000", ["a", "b"])


def test_the_draw_is_seeded_by_shard_files_and_attempt_only() -> None:
    first = plan.draw(7, "0000", ["f-0001"], 1)
    assert plan.draw(7, "0000", ["f-0001"], 1) == first
    assert {plan.draw(7, "0000", ["f-0001"], 2), plan.draw(8, "0000", ["f-0001"], 1)} != {first}
    chance = entry(probability=0.5, seed=7)
    fires = [plan.matches(chance, 1, 1, f"{i:04d}", ["f"]) for i in range(200)]
    assert 60 < sum(fires) < 140  # about half of the shards
    assert all(plan.matches(chance, 1, 1, f"{i:04d}", ["f"], every_draw_fires=True) for i in range(200))


@pytest.mark.parametrize(
    ("fault", "committed"),
    [
        (None, ["a", "b", "c"]),
        ({"kind": "fail_after_commit"}, ["a", "b", "c"]),
        ({"kind": "timeout", "files": ["b"]}, ["a"]),
        ({"kind": "timeout"}, []),  # untargeted: strikes at the first file
        ({"kind": "latency", "seconds": 5, "files": ["c"]}, ["a", "b"]),
        ({"kind": "bad_table", "files": ["c"]}, []),  # a misconfiguration fails the first insert
        ({"kind": "import_error"}, []),  # before the handler
    ],
)
def test_files_committed_before_the_fault_strikes(fault: dict | None, committed: list[str]) -> None:
    # The entry as the fault table builds it for the worker (`fault_plan`), not written by hand.
    entry = None if fault is None else fault_plan([TypeAdapter(Fault).validate_python(
        {"function": "worker", **fault})], "worker")[0]
    assert plan.files_committed(entry, ["a", "b", "c"]) == committed


def test_the_plan_module_needs_nothing_but_the_standard_library() -> None:
    # It ships alone into every wrapped zip, next to the wrapper, as harness_fault_plan.py.
    tree = ast.parse((ROOT / "harness" / "faults" / "plan.py").read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}


    assert imported <= set(sys.stdlib_module_names) | {"__future__"}


def test_no_other_module_draws_or_matches() -> None:
    # One place: a second seeded draw or a second matcher would drift from the wrapper's.
    offenders = []
    for path in [*ROOT.glob("harness/**/*.py"), *ROOT.glob("tests/support/*.py")]:
        if path.name == "plan.py":
            continue
        text = path.read_text(encoding="utf-8")
        if "random.Random(" in text or 'fault["attempts"]' in text or "fault.get(\"probability\")" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
