"""Where the harness finds what it ships besides its Python code: the pipeline's Lambda code, the pinned
constraints and the scenario schema. One place, so a source checkout and an installed wheel agree.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def _root() -> Path:
    """The folder holding `lambdas/`, `constraints/` and `scenarios/`: the source checkout."""
    return _CHECKOUT


LAMBDAS = _root() / "lambdas"
"""The seed pipeline: one folder per function, `common/pipeline_common`, `requirements.txt`."""
PIPELINE_COMMON_PARENT = LAMBDAS / "common"
CONSTRAINTS = _root() / "constraints" / "localstack.txt"
SCHEMA = _root() / "scenarios" / "scenario.schema.json"


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
