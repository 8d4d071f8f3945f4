"""The pytest plugin is loaded (entry point `pytest11`) in every project that has the harness installed,
whether or not that project uses it: loading it must not import boto3, LocalStack, psycopg or pydantic.
Those come with the first fixture or scenario item that needs them.

Each check runs in a fresh interpreter, in an empty folder (so that neither this repository's conftest.py
nor its pytest settings are seen), and reads `sys.modules` afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

HEAVY = ("boto3", "botocore", "localstack", "psycopg", "pydantic")


def imported_after(code: str, cwd: Path, python: str | Path = sys.executable,
                   env: dict[str, str] | None = None) -> dict:
    """Run `code` (which sets `result`, a dict) in a fresh `python`; `result` plus every imported module.

    tests/integration/test_wheel.py runs the same probe in a virtual environment that has the wheel.
    """
    probe = textwrap.dedent(code) + textwrap.dedent(
        """
        import json as _json, sys as _sys
        _sys.__stdout__.write("\\n@@" + _json.dumps({"modules": sorted(_sys.modules), **result}) + "\\n")
        """
    )
    # Entry-point plugins must load as they do for a user.
    env = {k: v for k, v in (os.environ if env is None else env).items()
           if k not in ("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    completed = subprocess.run([str(python), "-c", probe], cwd=cwd, env=env, capture_output=True, text=True,
                               timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    marker = [line for line in completed.stdout.splitlines() if line.startswith("@@")]
    assert marker, completed.stdout + completed.stderr
    return json.loads(marker[-1][2:])


def heavy(modules: list[str]) -> list[str]:
    return sorted({name for name in modules if name.split(".")[0] in HEAVY})


def probe_pytest(args: list[str]) -> str:
    """Probe code for `imported_after`: `pytest.main(args)` with its output kept in `result`."""
    return f"""
        import contextlib, io
        import pytest
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = pytest.main({args!r})
        result = {{"code": int(code), "output": out.getvalue()}}
        """


def test_pytest_help_loads_the_plugin_without_heavy_imports(tmp_path: Path) -> None:
    result = imported_after(probe_pytest(["--help", "-p", "no:cacheprovider"]), tmp_path)
    assert result["code"] == 0, result["output"]
    # The plugin really was loaded, by its entry point: its options are in the help.
    assert "harness.pytest_plugin" in result["modules"]
    assert "--harness-endpoint" in result["output"]
    assert heavy(result["modules"]) == []


def test_a_session_that_uses_no_harness_fixture_imports_nothing_heavy(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert True\n")
    result = imported_after(probe_pytest(["-p", "no:cacheprovider"]), tmp_path)
    assert result["code"] == 0, result["output"]
    assert "harness.pytest_plugin" in result["modules"]
    assert heavy(result["modules"]) == []


def test_cli_help_imports_nothing_heavy(tmp_path: Path) -> None:
    result = imported_after(
        """
        import contextlib, io
        from harness import cli
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                cli.main(["--help"])
            except SystemExit as stop:
                code = stop.code
        result = {"code": code, "output": out.getvalue()}
        """,
        tmp_path,
    )
    assert result["code"] == 0
    assert "setup-runtimes" in result["output"]
    assert heavy(result["modules"]) == []
