"""`harness soak` on the real stack: the shipped month holds every invariant and draws its on-call page; with a
catalog bug planted, a night breaks an invariant, is named, and its replay file fails under `harness run`.

Both run `harness soak` as a person does, in a child process attached to this session's LocalStack and
PostgreSQL (no second LocalStack on a small machine).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.chromium import find_chromium, screenshot
from tests.support.mutants import mutants_script
from tests.support.png import decode_png

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
MONTH = REPO / "examples" / "soak" / "month.yaml"
CHILD_TIMEOUT_S = 600
_REPLAY = re.compile(r"broke an invariant.*replay: harness run (\S+\.yaml)")
_SILENT_REPLAY = re.compile(r"JOB NOT RUN stayed silent.*replay: harness run (\S+\.yaml)")
# A soak small enough for a planted bug: night 2 dead-letters a poisoned shard and the error handler fails
# after its decision, so Lambda redelivers the dead letter.
REDELIVERY = """\
name: redelivery
description: Three nights; on the second the error handler fails after its work and its dead letter comes again.
nights: 3
seed: 1
job: {files: 6, shard_size: 3}
faults:
  error_handler_fails: {nights: [2]}
stack:
  alarms:
    job_not_run: {period_seconds: 43200}
"""


# The design's 1-day JOB NOT RUN, and night 2 skipped: CloudWatch's evaluation range still holds night 1's run.
SILENT = """\
name: silent
description: Three nights with the design's 1-day JOB NOT RUN; the second is skipped.
nights: 3
seed: 1
schedule: {skip: [2]}
job: {files: 4, shard_size: 4}
"""


def attached(env: dict[str, str], resources: Any) -> dict[str, str]:
    child = {key: value for key, value in env.items() if not key.startswith("PYTEST_")}
    child.update(HARNESS_ENDPOINT=resources.endpoint().url, DATABASE_URL=resources.database_url(), NO_COLOR="1",
                 COLUMNS="200")
    return child


def run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, float]:
    started = time.monotonic()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
                          check=False)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def test_the_month_holds_every_invariant_and_draws_its_on_call_page(harness_resources: Any, tmp_path: Path) -> None:
    report = tmp_path / "report"
    status, output, seconds = run([sys.executable, "-m", "harness.cli", "soak", str(MONTH), "--report", str(report)],
                                  REPO, attached(dict(os.environ), harness_resources))
    assert status == 0, output[-6000:]
    print(f"harness soak {MONTH.name}: {seconds:.1f} s of wall time\n{output[-3000:]}")
    outcome = json.loads((report / "month.json").read_text())
    nights = outcome["nights"]
    assert [night["night"] for night in nights if not night["ran"]] == [9, 10]
    assert all(check["held"] for check in outcome["invariants"]), outcome["invariants"]
    ran = [night for night in nights if night["ran"]]
    # No file lost: each night's files are loaded or quarantined, or (a bad deploy's, a database outage's)
    # reported, which the night's own checks count.
    for night in ran:
        if not {"bad_table_name", "database_down"} & set(night["faults"]):
            assert night["loaded"] + len(night["quarantined"]) == night["files"], night
    # A person hears of the skipped nights once, on the first of them, and of every quarantine.
    not_run = [item for night in nights for item in night["received"] if item["kind"] == "job_not_run_alarm"]
    assert [(item["true_alarm"]) for item in not_run] == [True]
    quarantines = sum(len(night["quarantined"]) for night in ran)
    assert outcome["totals"]["job_failed"]["true"] >= quarantines > 0
    assert outcome["totals"]["job_failed"].get("false", 0) == 0
    # The design's false alarm: JOB FAILED (the alarm) on idle periods, missing data treated as breaching.
    assert outcome["totals"]["job_failed_alarm"]["false"] >= len(ran) - 5
    page = report / "month.html"
    assert_browser_draws_the_calendar(page, tmp_path)


def assert_browser_draws_the_calendar(page: Path, tmp_path: Path) -> None:
    """Chromium draws the page: a calendar of the nights with the skipped ones greyed and the alarms in their
    colours (true alarms red, false alarms purple)."""
    binary, missing = find_chromium()
    if binary is None:
        pytest.skip(f"no headless Chromium to draw the page: {missing}")
    image = decode_png(screenshot(binary, page, tmp_path / "soak.png", 1300, 1600).read_bytes())
    colours = image.colours()
    skipped = colours.get((0xF3, 0xF3, 0xF3), 0)
    true_red = sum(count for colour, count in colours.items() if _near(colour, (0xB7, 0x1C, 0x1C), 40))
    false_purple = sum(count for colour, count in colours.items() if _near(colour, (0x6A, 0x1B, 0x9A), 40))
    assert skipped > 2 * 150 * 80, f"{skipped} pixels of skipped nights: the calendar was not drawn"
    assert true_red > 100 and false_purple > 100, (true_red, false_purple)


def _near(colour: tuple[int, int, int], target: tuple[int, int, int], tolerance: int) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, target, strict=True))


def test_a_planted_bug_breaks_a_night_which_is_named_and_whose_replay_fails(
        harness_resources: Any, tmp_path: Path) -> None:
    script = mutants_script()
    mutant = {entry.id: entry for entry in script.load_catalog()}["error-handler-acts-twice"]
    copy = script.make_copy(REPO, parent=tmp_path, label=mutant.id)
    soak_file = tmp_path / "redelivery.yaml"
    soak_file.write_text(REDELIVERY, encoding="utf-8")
    try:
        mutant.apply(copy)
        assert script.check_copy_is_used(copy, sys.executable) is None
        env = attached(script.copy_environment(copy), harness_resources)
        status, output, seconds = run([sys.executable, "-m", "harness.cli", "soak", str(soak_file), "--report",
                                       str(tmp_path / "report"), "--replays", str(tmp_path / "replays")], copy, env)
        assert status == 1, f"the soak held with {mutant.id} planted:\n{output[-6000:]}"
        assert "night 2 (" in output and "broke an invariant" in output, output[-6000:]
        [replay] = _REPLAY.findall(output)
        print(f"{mutant.id}: the soak broke night 2 in {seconds:.0f} s; wrote {replay}")
        status, replayed, _ = run([sys.executable, "-m", "harness.cli", "run", replay], copy, env)
        assert status == 1, f"the replay passed with {mutant.id} planted:\n{replayed[-5000:]}"
        status, plain, _ = run([sys.executable, "-m", "harness.cli", "run", replay], REPO,
                               attached(dict(os.environ), harness_resources))
        assert status == 0, f"the replay fails without {mutant.id}:\n{plain[-5000:]}"
    finally:
        script.remove_copy(copy)


def test_a_skipped_night_that_pages_no_one_is_named_and_its_replay_fails(
        harness_resources: Any, tmp_path: Path) -> None:
    soak_file = tmp_path / "silent.yaml"
    soak_file.write_text(SILENT, encoding="utf-8")
    env = attached(dict(os.environ), harness_resources)
    status, output, _ = run([sys.executable, "-m", "harness.cli", "soak", str(soak_file), "--report",
                             str(tmp_path / "report"), "--replays", str(tmp_path / "replays")], REPO, env)
    assert status == 1, output[-6000:]
    assert "BROKEN JOB NOT RUN exactly on skipped nights" in output and "skipped night(s) 2" in output
    [replay] = _SILENT_REPLAY.findall(output)
    status, replayed, _ = run([sys.executable, "-m", "harness.cli", "run", replay], REPO, env)
    assert status == 1, f"the replay of a silent night passed:\n{replayed[-5000:]}"
    assert "later than 2 days" in replayed, replayed[-5000:]
