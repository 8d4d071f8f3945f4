"""Reproducing a failed drawn scenario: write it as a scenario file that `harness run` replays exactly.

A property-based test draws scenarios (`harness.strategies`) and runs them on a real stack. When one
fails, `failed_scenario(document, why)` writes it as a scenario file and returns the exception to raise,
whose message says why it failed and where the file is:

    result = run_scenario(Scenario.model_validate(document), harness_resources)
    if not result.passed:
        raise failed_scenario(document, result.failure_text(), test="test_live_shards")

The file holds everything that decides the run: the job, the stack settings, the faults (a probabilistic
fault with its seed; the draws are seeded by the shard, its files and the attempt, so the scenario's name,
which is the job's ID and so part of every shard ID, is kept as drawn) and the expectations. So
`harness run <file>` checks the same expectations on the same faults, with the same draws.

Where: `$HARNESS_FAILURES_DIR` if set; else `.harness/failures/` in a source checkout (like the zip cache,
`harness.paths.cache_dir`); installed from a wheel, `harness-failures/` in the temporary folder, so that a
project using the harness does not get a `.harness/` folder wherever its tests run. A file is named after
the scenario and a hash of its content: the same failure is written once, however often it is found.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from harness import paths
from harness.scenario import Scenario, load_scenario

__all__ = ["ScenarioFailure", "failed_scenario", "failures_dir", "replay_command", "write_scenario"]

REPLAY = "harness run"


class ScenarioFailure(AssertionError):
    """A drawn scenario failed on the stack; `path` is the scenario file that replays it."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


def failures_dir() -> Path:
    """Where failed scenarios are written: `$HARNESS_FAILURES_DIR`, else `.harness/failures` in the source
    checkout, else (installed) `$TMPDIR/harness-failures`."""
    configured = os.environ.get("HARNESS_FAILURES_DIR")
    if configured:
        return Path(configured)
    if not paths.INSTALLED:
        return paths.ROOT / ".harness" / "failures"
    return Path(tempfile.gettempdir()) / "harness-failures"


def write_scenario(scenario: Scenario | Mapping[str, Any], folder: Path | None = None, *,
                   comment: str = "") -> Path:
    """Write `scenario` (a `Scenario`, or the mapping a scenario file holds) as a scenario file in `folder`
    (default `failures_dir()`), with `comment` as `#` lines at the top; returns its path.

    The file is loaded back before this returns, as `harness run` loads it: what is written is valid and
    means the same scenario.
    """
    from harness.strategies import scenario_document

    document = scenario_document(scenario) if isinstance(scenario, Scenario) else dict(scenario)
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:10]
    folder = failures_dir() if folder is None else folder
    folder.mkdir(parents=True, exist_ok=True)
    path = (folder / f"{document['name']}-{digest}.yaml").resolve()
    lines = [f"# {line}".rstrip() for line in comment.splitlines()]
    lines.append(f"# Replay: {replay_command(path)}")
    text = "\n".join(lines) + "\n" + body
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
    written = load_scenario(path)
    expected = scenario if isinstance(scenario, Scenario) else Scenario.model_validate(document)
    if written.model_dump() != expected.model_dump():
        raise AssertionError(f"{path} does not read back as the scenario that was written")
    return path


def replay_command(path: Path) -> str:
    """The command that replays a written scenario file."""
    return f"{REPLAY} {path}"


def failed_scenario(scenario: Scenario | Mapping[str, Any], why: str, *, test: str = "",
                    folder: Path | None = None) -> ScenarioFailure:
    """Write the failed `scenario` (see `write_scenario`) and return the exception to raise: `why` (say,
    the report of `ScenarioResult.failure_text()`), then the file and the command that replays it."""
    name = scenario.name if isinstance(scenario, Scenario) else scenario["name"]
    comment = f"Scenario {name} failed" + (f" in {test}" if test else "") + "; written by harness.reproduce."
    path = write_scenario(scenario, folder, comment=comment)
    message = f"{why}\n\nThe failing scenario is written to {path}\nReplay it exactly: {replay_command(path)}"
    return ScenarioFailure(message, path)
