"""The harness as a user gets it: a wheel installed into a fresh virtual environment, used from a project
that is not this repository.

The wheel must carry the seed pipeline's code (`lambdas/`), the pinned constraints and the scenario
schema; `harness run` and pytest (through the plugin's entry point) must run a scenario there; and loading
the plugin must not import boto3 or LocalStack. The wheel is built from a copy of this working tree (what
git would commit: tracked and untracked, minus ignored files), so the build writes nothing here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import psutil
import pytest

from harness.runtimes import runtimes_root
from tests.unit.test_plugin_imports import heavy, imported_after, probe_pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCENARIO = "success-path.yaml"  # the shipped happy path: every function deployed and run once or more
# What the harness zips and deploys from, and what it pins and ships besides its code, as the wheel has it.
CARRIED = {
    "lambdas": "harness/_data/lambdas",
    "constraints/localstack.txt": "harness/_data/constraints/localstack.txt",
    "scenarios/scenario.schema.json": "harness/_data/scenarios/scenario.schema.json",
}
# Anything that would lead a subprocess back to this checkout or its virtual environment, or change how
# pytest loads plugins.
LEAKY = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH", "VIRTUAL_ENV", "HARNESS_CACHE_DIR",
         "HARNESS_ENDPOINT", "DATABASE_URL", "HARNESS_RUN_DIR", "__PYVENV_LAUNCHER__")


def _copy_source(target: Path) -> Path:
    """The working tree's files as git sees them (tracked and untracked, not ignored), copied to `target`."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=False)
    if listed.returncode == 0:
        for name in filter(None, listed.stdout.decode().split("\0")):
            source = REPO / name
            if source.is_file():  # a tracked file deleted in the working tree is listed too
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)
    else:  # not a git checkout (an unpacked source archive)
        shutil.copytree(REPO, target, ignore=shutil.ignore_patterns(
            ".git", ".venv", ".harness", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"))
    return target


def _build_wheel(tmp_path: Path) -> Path:
    source = _copy_source(tmp_path / "source")
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist),
                            str(source)], capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    [wheel] = dist.glob("harness-*.whl")
    return wheel


def _repo_files(relative: str) -> dict[str, bytes]:
    """`{path under `relative`: content}` of the repository's file or folder, without bytecode."""
    root = REPO / relative
    if root.is_file():
        return {"": root.read_bytes()}
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")}


def test_the_wheel_carries_the_pipeline_the_constraints_and_the_schema(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for relative, inside in CARRIED.items():
            expected = _repo_files(relative)
            carried = {name.removeprefix(inside).lstrip("/"): archive.read(name) for name in names
                       if name == inside or name.startswith(inside + "/")}
            # Byte for byte, and nothing else: the same inputs give the same deployment zips as a checkout.
            assert carried == expected, f"{relative} differs in the wheel ({inside})"
    assert "harness/_data/lambdas/requirements.txt" in names
    assert "harness/_data/lambdas/common/pipeline_common/__init__.py" in names
    assert "harness/pytest_plugin.py" in names
    # Only the harness at the top: the data is not a `lambdas` package of its own in site-packages.
    distribution = "-".join(wheel.name.split("-")[:2])
    assert {name.split("/")[0] for name in names} == {"harness", f"{distribution}.dist-info"}


def _clean_env(venv: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LEAKY and not k.startswith("PYTEST_")}
    # The venv's scripts first; nothing from this checkout (its .venv/bin) on PATH.
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and not Path(p).resolve().is_relative_to(REPO)]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    return env


def _processes_from(root: Path) -> list[str]:
    """Live processes started from `root` (the venv's LocalStack and PostgreSQL) or running in it (runtimes)."""
    found = []
    for proc in psutil.process_iter(["pid", "cwd", "cmdline"]):
        places = [proc.info.get("cwd") or "", *(proc.info.get("cmdline") or [])]
        if any(place.startswith(str(root)) for place in places):
            found.append(f"{proc.info['pid']} {' '.join(proc.info.get('cmdline') or [])[:160]}")
    return found


def _run(command: list[str | Path], cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    started = time.monotonic()
    result = subprocess.run([str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    print(f"{Path(command[0]).name} {' '.join(str(part) for part in command[1:3])}: "
          f"{time.monotonic() - started:.1f} s")
    return result


def _tail(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"


@pytest.mark.slow
def test_an_installed_wheel_runs_a_scenario_outside_the_checkout(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120, env=_clean_env(venv))
    env = _clean_env(venv)
    # Pinned as `make setup` pins the harness; pip's cache makes this quick after the first time.
    installed = _run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                      "-c", REPO / "constraints" / "localstack.txt", wheel, "pytest"], tmp_path, env, timeout=1200)
    assert installed.returncode == 0, _tail(installed)

    project = tmp_path / "project"  # a user's project: one scenario file, no conftest, no settings
    project.mkdir()
    scenario = project / f"scenario_{SCENARIO.removesuffix('.yaml').replace('-', '_')}.yaml"
    shutil.copy(REPO / "scenarios" / SCENARIO, scenario)
    # The installed harness caches its zips in the user's cache ($XDG_CACHE_HOME/harness), here a fresh one;
    # the runtime libraries stay where `make setup` installed them, and pip keeps its own cache.
    env.update(
        XDG_CACHE_HOME=str(tmp_path / "xdg-cache"),
        HARNESS_RUNTIMES_DIR=str(runtimes_root()),
        PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR")
        or str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pip"),
        HARNESS_RUN_DIR=str(tmp_path / "runs"),
    )

    try:
        setup = _run([venv / "bin" / "harness", "setup-runtimes"], project, env, timeout=600)
        assert setup.returncode == 0, _tail(setup)

        run = _run([venv / "bin" / "harness", "run", scenario.name], project, env, timeout=600)
        assert run.returncode == 0, _tail(run)
        assert "1 passed, 0 failed" in run.stdout, _tail(run)
        assert _processes_from(tmp_path) == []

        tested = _run([python, "-m", "pytest", "-p", "no:cacheprovider", "-rA", scenario.name], project, env,
                      timeout=600)
        assert tested.returncode == 0, _tail(tested)
        assert "PASSED" in tested.stdout and "::success-path" in tested.stdout, _tail(tested)
        assert _processes_from(tmp_path) == []
    finally:
        for line in _processes_from(tmp_path):  # only what this test started: processes of its own tmp_path
            with contextlib.suppress(psutil.Error):
                psutil.Process(int(line.split()[0])).kill()
    # It used what the wheel carries, never this checkout, and cached where an installed harness does.
    where = _run([python, "-c", "import harness, harness.paths as p; print(harness.__file__); "
                  "print(p.LAMBDAS); print(p.CONSTRAINTS); print(p.SCHEMA); print(p.cache_dir())"],
                 project, env, timeout=60)
    assert where.returncode == 0, _tail(where)
    package, *carried, cache = map(Path, where.stdout.splitlines())
    assert package.parent.is_relative_to(venv), where.stdout
    for path in carried:
        assert path.is_relative_to(package.parent / "_data") and path.exists(), where.stdout
    assert cache == tmp_path / "xdg-cache" / "harness" / "cache"
    assert list((cache / "zips").glob("worker-*.zip"))
    assert not (project / ".harness").exists()

    # Loading the plugin in that project imports neither boto3 nor LocalStack.
    result = imported_after(probe_pytest(["--help", "-p", "no:cacheprovider"]), project, python=python, env=env)
    assert result["code"] == 0, result["output"]
    assert "harness.pytest_plugin" in result["modules"] and "--harness-endpoint" in result["output"]
    assert heavy(result["modules"]) == []
