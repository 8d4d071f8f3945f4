"""Benchmark of `harness soak` (issue 27): the shipped month, thirty nights on one stack, start-up included.

Prints, as medians over `--runs` runs, the month's wall time (target: at most 60 s on 2 cores), the stack time
it covered, its nights per wall second, and, as the baseline measured in the same session, one night alone:
`harness run scenarios/success-path.yaml` (start-up included), with the month's ratio to it. The two commands
alternate, so that both see the same machine.

Run: .venv/bin/python bench/bench_soak.py [--runs 3]
Exits 1 when it finds nothing to measure (no night ran, or a figure came out 0).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MONTH = REPO / "examples" / "soak" / "month.yaml"
ONE_NIGHT = REPO / "scenarios" / "success-path.yaml"
TARGET_S = 60.0


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-4000:])
        raise SystemExit(f"{' '.join(command[2:5])} failed (exit {done.returncode})")
    return wall


def month() -> tuple[float, int, float]:
    """(wall seconds, nights that ran, stack seconds covered) of one soak of the month."""
    with tempfile.TemporaryDirectory() as report:
        wall = timed([sys.executable, "-m", "harness.cli", "soak", str(MONTH), "--report", report])
        outcome = json.loads((Path(report) / "month.json").read_text())
    nights = outcome["nights"]
    ran = sum(1 for night in nights if night["ran"])
    covered = (len(nights) + 1) * 86_400.0  # every night, and the day after the last
    return wall, ran, covered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    soaks: list[float] = []
    singles: list[float] = []
    ran, covered = 0, 0.0
    for run in range(1, args.runs + 1):
        single = timed([sys.executable, "-m", "harness.cli", "run", str(ONE_NIGHT)])
        wall, ran, covered = month()
        singles.append(single)
        soaks.append(wall)
        print(f"  run {run}: month {wall:.1f} s ({ran} nights ran), one night alone {single:.1f} s", flush=True)
    if not soaks or min(soaks) <= 0 or ran == 0 or min(singles) <= 0:
        raise SystemExit("bench_soak: nothing measured (no night ran, or a time of 0)")
    soak, single = statistics.median(soaks), statistics.median(singles)
    print(f"\nmedians over {args.runs} runs (start-up included):")
    print(f"  harness soak {MONTH.relative_to(REPO)}   {soak:6.1f} s  <= {TARGET_S:.0f} s   "
          f"{soak / single:.1f}x one night alone ({single:.1f} s, {ONE_NIGHT.name})")
    print(f"  stack time covered                  {covered / 86_400:.0f} days: {covered / soak:,.0f} s of AWS time "
          f"per wall second; {ran / soak:.2f} nights run per wall second")


if __name__ == "__main__":
    main()
