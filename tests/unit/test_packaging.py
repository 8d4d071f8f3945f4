from __future__ import annotations

import glob
import io
import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import packaging


@pytest.fixture(scope="session")
def vendored() -> Path:
    """Dependencies installed once, into the repository's cache (pip needs the network the first time)."""
    return packaging.vendor_dir()


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vendored: Path) -> Iterator[Path]:
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(packaging, "vendor_dir", lambda: vendored)
    yield tmp_path / "cache"


def entries(zip_bytes: bytes) -> list[zipfile.ZipInfo]:
    return zipfile.ZipFile(io.BytesIO(zip_bytes)).infolist()


@pytest.mark.parametrize("name", sorted(packaging.FUNCTIONS))
def test_a_zip_holds_the_function_the_library_and_the_dependencies(fresh_cache: Path, name: str) -> None:
    names = {info.filename for info in entries(packaging.build_function_zip(name))}
    assert "handler.py" in names
    assert "pipeline_common/database.py" in names
    assert "pg8000/native.py" in names and "scramp/core.py" in names
    assert any(n.startswith("pg8000-") and n.endswith(".dist-info/METADATA") for n in names)  # pg8000 reads it
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert not any(n.startswith(("harness/", "boto3/", "botocore/")) for n in names)


def test_entries_are_sorted_with_fixed_timestamps_and_permissions(fresh_cache: Path) -> None:
    infos = entries(packaging.build_function_zip("worker"))
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}


def test_the_same_input_gives_the_same_bytes(
    fresh_cache: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = packaging.build_function_zip("worker")
    # A new cache, and every source file touched: neither location nor mtime may change a byte.
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "other-cache"))
    for path in (packaging.LAMBDAS_DIR / "worker").rglob("*.py"):
        os.utime(path)
    second = packaging.build_function_zip("worker")
    assert first == second


def test_an_unchanged_function_is_not_zipped_again(fresh_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = packaging.zip_bytes
    calls: list[int] = []
    monkeypatch.setattr(packaging, "zip_bytes", lambda e: calls.append(1) or real(e))

    path = packaging.build_function_zip_path("orchestrator")
    again = packaging.build_function_zip_path("orchestrator")
    other = packaging.build_function_zip_path("orchestrator", {"fault_wrapper.py": b"x = 1\n"})

    assert path == again and other != path
    assert len(calls) == 2
    assert path.parent == fresh_cache / "zips"


def test_extra_files_are_added_next_to_the_function(fresh_cache: Path) -> None:
    zip_bytes = packaging.build_function_zip("worker", {"fault_wrapper.py": b"WRAPPED = True\n"})
    archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
    assert archive.read("fault_wrapper.py") == b"WRAPPED = True\n"
    assert archive.read("handler.py") == (packaging.LAMBDAS_DIR / "worker" / "handler.py").read_bytes()


@pytest.mark.parametrize("path", ["handler.py", "pipeline_common/config.py", "pg8000/core.py"])
def test_extra_files_may_not_replace_the_function_s_code(fresh_cache: Path, path: str) -> None:
    with pytest.raises(packaging.PackagingError, match="collides"):
        packaging.build_function_zip("worker", {path: b""})


@pytest.mark.parametrize("path", ["../evil.py", "/abs.py", "a/./b.py", ""])
def test_extra_file_paths_must_stay_inside_the_zip(fresh_cache: Path, path: str) -> None:
    with pytest.raises(packaging.PackagingError, match="must be relative"):
        packaging.build_function_zip("worker", {path: b""})


def test_an_unknown_function_is_named(fresh_cache: Path) -> None:
    with pytest.raises(packaging.PackagingError, match="unknown function 'workr'.*worker"):
        packaging.build_function_zip("workr")


def test_caches_and_bytecode_in_a_source_tree_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "__pycache__" / "m.cpython-313.pyc").write_bytes(b"")
    (tmp_path / "pkg" / "m.py").write_text("")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "tool").write_text("")
    assert sorted(packaging._tree(tmp_path, skip_top_level=frozenset({"bin"}))) == ["pkg/m.py"]


def interpreters() -> list[str]:
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False).stdout.strip()
    found = []
    for version in ("3.12", "3.13"):
        matches = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python")) if root else []
        found.extend(matches[-1:])
    return found


@pytest.mark.parametrize("name", sorted(packaging.FUNCTIONS))
def test_the_zip_imports_on_python_3_12_and_3_13_without_the_harness(
    fresh_cache: Path, tmp_path: Path, name: str
) -> None:
    pythons = interpreters()
    if not pythons:
        pytest.skip("no pyenv Python 3.12/3.13 on this machine")
    target = tmp_path / "unzipped"
    zipfile.ZipFile(io.BytesIO(packaging.build_function_zip(name))).extractall(target)
    # -I -S: no site-packages, so neither boto3 nor the harness can sneak in; the handler must import
    # without boto3 (the runtime provides it when the first client is made).
    check = (
        "import sys; sys.path.insert(0, '.'); import handler, pg8000.native; "
        "assert callable(handler.handler); assert 'harness' not in sys.modules; print(sys.version_info[:2])"
    )
    for python in pythons:
        result = subprocess.run([python, "-I", "-S", "-c", check], cwd=target, capture_output=True, text=True)
        assert result.returncode == 0, f"{python}: {result.stderr}"
