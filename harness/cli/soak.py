"""`harness soak FILE`: many nights of the pipeline on one stack, with the on-call view."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


def add_soak(sub: Any) -> None:
    soak = sub.add_parser("soak", help="run a soak file: many nights on one stack, and what a person received")
    soak.add_argument("path", help="a soak file (see examples/soak/month.yaml)")
    soak.add_argument("--report", dest="report_dir", default="soak-report", metavar="DIR",
                      help="write <name>.html (the on-call page) and <name>.json to DIR (default: soak-report)")
    soak.add_argument("--replays", dest="replay_dir", default=None, metavar="DIR",
                      help="where a night that breaks an invariant is written as a scenario file (default: "
                           ".harness/failures in a checkout)")
    soak.add_argument("--plan", action="store_true", help="print the nights and their faults, and run nothing")
    soak.add_argument("--endpoint", default=None, help="use this LocalStack instead of an embedded one")
    soak.set_defaults(func=cmd_soak)


def cmd_soak(args: argparse.Namespace) -> int:
    import time

    from rich.console import Console

    from harness.scenario import ScenarioError
    from harness.soak.document import load_soak
    from harness.soak.nights import plan_nights

    console = Console(width=160)
    try:
        soak = load_soak(args.path)
    except ScenarioError as error:
        print(str(error), file=sys.stderr)
        return 2
    if args.plan:
        for night in plan_nights(soak, time.time()):
            what = f"{len(night.file_ids)} files, {', '.join(night.kinds) or 'no fault'}" if night.runs else "skipped"
            console.print(f"{night.label}: {what}")
        return 0
    return _run(soak, args, console)


def _run(soak: Any, args: argparse.Namespace, console: Console) -> int:
    from harness.soak.oncall import as_json, invariants, received, silent_night_replays
    from harness.soak.report import night_table, totals_table, write_page
    from harness.soak.run import run_soak
    from harness.stack.resources import Resources

    def progress(step: str) -> None:
        console.print(f"[dim]{soak.name}: {step}[/dim]", highlight=False)

    resources = Resources(endpoint_url=args.endpoint, quiet=False)
    try:
        run = run_soak(soak, resources, progress, Path(args.replay_dir) if args.replay_dir else None)
    finally:
        resources.close()
    if run.error is not None and not run.nights:
        print(f"harness soak: {run.error}", file=sys.stderr)
        return 2
    messages = received(run, run.alarm_names)
    checks = invariants(run, messages)
    silent_night_replays(run, messages, Path(args.replay_dir) if args.replay_dir else None)
    outcome = as_json(run, messages, checks)
    console.print(night_table(outcome))
    console.print(totals_table(outcome))
    for check in checks:
        mark = "[green]held[/green]" if check.held else "[red]BROKEN[/red]"
        console.print(f"{mark} {check.name}" + (f": {check.detail}" if check.detail else ""))
    for night in run.nights:
        if night.replay is not None:
            what = "broke an invariant" if night.night.runs else "was skipped, and JOB NOT RUN stayed silent"
            console.print(f"[red]{night.night.label} {what}[/red]; replay: harness run {night.replay}", soft_wrap=True)
    page = write_page(outcome, Path(args.report_dir))
    console.print(f"on-call page: {page}  (JSON: {page.with_suffix('.json')}); {run.wall_seconds:.1f} s of wall "
                  f"time, deploy {run.deploy_seconds:.1f} s", soft_wrap=True)
    if run.error:
        print(f"harness soak: {run.error}", file=sys.stderr)
    return 0 if all(check.held for check in checks) and run.error is None else 1
