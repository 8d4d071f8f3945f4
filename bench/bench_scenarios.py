"""Benchmark of the shipped scenario suite under `pytest -n auto`, and as `make run` runs it (`harness run`).

Prints the suite's wall time (median over runs) against its targets (issue 8: `pytest scenarios -n 2`
40 s, `make run` 25 s), and for each scenario its
median time next to its floor: the time its own configured delays, timeouts and alarm periods make
unavoidable (harness.expect.floor_seconds). Targets: each scenario <= 1.25 x floor + 2 s with its deploy, and
(issue 8) its verdicts within floor + 1 s of the job's start, the floor being counted from there.

With `--baseline DIR` (a checkout of another revision, e.g. `git worktree add /tmp/base <rev>`), the runs
alternate between this tree and that one, in the same session, and the suite's medians are also printed
as a ratio against the baseline's.

Run: .venv/bin/python bench/bench_scenarios.py [--runs 3] [--baseline DIR]
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
sys.path.insert(0, str(REPO))

from harness.expect import floor_seconds  # noqa: E402
from harness.model.platform import embedded  # noqa: E402
from harness.scenario import load_scenarios  # noqa: E402
from harness.services.embedded import default_retry_base_delay  # noqa: E402


def one_run(run: int, tree: Path = REPO) -> tuple[float, dict[str, float]]:
    """One run of the suite of `tree`, with that tree's harness (PYTHONPATH) and its scenarios."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "scenarios", "-n", "auto", "-q", "-p", "no:cacheprovider",
             f"--junit-xml={report}"], cwd=tree, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if result.returncode != 0:
            print(result.stdout[-4000:], result.stderr[-2000:])
            raise SystemExit(f"run {run}: the suite failed (exit {result.returncode})")
        times = {}
        for case in ET.parse(report).iter("testcase"):
            props = {p.get("name"): float(p.get("value")) for p in case.iter("property")}
            times[case.get("name")] = (float(case.get("time")), props.get("deploy_seconds", 0.0),
                                       props.get("verdict_seconds", 0.0))
    print(f"  run {run}{'' if tree == REPO else ' (baseline)'}: suite {wall:.1f} s", flush=True)
    return wall, times


def one_harness_run(run: int, tree: Path = REPO) -> float:
    """One `harness run scenarios/` of `tree` (what `make run` does there), wall time included start-up."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", "scenarios"], cwd=tree, env=env,
                            capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stdout[-4000:], result.stderr[-4000:])
        raise SystemExit(f"run {run}: harness run failed (exit {result.returncode})")
    print(f"  run {run}{'' if tree == REPO else ' (baseline)'}: harness run {wall:.1f} s", flush=True)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", type=Path, default=None, help="a checkout of the revision to compare with")
    parser.add_argument("--no-harness-run", action="store_true", help="time only the pytest suite")
    args = parser.parse_args()
    runs, baseline, harness_runs, harness_baseline = [], [], [], []
    for i in range(args.runs):
        runs.append(one_run(i + 1))
        if args.baseline is not None:
            baseline.append(one_run(i + 1, args.baseline.resolve()))
        if not args.no_harness_run:
            harness_runs.append(one_harness_run(i + 1))
            if args.baseline is not None:
                harness_baseline.append(one_harness_run(i + 1, args.baseline.resolve()))
    scenarios = {s.name: s for s in load_scenarios([REPO / "scenarios"])}
    platform = embedded(default_retry_base_delay())
    suite = statistics.median(w for w, _ in runs)
    print(f"\nmedians over {args.runs} runs of `pytest scenarios -n auto` ({platform.describe()}):")
    print(f"  whole suite: {suite:.1f} s (target <= 40 s on 2 cores)")
    if baseline:
        before = statistics.median(w for w, _ in baseline)
        print(f"  baseline {args.baseline}: {before:.1f} s; this tree / baseline = {suite / before:.2f}")
    if harness_runs:
        made = statistics.median(harness_runs)
        print(f"`harness run scenarios/` (make run): {made:.1f} s (target <= 25 s); runs: "
              + ", ".join(f"{w:.1f}" for w in harness_runs))
        if harness_baseline:
            before = statistics.median(harness_baseline)
            print(f"  baseline: {before:.1f} s; this tree / baseline = {made / before:.2f}; runs: "
                  + ", ".join(f"{w:.1f}" for w in harness_baseline))
    print("  per scenario: item = pytest item incl. session start-up for a worker's first item and teardown;")
    print("  deploy + verdict = stack deploy, then job start to the last expectation's verdict")
    print(f"  {'scenario':<30} {'item':>6} {'deploy':>7} {'verdict':>8} {'floor':>6} {'budget':>7}  within"
          "  verdict <= floor + 1 s")
    within = within_issue = 0
    for name in sorted(scenarios):
        item, deploy, verdict = (statistics.median(t[name][i] for _, t in runs) for i in range(3))
        floor = floor_seconds(scenarios[name], platform)
        budget = 1.25 * floor + 2
        ok = deploy + verdict <= budget
        ok_issue = verdict <= floor + 1
        within += ok
        within_issue += ok_issue
        print(f"  {name:<30} {item:5.1f}s {deploy:6.1f}s {verdict:7.1f}s {floor:5.1f}s {budget:6.1f}s  "
              f"{'yes' if ok else 'NO':<6}  {'yes' if ok_issue else 'NO'}")
    print(f"  {within} of {len(scenarios)} scenarios within 1.25 x floor + 2 s (deploy included)")
    print(f"  {within_issue} of {len(scenarios)} scenarios' verdicts within floor + 1 s of the job's start")


if __name__ == "__main__":
    main()
