"""A runtime's template imports what the fault wrapper imports in every runtime it wraps (pg8000, from the
wrapper's vendored folder) and keeps it out of sys.modules (`zygote_server._fill_stash`): a fork whose
sys.path would import the same modules gets them already imported, any other fork imports as a fresh
interpreter would, or cannot import them at all."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness import runtimes
from harness.localstack.executor import injection, zygote
from harness.packaging import vendor_dir

PROBE = """
import json, os, sys
found = {"before": sorted(name for name in ("pg8000", "scramp", "asn1crypto") if name in sys.modules)}
try:
    import pg8000
    found["pg8000"] = [pg8000.__file__, getattr(pg8000, "OWN", None)]
except ImportError:
    found["pg8000"] = None
open(os.environ["PROBE_OUT"], "w").write(json.dumps(found))
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory):
    vendored = vendor_dir()  # what the harness vendors into the pipeline's zips, and the wrapper imports from
    assert injection.stash() == (str(vendored), injection.STASHED)
    interpreter = runtimes.resolve("python3.13")
    made = zygote.Template(interpreter.python, interpreter.runtime_dir, tmp_path_factory.mktemp("template"),
                           stash=injection.stash())
    yield made
    made.stop()


def _probe(template: zygote.Template, tmp_path: Path, files: dict[str, str], *, wrapped: bool) -> tuple[bool, dict]:
    code = tmp_path / "code"
    for name, text in {"probe.py": PROBE, **files}.items():
        (code / name).parent.mkdir(parents=True, exist_ok=True)
        (code / name).write_text(text)
    path = [str(template.runtime_dir), *([str(template.stash_dir)] if wrapped else [])]
    env = {**zygote.TEMPLATE_ENV, "PYTHONPATH": os.pathsep.join(path), "PROBE_OUT": str(tmp_path / "out.json")}
    stash = template.stashes(env, code)
    forked = template.fork(["probe"], "probe", env, code, tmp_path / "probe.log", stash=stash)
    assert forked.wait(30) == 0, (tmp_path / "probe.log").read_text()
    return stash, json.loads((tmp_path / "out.json").read_text())


def test_a_wrapped_runtime_gets_the_wrappers_pg8000_imported_already(template, tmp_path: Path) -> None:
    assert set(template.stashed) >= {"pg8000", "scramp", "asn1crypto"}
    stash, found = _probe(template, tmp_path, {}, wrapped=True)
    assert stash and found["before"] == ["asn1crypto", "pg8000", "scramp"]
    assert found["pg8000"][0].startswith(str(template.stash_dir) + os.sep)


def test_a_runtime_without_the_wrappers_folder_cannot_import_it(template, tmp_path: Path) -> None:
    stash, found = _probe(template, tmp_path, {}, wrapped=False)
    assert not stash and found == {"before": [], "pg8000": None}  # as in a fresh interpreter: not there


def test_a_function_with_another_pg8000_imports_its_own(template, tmp_path: Path) -> None:
    own = {"pg8000/__init__.py": "OWN = True\n", "pg8000-0.0.1.dist-info/METADATA": "Name: pg8000\nVersion: 0.0.1\n"}
    stash, found = _probe(template, tmp_path, own, wrapped=True)
    assert not stash and found["before"] == []
    assert found["pg8000"] == [str(tmp_path / "code" / "pg8000" / "__init__.py"), True]


def test_a_function_with_the_same_pg8000_gets_the_stash(template, tmp_path: Path) -> None:
    version = template.stashed["pg8000"][1]
    same = {"pg8000/__init__.py": "OWN = True\n",
            f"pg8000-{version}.dist-info/METADATA": f"Name: pg8000\nVersion: {version}\n"}
    stash, found = _probe(template, tmp_path, same, wrapped=True)
    assert stash and found["before"] == ["asn1crypto", "pg8000", "scramp"]  # the same version is the same code
