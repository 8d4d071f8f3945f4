"""The images' entrypoint, harness-watchdog (harness/docker/scripts.py), run here with /bin/sh as a container
runs it: it passes signals on, returns its command's status, and stops its command when its stdin ends, which
is how a container outlives no `harness up --docker`, even one killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.docker.scripts import POSTGRES, WATCHDOG

# A command that says which signal stopped it (and exits with its number), once its handlers are set. It
# sets them itself, as PostgreSQL and `harness up` do: a shell's background job starts with SIGINT ignored.
REPORTER = [sys.executable, "-c", (
    "import signal, sys, time\n"
    "def stop(number, _frame):\n"
    "    print('got', signal.Signals(number).name, flush=True)\n"
    "    sys.exit(number)\n"
    "signal.signal(signal.SIGTERM, stop)\n"
    "signal.signal(signal.SIGINT, stop)\n"
    "print('started', flush=True)\n"
    "while True:\n"
    "    time.sleep(1)\n")]


@pytest.fixture
def watchdog(tmp_path: Path) -> Path:
    path = tmp_path / "harness-watchdog"
    path.write_text(WATCHDOG)
    return path


def start(watchdog: Path, **env: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(["sh", str(watchdog), *REPORTER], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **env}, start_new_session=True)
    assert process.stdout is not None and process.stdout.readline() == "started\n"
    return process


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    assert process.stdout is not None and process.stderr is not None
    try:
        code = process.wait(10)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return code, process.stdout.read(), process.stderr.read()


def test_the_end_of_stdin_stops_the_command_when_watched(watchdog: Path) -> None:
    process = start(watchdog, HARNESS_WATCH_STDIN="1")
    assert process.stdin is not None
    process.stdin.close()  # what the engine does when the attached client goes
    code, out, err = finish(process)
    assert (code, out) == (signal.SIGTERM, "got SIGTERM\n")
    assert "stdin closed" in err


def test_unwatched_the_end_of_stdin_changes_nothing(watchdog: Path) -> None:
    process = start(watchdog)  # as under docker-compose, whose stdin is closed from the start
    assert process.stdin is not None
    process.stdin.close()
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(0.3)  # still running: the end of its stdin said nothing
    process.send_signal(signal.SIGTERM)
    assert finish(process)[:2] == (signal.SIGTERM, "got SIGTERM\n")


def test_signals_are_passed_on_as_the_stop_signal(watchdog: Path) -> None:
    process = start(watchdog, HARNESS_STOP_SIGNAL="INT")  # PostgreSQL's fast shutdown
    process.send_signal(signal.SIGTERM)  # what `docker stop` sends
    assert finish(process)[:2] == (signal.SIGINT, "got SIGINT\n")


def test_the_command_status_is_the_watchdog_status(watchdog: Path) -> None:
    done = subprocess.run(["sh", str(watchdog), "sh", "-c", "exit 7"], capture_output=True, timeout=10,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 7


def test_the_postgres_script_is_valid_shell(tmp_path: Path) -> None:
    (tmp_path / "harness-postgres").write_text(POSTGRES)
    assert subprocess.run(["sh", "-n", str(tmp_path / "harness-postgres")], check=False).returncode == 0
