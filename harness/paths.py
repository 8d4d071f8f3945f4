"""Where the harness finds what it ships besides its Python code: the pipeline's Lambda code, the pinned
constraints and the scenario schema. One place, so a source checkout and an installed wheel agree.

In a source checkout they are the top-level `lambdas/`, `constraints/` and `scenarios/` next to
`harness/` (an editable install uses them too). A wheel carries copies of them in `harness/_data/`, with
the same layout (`setup.py` maps them there). Which one is used follows from where this file is, never
from the current directory.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path
from types import ModuleType

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent
_INSTALLED = _PACKAGE / "_data"


def _root() -> Path:
    """The folder holding `lambdas/`, `constraints/` and `scenarios/`.

    `harness/_data/` exists only in an installed wheel (the source tree never has one), so it wins; a
    `lambdas/` that happens to sit next to the installed package in site-packages is not ours.
    """
    if (_INSTALLED / "lambdas").is_dir():
        return _INSTALLED
    return _CHECKOUT


ROOT = _root()
INSTALLED = ROOT == _INSTALLED
"""True when running from an installed wheel, False in a source checkout (editable install included)."""
LAMBDAS = ROOT / "lambdas"
"""The seed pipeline: one folder per function, `common/pipeline_common`, `requirements.txt`."""
PIPELINE_COMMON_PARENT = LAMBDAS / "common"
REQUIREMENTS = LAMBDAS / "requirements.txt"
CONSTRAINTS = ROOT / "constraints" / "localstack.txt"
SCHEMA = ROOT / "scenarios" / "scenario.schema.json"
SCENARIO_SUFFIXES = (".yaml", ".yml")
"""What a scenario file ends with: `harness run`/`validate` on a folder and pytest's collection go by it."""


def cache_dir() -> Path:
    """Where deployment zips and vendored dependencies are cached (content-hashed, safe to share).

    `$HARNESS_CACHE_DIR` if set; else `.harness/cache` in the source checkout; installed, the user's cache
    (`$XDG_CACHE_HOME/harness/cache`, by default `~/.cache/harness/cache`, next to the runtimes), so that
    a project using the harness does not get a `.harness/` folder wherever pytest runs.
    """
    configured = os.environ.get("HARNESS_CACHE_DIR")
    if configured:
        return Path(configured)
    if not INSTALLED:
        return _CHECKOUT / ".harness" / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "harness" / "cache"


def pipeline_common(submodule: str | None = None) -> ModuleType:
    """The pipeline's own `pipeline_common` (or one of its modules), imported as the functions import it.

    The harness models the pipeline with the pipeline's code (sharding, re-shard decisions) rather than
    a copy of it; `pipeline_common` is standard-library-only at import time.
    """
    parent = str(PIPELINE_COMMON_PARENT)
    if parent not in sys.path:
        sys.path.append(parent)
    name = "pipeline_common" if submodule is None else f"pipeline_common.{submodule}"
    return importlib.import_module(name)


_TEMPLATE_KEYS = re.compile(r"^(AWSTemplateFormatVersion|Resources|Transform)\s*:", re.MULTILINE)


def is_template_file(path: Path) -> bool:
    """Whether the YAML file is a CloudFormation or SAM template (a top-level Resources, Transform or
    AWSTemplateFormatVersion), which a folder of scenarios may hold beside them."""
    try:
        return bool(_TEMPLATE_KEYS.search(path.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return False
