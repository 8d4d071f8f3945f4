"""`harness run -j N` starts the scenario with the most real work first and still prints in the list's order."""

from __future__ import annotations

import threading
from typing import Any

from harness.cli.run import _longest_first, _run_in_threads, _Running, real_work
from harness.model.platform import MODEL
from harness.scenario import load_scenarios

from .support import REPO_ROOT


def test_the_most_work_starts_first_and_every_scenario_once() -> None:
    scenarios = load_scenarios([REPO_ROOT / "scenarios", REPO_ROOT / "examples" / "order-handler" / "scenarios"])
    order = _longest_first(scenarios, MODEL)
    assert sorted(order) == list(range(len(scenarios)))
    work = [real_work(scenarios[index], MODEL) for index in order]
    assert work == sorted(work, reverse=True)
    # The re-shard down to the poison file makes the most attempts (rounds of three), not the day-long alarms.
    assert scenarios[order[0]].name in {"poison-file-quarantined", "worker-timeout-reshards"}
    assert real_work(next(s for s in scenarios if s.name == "job-not-run"), MODEL) == 0
    # Equal amounts keep the list's order.
    for earlier, later in zip(order, order[1:], strict=False):
        if real_work(scenarios[earlier], MODEL) == real_work(scenarios[later], MODEL):
            assert earlier < later


def test_scenarios_start_in_the_given_order_and_are_printed_in_the_lists() -> None:
    scenarios = load_scenarios([REPO_ROOT / "scenarios"])[:5]
    order = [3, 1, 4, 0, 2]
    started: list[int] = []
    lock = threading.Lock()

    def run_one(index: int, scenario: object, progress: object) -> str:
        with lock:
            started.append(index)
        return f"result {index}"

    slots: list[object] = [None] * len(scenarios)
    _run_in_threads(scenarios, order, 1, run_one, _Running(len(scenarios)), slots,  # type: ignore[arg-type]
                    lambda: None, lambda text: None)
    assert started == order
    assert slots == [f"result {index}" for index in range(len(scenarios))]


def test_with_x_nothing_starts_after_a_failure_and_a_running_scenario_stops_at_its_next_step() -> None:
    from types import SimpleNamespace

    scenarios = load_scenarios([REPO_ROOT / "scenarios"])[:5]
    started: list[int] = []
    failed = threading.Event()

    def run_one(index: int, scenario: object, progress: Any) -> object:
        started.append(index)
        if index == 0:  # a long one: it is at a step when the other fails
            failed.wait(10)
            progress("checking expectations")
        if index == 1:
            failed.set()
        return SimpleNamespace(passed=index != 1, index=index)

    slots: list[Any] = [None] * len(scenarios)
    _run_in_threads(scenarios, [0, 1, 2, 3, 4], 2, run_one, _Running(len(scenarios), exitfirst=True), slots,
                    lambda: None, lambda text: None)
    assert sorted(started) == [0, 1], started  # none started after the failure
    assert slots[0] is None and slots[1].passed is False and slots[2:] == [None, None, None]
