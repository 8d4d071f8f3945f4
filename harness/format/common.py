"""Building blocks shared by the scenario models: the base model, constrained strings, and the way a
model reports several problems at precise locations."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr

# A location inside a scenario document, as pydantic spells it: keys and list indices.
Loc = tuple[str | int, ...]


class ScenarioModel(BaseModel):
    """Base of every scenario model.

    `strict` because YAML already gives values their types: `count: "3"` or `files: [0003]` (an int) is
    a mistake worth reporting rather than coercing. `extra="forbid"` so that a misspelt key is an error,
    not a silently ignored setting. Attribute docstrings become descriptions in the JSON Schema.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)


class SourceLocated(ScenarioModel):
    """A document loaded from a file, which knows the line and column of each of its places."""

    _source_file: str | None = PrivateAttr(default=None)
    _source_lines: dict[Loc, tuple[int, int]] = PrivateAttr(default_factory=dict)

    @property
    def source_file(self) -> str | None:
        """The file the scenario was loaded from, if any."""
        return self._source_file

    def location(self, *loc: str | int) -> str:
        """`file:line:col` of a place in the source, like `location("expect", 2)`, for failure reports.

        Falls back to the nearest enclosing place the file spells out, then to the file alone.
        """
        where = self._source_file or "<scenario>"
        position = self.source_position(*loc)
        return f"{where}:{position[0]}:{position[1]}" if position else where

    def source_position(self, *loc: str | int) -> tuple[int, int] | None:
        """(line, column) of a place in the source, or of its nearest enclosing place; None if unknown."""
        for end in range(len(loc), -1, -1):
            found = self._source_lines.get(tuple(loc[:end]))
            if found:
                return found
        return None

    def relative_path(self, text: str) -> Path:
        """A path the document gives (a template), relative to the document's file (else to the cwd)."""
        base = Path(self._source_file).parent if self._source_file else Path.cwd()
        return (base / text).resolve()

    def _attach_source(self, file: str | Path, lines: dict[Loc, tuple[int, int]]) -> None:
        self._source_file = str(file)
        self._source_lines = lines


class ScenarioProblems(ValueError):
    """Raised by a model validator that found problems at known places below the model.

    A plain `ValueError` would be reported at the model itself; the loader unpacks these so that each
    problem points at its own key and line.
    """

    def __init__(self, problems: list[tuple[Loc, str]]) -> None:
        self.problems = problems
        super().__init__(
            "; ".join(f"{format_loc(loc) or '<scenario>'}: {message}" for loc, message in problems)
        )


def format_loc(loc: Loc) -> str:
    """`("expect", 2, "attempts", "count")` -> `expect[2].attempts.count`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_FILE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _slug(value: str) -> str:
    if not _SLUG.match(value) or len(value) > 63:
        raise ValueError(
            f"must be a slug of at most 63 characters: lowercase letters, digits and single hyphens "
            f"(like worker-timeout-reshards), got {value!r}"
        )
    return value


def _file_id(value: str) -> str:
    if not _FILE_ID.match(value) or len(value) > 64:
        raise ValueError(
            f"must be a file ID of at most 64 characters: letters, digits, '.', '_' and '-', "
            f"starting with a letter or digit (like f-0003), got {value!r}"
        )
    return value


def _identifier(value: str) -> str:
    # Wrong names still have to be plain identifiers, so the database rejects them for not existing
    # rather than for bad syntax: that is the fault a misconfiguration produces.
    if not _IDENTIFIER.match(value) or len(value) > 63:
        raise ValueError(f"must be a SQL identifier (letters, digits, '_'; at most 63), got {value!r}")
    return value


def _python_name(value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(f"must be a Python exception class name like ValueError, got {value!r}")
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as error:
        raise ValueError(f"is not a valid regular expression: {error}") from None
    return value


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


Slug = Annotated[str, AfterValidator(_slug), Field(json_schema_extra={"pattern": _SLUG.pattern})]
FileId = Annotated[str, AfterValidator(_file_id), Field(json_schema_extra={"pattern": _FILE_ID.pattern})]
SqlName = Annotated[
    str, AfterValidator(_identifier), Field(json_schema_extra={"pattern": _IDENTIFIER.pattern})
]
PythonName = Annotated[
    str, AfterValidator(_python_name), Field(json_schema_extra={"pattern": _IDENTIFIER.pattern})
]
Regex = Annotated[str, AfterValidator(_regex), Field(json_schema_extra={"format": "regex"})]
Text = Annotated[str, AfterValidator(_text), Field(json_schema_extra={"minLength": 1})]


def duplicates(values: list[str]) -> list[tuple[int, str]]:
    """(index, value) of every repeat after the first occurrence."""
    seen: set[str] = set()
    repeats: list[tuple[int, str]] = []
    for index, value in enumerate(values):
        if value in seen:
            repeats.append((index, value))
        seen.add(value)
    return repeats


def close_match(name: str, candidates: Sequence[str]) -> str | None:
    """The candidate `name` most likely misspells (by difflib's ratio, else the same letters in another
    case), or None."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return close[0] if close else same_but_case(name, candidates)


def same_but_case(name: str, candidates: Sequence[str]) -> str | None:
    """The candidate with the same letters as `name` in another case (`JOB FAILED` for `Job Failed`), or None."""
    return next((candidate for candidate in candidates if candidate.lower() == name.lower()), None)


def did_you_mean(name: str, candidates: Sequence[str]) -> str:
    """`; did you mean 'job_not_run'?` when a candidate is close to `name`, else ''."""
    close = close_match(name, candidates)
    return f"; did you mean {close!r}?" if close is not None else ""
