"""A LocalStack other than the one the harness pins stops at launch, before anything runs, with one line
naming both versions (issue 23); so does a patch whose target LocalStack does not have. The version is faked
with a `sitecustomize` that makes `importlib.metadata` report another LocalStack."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.localstack import patches

REPO = Path(__file__).resolve().parents[2]
FAKE_VERSION = '''
import importlib.metadata as metadata

_version = metadata.version


def version(name):
    return "2099.1.0" if name == "localstack-core" else _version(name)


metadata.version = version
'''


@pytest.fixture
def other_localstack(tmp_path: Path) -> dict[str, str]:
    """An environment in which the installed LocalStack says it is 2099.1.0."""
    (tmp_path / "sitecustomize.py").write_text(FAKE_VERSION)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}


def test_the_pinned_version_is_the_installed_one_here() -> None:
    assert patches.pinned_version() == patches.installed_version()
    patches.check_version()  # no Mismatch


def test_another_version_is_named_with_the_pinned_one() -> None:
    pinned = patches.pinned_version()
    with pytest.raises(patches.Mismatch) as raised:
        patches.check_version(installed="2099.1.0")
    text = str(raised.value)
    assert "\n" not in text
    assert f"LocalStack 2099.1.0 is installed, but the harness's patches are written for LocalStack {pinned}" in text
    assert f"localstack-core=={pinned}" in text


def test_the_launcher_stops_with_one_line_and_status_3(other_localstack: dict[str, str]) -> None:
    started = time.monotonic()
    launched = subprocess.run([sys.executable, "-m", "harness.localstack.launch"], env=other_localstack,
                              capture_output=True, text=True, timeout=60)
    assert launched.returncode == 3
    [line] = launched.stderr.splitlines()
    assert line.startswith("harness: LocalStack 2099.1.0 is installed, but the harness's patches are written for")
    assert time.monotonic() - started < 30  # stopped before LocalStack started


def test_harness_up_says_that_line_and_starts_nothing(other_localstack: dict[str, str], tmp_path: Path) -> None:
    env = {**other_localstack, "HARNESS_RUN_DIR": str(tmp_path / "runs")}
    up = subprocess.run([sys.executable, "-m", "harness.cli", "up"], env=env, capture_output=True, text=True,
                        timeout=120, cwd=tmp_path)
    assert up.returncode == 1, up.stderr
    assert "harness up: harness: LocalStack 2099.1.0 is installed" in up.stderr, up.stderr
    assert "Traceback" not in up.stderr
    assert "HARNESS_ENDPOINT" not in up.stdout


def test_a_patch_whose_target_is_missing_is_named() -> None:
    class Old:
        pass

    gone = SimpleNamespace(obj=Old, name="handle_message", old=None)
    assert patches._missing([gone]) == ["Old.handle_message"]
    assert patches._missing(patches.patch_list()) == []  # every target exists in the pinned LocalStack
