"""`scripts/mutants.py` (`make mutants`) as a module, for the tests that read its catalog or plant its mutants."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[2]
_NAME = "harness_mutants_script"


def mutants_script() -> ModuleType:
    """scripts/ is not a package: the file loaded once as a module (registered, so dataclasses find it)."""
    if _NAME not in sys.modules:
        spec = importlib.util.spec_from_file_location(_NAME, REPO_ROOT / "scripts" / "mutants.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[_NAME] = module
        spec.loader.exec_module(module)
    return sys.modules[_NAME]
