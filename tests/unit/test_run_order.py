"""`harness run -j N` starts the longest job first and still prints in the list's order."""

from __future__ import annotations

import threading
from dataclasses import replace

from harness.cli.run import _longest_first, _run_in_threads, _Running
from harness.expect import job_floor_seconds
from harness.model.platform import embedded
from harness.scenario import load_scenarios

from .support import REPO_ROOT

PLATFORM = replace(embedded(1.0), source="unit tests")


def test_the_longest_job_starts_first_and_every_scenario_once() -> None:
    scenarios = load_scenarios([REPO_ROOT / "scenarios"])
    order = _longest_first(scenarios, PLATFORM)
    assert sorted(order) == list(range(len(scenarios)))
    lengths = [job_floor_seconds(scenarios[index], PLATFORM) for index in order]
    assert lengths == sorted(lengths, reverse=True)
    assert scenarios[order[0]].name == "poison-file-quarantined"  # 3 rounds of 3 timed-out attempts
    # Equal lengths keep the list's order.
    for earlier, later in zip(order, order[1:], strict=False):
        if job_floor_seconds(scenarios[earlier], PLATFORM) == job_floor_seconds(scenarios[later], PLATFORM):
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
