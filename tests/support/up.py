"""`harness up` in a process of its own, as a person runs it: no HARNESS_ENDPOINT or DATABASE_URL of this
session, its run directory under the test's tmp_path, and killed if the test leaves it running."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def harness_up(tmp_path: Path, *arguments: str) -> Iterator[tuple[subprocess.Popen, dict[str, str]]]:
    """The `harness up` process (text stdout/stderr pipes) and the environment it was given."""
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_ENDPOINT", "DATABASE_URL")}
    env["HARNESS_RUN_DIR"] = str(tmp_path / "runs")
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "up", *arguments], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc, env
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def read_lines_until_ready(proc: subprocess.Popen, last: str) -> dict[str, str]:
    """The NAME=value lines `harness up` prints, up to and including `last`."""
    lines: dict[str, str] = {}
    for line in proc.stdout:
        name, _, value = line.strip().partition("=")
        lines[name] = value
        if name == last:
            return lines
    raise AssertionError(f"harness up ended before printing {last}: {proc.stderr.read()[-2000:]}")
