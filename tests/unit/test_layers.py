"""The dependency direction holds (issue 23): no import cycle among harness modules, counting imports at
any depth (inside functions too; only imports made for type checking do not count), LocalStack imported
from harness/localstack/ only, and import-linter's contracts (pyproject.toml) fail on a planted upward
import, so `make test`, which runs them, fails too."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _graph() -> grimp.ImportGraph:
    return grimp.build_graph("harness", include_external_packages=True, exclude_type_checking_imports=True,
                              cache_dir=None)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a module importing itself)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        for target in sorted(edges[module]):
            if target not in order:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], order[target])
        if low[module] == order[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1 or module in edges[module]:
                found.append(sorted(component))

    for module in sorted(edges):
        if module not in order:
            visit(module)
    return found


def _harness_edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    modules = {m for m in graph.modules if m == "harness" or m.startswith("harness.")}
    return {m: set(graph.find_modules_directly_imported_by(m)) & modules for m in modules}


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_harness_modules() -> None:
    edges = _harness_edges(_graph())
    assert len(edges) > 50, "the harness's modules were not found"
    assert _cycles(edges) == []


def test_only_harness_localstack_imports_localstack() -> None:
    importers = _graph().find_modules_that_directly_import("localstack")
    assert importers, "nothing imports localstack: the graph did not see the executor"
    assert sorted(m for m in importers if not m.startswith("harness.localstack")) == []


def _lint_copy(tmp_path: Path, plant: str | None) -> subprocess.CompletedProcess[str]:
    shutil.copytree(ROOT / "harness", tmp_path / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    if plant:
        wire = tmp_path / "harness" / "wire.py"
        wire.write_text(wire.read_text(encoding="utf-8") + f"\n{plant}\n", encoding="utf-8")
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}, timeout=120)


def test_contracts_keep_on_the_tree(tmp_path: Path) -> None:
    result = _lint_copy(tmp_path, None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_planted_upward_import_breaks_the_contracts(tmp_path: Path) -> None:
    result = _lint_copy(tmp_path, "from harness import runner  # noqa")
    assert result.returncode != 0
    assert "harness.wire -> harness.runner" in result.stdout


def test_a_planted_localstack_import_outside_its_folder_breaks_the_contracts(tmp_path: Path) -> None:
    result = _lint_copy(tmp_path, "import localstack.config  # noqa")
    assert result.returncode != 0
    assert "BROKEN" in result.stdout


def test_no_function_of_the_harness_is_over_60_lines() -> None:
    import ast

    long = []
    for path in sorted((ROOT / "harness").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno + 1
                if length > 60:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert long == []
