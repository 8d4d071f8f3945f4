"""Finding a runtime's interpreter (`harness.runtimes`): asked once per interpreter file, not at
every cold start; the runtime directory's ready marker says which format it has."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import runtimes as interpreters


@pytest.fixture
def counted_runs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    interpreters._runs_as.cache_clear()
    calls: list[list[str]] = []
    real_run = subprocess.run

    def run(command: list[str], *args: object, **kwargs: object) -> subprocess.CompletedProcess:
        calls.append(list(command))
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(interpreters.subprocess, "run", run)
    yield calls
    interpreters._runs_as.cache_clear()


def test_an_interpreter_is_asked_its_version_once(counted_runs: list[list[str]]) -> None:
    python = Path(sys.executable)
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert all(interpreters._reports_version(python, version) for _ in range(5))
    assert not interpreters._reports_version(python, "2.7")
    assert [call[0] for call in counted_runs] == [str(python), str(python)]  # once per version asked


def test_a_replaced_interpreter_is_asked_again(counted_runs: list[list[str]], tmp_path: Path) -> None:
    script = tmp_path / "python"
    script.write_text("#!/bin/sh\necho 3.99\n")
    script.chmod(0o755)
    assert interpreters._reports_version(script, "3.99")
    script.write_text("#!/bin/sh\necho 3.98\n")
    stat = script.stat()
    os.utime(script, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert not interpreters._reports_version(script, "3.99")
    assert len(counted_runs) == 2


def test_a_missing_interpreter_is_not_run(counted_runs: list[list[str]], tmp_path: Path) -> None:
    assert not interpreters._reports_version(tmp_path / "nowhere", "3.12")
    assert counted_runs == []


@pytest.mark.parametrize(("marker", "ready"), [
    (None, False),
    ("/usr/bin/python3.12\n", False),  # format 1: the libraries as pip left them, not byte-compiled
    ("/usr/bin/python3.12\nformat 2\n", True),
])
def test_only_a_byte_compiled_runtime_directory_is_ready(tmp_path: Path, marker: str | None, ready: bool) -> None:
    if marker is not None:
        (tmp_path / ".harness-ready").write_text(marker)
    assert interpreters.runtime_dir_ready(tmp_path) is ready
