"""Screenshots of a local HTML page with a headless Chromium, run as a plain subprocess (no browser driver).

Used by tests/unit/test_report_screenshot.py and scripts/report_screenshot.py (which refreshes
docs/report-screenshot.png). The binary is `$HARNESS_CHROMIUM` when set, else the first of NAMES on PATH;
on Debian: `apt-get install chromium`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "install one with `apt-get install chromium` (Debian) or point HARNESS_CHROMIUM at a Chromium binary"
# Headless, and nothing that reaches for the network, a GPU or a session bus: without the background
# networking and component update switches it stalls on a closed network. --no-sandbox because CI runs as root.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
    "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1",
)
TIMEOUT = 60.0


class ChromiumError(RuntimeError):
    """Chromium did not write the screenshot: it failed, or ran out of time and was killed."""


def find_chromium() -> tuple[str | None, str]:
    """(the binary, "") or (None, why there is none): $HARNESS_CHROMIUM if set, else NAMES on PATH."""
    chosen = os.environ.get("HARNESS_CHROMIUM")
    if chosen:
        found = shutil.which(chosen)
        return (found, "") if found else (None, f"HARNESS_CHROMIUM={chosen} is not an executable; {INSTALL_HINT}")
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found, ""
    return None, f"no Chromium binary ({', '.join(NAMES)}) on PATH; {INSTALL_HINT}"


def screenshot(binary: str, page: Path, png: Path, width: int, height: int, timeout: float = TIMEOUT) -> Path:
    """Write a `width`x`height` PNG of the top of `page` (a local HTML file) to `png`.

    Chromium runs with a fresh profile in its own process group; on timeout (or any interruption) the whole
    group, renderers and helpers included, is killed by its id before this returns or raises.
    """
    png.unlink(missing_ok=True)
    # Output to a file, not a pipe: a helper that outlived the browser could hold a pipe open forever.
    with tempfile.TemporaryDirectory(prefix="harness-chromium-") as profile, tempfile.TemporaryFile() as log:
        command = [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
                   f"--screenshot={png}", page.resolve().as_uri()]
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as timed_out:
            _kill_group(process)
            raise ChromiumError(f"{binary} wrote no screenshot of {page} within {timeout:g} s; killed") from timed_out
        except BaseException:
            _kill_group(process)
            raise
        # Whatever it left behind in its group (a crash handler, say) goes with it.
        _kill_group(process)
        log.seek(0)
        output = log.read().decode(errors="replace")
    if process.returncode != 0 or not png.is_file():
        lines = [line for line in output.strip().splitlines() if "dbus" not in line]  # no session bus: noise
        tail = " | ".join(lines[-5:])
        raise ChromiumError(f"{binary} exited with {process.returncode} and no screenshot of {page}: {tail}")
    return png


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the process group Chromium leads (start_new_session: its id is the leader's pid), then reap."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone already
    process.wait()
