"""docs/aws-parity.md cannot cite a test that is gone: every test its tables name exists, every row names
one or says "none yet", and the rows that say "none yet" are the ones listed under "Rows without a test"."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "aws-parity.md"
TEST_COLUMN = "Pinned by"
NONE_YET = "none yet"
REFERENCE = re.compile(r"(?:tests|scenarios|examples)/[\w./-]+\.(?:py|ya?ml)(?:::[\w.\-\[\]]+)*")
"""A test as a pytest node ID: a file, then `::` and a function (`Class::method`) or a scenario's name."""
LOOKS_LIKE_REFERENCE = re.compile(r"^(?:tests|scenarios|examples)/|\.(?:py|ya?ml)(?:::|$)")
ROW_ID = re.compile(r"\b[A-Z]\d+\b")


@dataclass(frozen=True)
class Row:
    row_id: str
    line: int
    cell: str


def _cells(line: str) -> list[str]:
    """The cells of a markdown table line (a `\\|` inside a cell is not a separator)."""
    inner = line.strip().removeprefix("|").removesuffix("|")
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def parse_rows(text: str) -> list[Row]:
    """Each row of each table with a "Pinned by" column: its first cell (the row's ID) and that column's
    cell."""
    rows: list[Row] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        is_header = (line.lstrip().startswith("|") and index + 1 < len(lines)
                     and re.fullmatch(r"\s*\|(\s*:?-+:?\s*\|)+\s*", lines[index + 1]) is not None)
        if not is_header:
            index += 1
            continue
        header = _cells(line)
        index += 2
        column = header.index(TEST_COLUMN) if TEST_COLUMN in header else None
        while index < len(lines) and lines[index].lstrip().startswith("|"):
            cells = _cells(lines[index])
            if column is not None:
                assert len(cells) == len(header), (
                    f"docs/aws-parity.md:{index + 1}: {len(cells)} cells, the header has {len(header)}")
                rows.append(Row(cells[0], index + 1, cells[column]))
            index += 1
    return rows


def references(cell: str) -> list[str]:
    """The tests a cell names: every backticked text that is a node ID. Backticked text that looks like a
    path but is none (a typo) is refused, so that it cannot pass as a note."""
    found = []
    for quoted in re.findall(r"`([^`]+)`", cell):
        if REFERENCE.fullmatch(quoted):
            found.append(quoted)
        elif LOOKS_LIKE_REFERENCE.search(quoted):
            raise AssertionError(f"{quoted!r} looks like a test reference but is not a pytest node ID")
    return found


def _python_names(tree: ast.Module, names: list[str]) -> bool:
    """Whether the module defines `names` (a function, or a class then its methods), parametrization off."""
    scope: list[ast.stmt] = tree.body
    for position, name in enumerate(names):
        name = re.sub(r"\[.*\]$", "", name)
        wanted = (ast.FunctionDef, ast.AsyncFunctionDef) if position == len(names) - 1 else (ast.ClassDef,)
        found = next((node for node in scope if isinstance(node, wanted) and node.name == name), None)
        if found is None:
            return False
        scope = getattr(found, "body", [])
    return True


def missing(reference: str) -> str | None:
    """Why `reference` names no test of this repository, or None when it does."""
    path, *names = reference.split("::")
    file = ROOT / path
    if not file.is_file():
        return f"{path} does not exist"
    if not names:
        return None
    if file.suffix == ".py":
        if not _python_names(ast.parse(file.read_text(encoding="utf-8")), names):
            return f"{path} has no test {'::'.join(names)}"
        return None
    if len(names) != 1:
        return f"{path} is one scenario: name it once after '::'"
    scenario = yaml.safe_load(file.read_text(encoding="utf-8"))
    name = scenario.get("name") if isinstance(scenario, dict) else None
    if name != names[0]:
        return f"{path} is the scenario {name!r}, not {names[0]!r}"
    return None


def rows_listed_without_a_test(text: str) -> set[str]:
    start = text.index("## Rows without a test")
    end = text.find("\n## ", start + 1)
    return set(ROW_ID.findall(text[start:] if end == -1 else text[start:end]))


def problems(text: str) -> list[str]:
    """Everything wrong with the doc's test cells, as 'line: what'."""
    rows = parse_rows(text)
    found: list[str] = []
    if not rows:
        return [f"no table with a {TEST_COLUMN!r} column"]
    seen: set[str] = set()
    untested: set[str] = set()
    for row in rows:
        where = f"docs/aws-parity.md:{row.line} ({row.row_id})"
        if row.row_id in seen:
            found.append(f"{where}: row ID used twice")
        seen.add(row.row_id)
        if not row.cell:
            found.append(f"{where}: the test cell is empty; name a test or write {NONE_YET!r}")
            continue
        if row.cell == NONE_YET:
            untested.add(row.row_id)
            continue
        try:
            named = references(row.cell)
        except AssertionError as error:
            found.append(f"{where}: {error}")
            continue
        if not named:
            found.append(f"{where}: the test cell names no test; name one or write exactly {NONE_YET!r}")
        if NONE_YET in row.cell:
            found.append(f"{where}: a row that names a test is not {NONE_YET!r}; split the row instead")
        found += [f"{where}: {why}" for reference in named if (why := missing(reference)) is not None]
    listed = rows_listed_without_a_test(text)
    if listed != untested:
        found.append(f"'Rows without a test' lists {sorted(listed)}, but the rows whose test cell is "
                     f"{NONE_YET!r} are {sorted(untested)}")
    return found


def test_every_test_the_parity_doc_names_exists_and_no_test_cell_is_empty() -> None:
    assert problems(DOC.read_text(encoding="utf-8")) == []


# -- the checks can fail --------------------------------------------------------------------------------------

HEADER = "| # | Behaviour | AWS | LocalStack | Harness | Pinned by |\n|---|---|---|---|---|---|\n"
LISTED = "\n## Rows without a test\n\n{ids}\n"


def doc(*rows: str, listed: str = "") -> str:
    return "# t\n\n" + HEADER + "".join(f"{row}\n" for row in rows) + LISTED.format(ids=listed)


@pytest.mark.parametrize(("cell", "complaint"), [
    ("`tests/unit/test_aws_parity_doc.py::test_that_was_deleted`", "has no test test_that_was_deleted"),
    ("`tests/unit/no_such_file.py::test_x`", "tests/unit/no_such_file.py does not exist"),
    ("`scenarios/success-path.yaml::another-name`", "is the scenario 'success-path', not 'another-name'"),
    ("", "the test cell is empty"),
    ("a test somewhere", "names no test"),
    ("`tests/unit/test_aws_parity_doc.py:test_typo`", "looks like a test reference"),
    ("`tests/unit/test_aws_parity_doc.py::test_every_test_the_parity_doc_names_exists_and_no_test_cell_is_empty`"
     ", and none yet for the rest", "split the row"),
])
def test_a_bad_test_cell_is_reported(cell: str, complaint: str) -> None:
    found = problems(doc(f"| A1 | b | a | l | h | {cell} |"))
    assert any(complaint in problem for problem in found), found


def test_a_real_function_a_method_and_a_scenario_pass() -> None:
    cell = ("`tests/unit/test_aws_parity_doc.py::test_a_real_function_a_method_and_a_scenario_pass`, "
            "`tests/unit/test_aws_parity_doc.py::TestAsAClass::test_a_method` (a note: `time.time()`), "
            "`scenarios/success-path.yaml::success-path`, `scenarios/success-path.yaml`")
    assert problems(doc(f"| A1 | b | a | l | h | {cell} |")) == []


class TestAsAClass:
    def test_a_method(self) -> None:
        assert Row("A1", 1, "x").row_id == "A1"


def test_rows_without_a_test_must_be_listed_and_only_those() -> None:
    assert problems(doc("| A1 | b | a | l | h | none yet |", listed="A1")) == []
    [unlisted] = problems(doc("| A1 | b | a | l | h | none yet |", listed=""))
    assert "are ['A1']" in unlisted
    [extra] = problems(doc("| A1 | b | a | l | h | none yet |", listed="A1, B2"))
    assert "lists ['A1', 'B2']" in extra


def test_a_row_whose_cells_do_not_match_the_header_is_refused() -> None:
    with pytest.raises(AssertionError, match="5 cells, the header has 6"):
        parse_rows(doc("| A1 | b | a | l | none yet |"))
