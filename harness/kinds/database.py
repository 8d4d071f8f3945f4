"""`database`: which files' rows are in PostgreSQL, each exactly once (the seed pipeline's tables)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Discriminator, Tag, model_validator

from harness.format import FileId, Loc
from harness.model.content import expected_row_counts
from harness.text import files_text, listing, plural

from .base import ExpectationBase, Problems, Verdict, raise_if, repeated_problems

if TYPE_CHECKING:
    from harness.expect.snapshot import Snapshot


def _loaded_files_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "keyword"
    if isinstance(value, list):
        return "files"
    return None


LoadedFiles = Annotated[
    Annotated[Literal["all", "all_but_poison", "none"], Tag("keyword")] | Annotated[list[FileId], Tag("files")],
    Discriminator(_loaded_files_tag, custom_error_type="loaded_files",
                  custom_error_message="expected all, all_but_poison, none, or a list of file IDs"),
]


class DatabaseExpectation(ExpectationBase):
    """Rows in PostgreSQL once everything has settled."""

    PIPELINE_ONLY = ("*",)
    kind: Literal["database"] = "database"
    loaded_exactly_once: LoadedFiles
    """Files whose rows are each present exactly once (no duplicates); every other file of the job has no
    rows. `all_but_poison` means every file except those a fault targets with `files:`."""

    @model_validator(mode="after")
    def _check(self) -> DatabaseExpectation:
        if isinstance(self.loaded_exactly_once, list):
            raise_if(repeated_problems("loaded_exactly_once", self.loaded_exactly_once, "file "))
        return self

    def validate(self, scenario: Any, at: Loc) -> Problems:
        loaded = self.loaded_exactly_once
        where: Loc = (*at, "loaded_exactly_once")
        if loaded == "all_but_poison" and not scenario.poison_files():
            return [(where, "all_but_poison needs poison files, but no fault targets files with `files:`")]
        if not scenario.triggers() and loaded != "none":
            return [(where, "no job runs, so nothing is loaded: use `none`")]
        return scenario.unknown_files(where, loaded) if isinstance(loaded, list) else []

    def loaded_files(self, scenario: Any) -> list[str]:
        """The files `loaded_exactly_once` names, in job order for the keywords."""
        wanted = self.loaded_exactly_once
        if wanted == "all":
            return list(scenario.file_ids())
        if wanted == "all_but_poison":
            poison = set(scenario.poison_files())
            return [file_id for file_id in scenario.file_ids() if file_id not in poison]
        return [] if wanted == "none" else list(wanted)

    def report_lanes(self) -> set[tuple[str, str]]:
        return set()

    def check(self, snapshot: Snapshot) -> Verdict:
        scenario = snapshot.scenario
        loaded = self.loaded_files(scenario)
        expected = _row_counts(tuple(loaded))
        others = [file_id for file_id in scenario.file_ids() if file_id not in expected]
        rows = snapshot.rows_per_file
        problems = [f"{file_id} has {rows.get(file_id, 0)} rows, expected {count}"
                    for file_id, count in expected.items() if rows.get(file_id, 0) != count]
        problems += [f"{file_id} has {rows[file_id]} rows, expected none" for file_id in others if rows.get(file_id)]
        duplicates = snapshot.duplicate_rows
        if duplicates:
            problems.append(f"{plural(duplicates, 'duplicate row')}")
        job_rows = sum(rows.get(file_id, 0) for file_id in scenario.file_ids())
        with_rows = sum(1 for file_id in scenario.file_ids() if rows.get(file_id))
        observed = (f"{job_rows} rows of {plural(with_rows, 'job file')} in the table, "
                    f"{plural(duplicates, 'duplicate row')}")
        if problems:
            observed = f"{listing(problems)}; seen: {observed}"
        return Verdict(holds=not problems, expected=_expected(loaded, others, expected), observed=observed)


@functools.cache
def _row_counts(file_ids: tuple[str, ...]) -> dict[str, int]:
    # Hashing every file ID on every poll would cost more than the query it is compared with.
    return expected_row_counts(file_ids)


def _expected(loaded: list[str], others: list[str], expected: dict[str, int]) -> str:
    text = (f"{files_text(loaded)} each loaded exactly once ({sum(expected.values())} rows)" if loaded
            else "no file loaded")
    if loaded and others:
        text += f", no rows for the other {plural(len(others), 'job file')} {files_text(others)}"
    elif not loaded and others:
        text += f": no rows for any of {files_text(others)}"
    return text + ", no duplicate rows"
