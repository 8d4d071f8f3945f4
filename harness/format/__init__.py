"""The building blocks of a scenario file, below the kinds and the documents that use them: the base model
and its located problems (`common`), the seed pipeline's names (`catalog`) and its template's defaults
(`pipeline_template`), and the fault kinds (`faults`, one row per kind, with their failure classes).
"""

from .common import (
    FileId,
    Loc,
    PythonName,
    Regex,
    ScenarioModel,
    ScenarioProblems,
    Slug,
    SourceLocated,
    SqlName,
    Text,
    close_match,
    did_you_mean,
    duplicates,
    format_loc,
    same_but_case,
)

__all__ = [
    "FileId",
    "Loc",
    "PythonName",
    "Regex",
    "ScenarioModel",
    "ScenarioProblems",
    "Slug",
    "SourceLocated",
    "SqlName",
    "Text",
    "close_match",
    "did_you_mean",
    "duplicates",
    "format_loc",
    "same_but_case",
]
