"""The error a user sees: each problem with its file, line, column and field."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file."""

    file: str
    line: int | None
    """1-based; None when the problem has no place in the file (say, the file cannot be read)."""
    column: int | None
    field: str
    """Dotted path of the offending key, like `expect[2].attempts.count`; "" for the whole file."""
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}:{self.column or 1}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ScenarioError(ValueError):
    """One or more problems in scenario files; `str()` gives one `file:line:col: field: message` line each."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        if not problems:
            raise ValueError("a ScenarioError needs at least one problem")
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))

    def split(self) -> list[ScenarioError]:
        """One error per problem, for printing or counting them one by one."""
        return [ScenarioError([problem]) for problem in self.problems]
