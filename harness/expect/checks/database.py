"""`database`: which files' rows are in PostgreSQL, each exactly once."""

from __future__ import annotations

import functools

from harness.scenario import DatabaseExpectation, Scenario
from harness.stack.database import expected_row_counts

from ..snapshot import Snapshot
from ..text import files_text, listing, plural
from .verdict import Verdict


def loaded_files(expectation: DatabaseExpectation, scenario: Scenario) -> list[str]:
    """The files `loaded_exactly_once` names, in job order for the keywords."""
    wanted = expectation.loaded_exactly_once
    if wanted == "all":
        return scenario.file_ids()
    if wanted == "all_but_poison":
        poison = set(scenario.poison_files())
        return [file_id for file_id in scenario.file_ids() if file_id not in poison]
    if wanted == "none":
        return []
    return list(wanted)


@functools.cache
def _row_counts(file_ids: tuple[str, ...]) -> dict[str, int]:
    # Hashing every file ID on every poll would cost more than the query it is compared with.
    return expected_row_counts(file_ids)


def check_database(expectation: DatabaseExpectation, snapshot: Snapshot) -> Verdict:
    scenario = snapshot.scenario
    loaded = loaded_files(expectation, scenario)
    expected = _row_counts(tuple(loaded))
    others = [file_id for file_id in scenario.file_ids() if file_id not in expected]
    rows = snapshot.rows_per_file
    problems = [
        f"{file_id} has {rows.get(file_id, 0)} rows, expected {count}"
        for file_id, count in expected.items()
        if rows.get(file_id, 0) != count
    ]
    problems += [f"{file_id} has {rows[file_id]} rows, expected none" for file_id in others if rows.get(file_id)]
    duplicates = snapshot.duplicate_rows
    if duplicates:
        problems.append(f"{plural(duplicates, 'duplicate row')}")
    job_rows = sum(rows.get(file_id, 0) for file_id in scenario.file_ids())
    with_rows = sum(1 for file_id in scenario.file_ids() if rows.get(file_id))
    observed = f"{job_rows} rows of {plural(with_rows, 'job file')} in the table, {plural(duplicates, 'duplicate row')}"
    if problems:
        observed = f"{listing(problems)}; seen: {observed}"
    return Verdict(holds=not problems, expected=_expected(loaded, others, expected), observed=observed)


def _expected(loaded: list[str], others: list[str], expected: dict[str, int]) -> str:
    if loaded:
        text = f"{files_text(loaded)} each loaded exactly once ({sum(expected.values())} rows)"
    else:
        text = "no file loaded"
    if loaded and others:
        text += f", no rows for the other {plural(len(others), 'job file')} {files_text(others)}"
    elif not loaded and others:
        text += f": no rows for any of {files_text(others)}"
    return text + ", no duplicate rows"
