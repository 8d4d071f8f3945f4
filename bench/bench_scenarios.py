"""Benchmark of the shipped scenario suite on the stack clock (issue 24).

Prints, as medians over `--runs` runs:
- the suite's wall time as `make run` runs it (`harness run scenarios/`, start-up included; target 25 s on 2
  cores) and under `pytest scenarios -n 2` (target 30 s);
- per scenario, from a `harness run scenarios/ -j 1` (one at a time, so that the CPU of the process tree is
  the scenario's own): its wall time, the stack time it covered (what AWS would have taken), and its CPU time
  (this process, LocalStack, the runtimes and PostgreSQL); target: wall at most CPU + 1 s, that is, no
  waiting left but for real work.

With `--baseline DIR` (a checkout of another revision, e.g. `git worktree add /tmp/base <rev>`), the suite's
runs alternate between this tree and that one in the same session, and the medians are also printed as a
ratio against the baseline's.

Run: .venv/bin/python bench/bench_scenarios.py [--runs 3] [--baseline DIR]
Exits 1 when it finds nothing to measure (no scenario ran, or a figure came out 0).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAKE_RUN_TARGET_S = 25.0
PYTEST_TARGET_S = 30.0


def _timed(command: list[str], tree: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:])
        raise SystemExit(f"{' '.join(command[:4])} failed (exit {done.returncode}) in {tree}")
    return wall, done


def suite_run(tree: Path) -> float:
    """One `harness run scenarios/` (what `make run` does), start-up included."""
    wall, _ = _timed([sys.executable, "-m", "harness.cli", "run", "scenarios"], tree)
    return wall


def pytest_run(tree: Path) -> float:
    wall, _ = _timed([sys.executable, "-m", "pytest", "scenarios", "-n", "2", "-q", "-p", "no:cacheprovider"], tree)
    return wall


def per_scenario(tree: Path) -> dict[str, tuple[float, float, float]]:
    """(wall, stack, CPU) seconds of each scenario, one at a time (`-j 1`)."""
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        _timed([sys.executable, "-m", "harness.cli", "run", "scenarios", "-j", "1", "--junit-xml", str(junit)], tree)
        figures = {}
        for case in ET.parse(junit).iter("testcase"):
            props = {p.get("name"): float(p.get("value") or 0) for p in case.iter("property")
                     if p.get("name") != "report"}
            figures[str(case.get("name"))] = (float(case.get("time") or 0), props["stack_seconds"],
                                              props["cpu_seconds"])
    return figures


def _median(values: list[float]) -> float:
    found = statistics.median(values)
    if found <= 0:
        raise SystemExit("a figure came out 0: nothing was measured")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", type=Path, default=None, help="a checkout of the revision to compare with")
    args = parser.parse_args()
    trees = [REPO] + ([args.baseline.resolve()] if args.baseline else [])
    suite: dict[Path, list[float]] = {tree: [] for tree in trees}
    under_pytest: dict[Path, list[float]] = {tree: [] for tree in trees}
    scenarios: list[dict[str, tuple[float, float, float]]] = []
    for run in range(1, args.runs + 1):
        for tree in trees:  # alternating, so that a busier moment of the machine falls on both
            suite[tree].append(suite_run(tree))
            under_pytest[tree].append(pytest_run(tree))
            print(f"  run {run} {'' if tree == REPO else '(baseline) '}harness run {suite[tree][-1]:.1f} s, "
                  f"pytest -n 2 {under_pytest[tree][-1]:.1f} s", flush=True)
        scenarios.append(per_scenario(REPO))
    if not scenarios or not scenarios[0]:
        raise SystemExit("no scenario ran: nothing to measure")
    made, tested = _median(suite[REPO]), _median(under_pytest[REPO])
    print(f"\nmedians over {args.runs} runs:")
    print(f"  harness run scenarios/ (make run): {made:.1f} s (target <= {MAKE_RUN_TARGET_S:g} s)")
    print(f"  pytest scenarios -n 2:            {tested:.1f} s (target <= {PYTEST_TARGET_S:g} s)")
    if args.baseline:
        before, before_pytest = _median(suite[args.baseline.resolve()]), _median(under_pytest[args.baseline.resolve()])
        print(f"  baseline {args.baseline}: harness run {before:.1f} s (ratio {made / before:.2f}), "
              f"pytest {before_pytest:.1f} s (ratio {tested / before_pytest:.2f})")
    print("\n  per scenario, -j 1 (wall: its whole run, deploy and teardown included; stack: the stack time it"
          " covered; CPU: of the process tree)")
    print(f"  {'scenario':<46} {'wall':>6} {'stack':>12} {'CPU':>6}  wall <= CPU + 1 s")
    within = 0
    names = sorted(scenarios[0])
    for name in names:
        wall, stack, cpu = (_median([run[name][i] for run in scenarios if name in run]) if i != 1 else
                            statistics.median([run[name][1] for run in scenarios if name in run]) for i in range(3))
        ok = wall <= cpu + 1.0
        within += ok
        print(f"  {name:<46} {wall:5.1f}s {stack:11.1f}s {cpu:5.1f}s  {'yes' if ok else 'NO'}")
    totals = [sum(run[name][i] for name in names if name in run) for run in scenarios for i in (0, 2)]
    print(f"  {within} of {len(names)} scenarios within CPU + 1 s; -j 1 totals (wall, CPU) per run: "
          + ", ".join(f"{totals[k]:.1f}/{totals[k + 1]:.1f}" for k in range(0, len(totals), 2)))


if __name__ == "__main__":
    main()
