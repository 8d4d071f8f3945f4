"""Loading scenario files: YAML with line numbers, validation, and every problem reported at once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.format import Loc, SourceLocated, format_loc
from harness.paths import SCENARIO_SUFFIXES, is_template_file

from .error_text import mark_for, translate
from .errors import Problem, ScenarioError
from .pipeline import Scenario
from .template import TemplateScenario
from .validate import validate
from .yaml_source import Mark, SourceMap, YamlSyntaxError, parse_yaml

PathLike = str | Path


def _problem(file: PathLike, mark: Mark | None, loc: Loc, message: str) -> Problem:
    return Problem(
        file=str(file),
        line=mark.line if mark else None,
        column=mark.column if mark else None,
        field=format_loc(loc),
        message=message,
    )


def _sorted(problems: list[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda problem: (problem.file, problem.line or 0, problem.column or 0))


def _byte_mark(raw: bytes, offset: int) -> Mark:
    """Line and column (in characters, 1-based) of byte `offset`, all of whose line before it is UTF-8."""
    line_start = raw.rfind(b"\n", 0, offset) + 1
    return Mark(raw.count(b"\n", 0, offset) + 1, len(raw[line_start:offset].decode("utf-8")) + 1)


def _not_utf8(raw: bytes, error: UnicodeDecodeError) -> str:
    found = " ".join(f"0x{byte:02x}" for byte in raw[error.start : error.end])
    return f"not UTF-8: byte {found} cannot be decoded ({error.reason}); save the file as UTF-8"


AnyScenario = Scenario | TemplateScenario
"""A seed-pipeline scenario, or one on a template of your own (a document naming `template:`)."""


def _load(path: Path) -> tuple[AnyScenario | None, list[Problem]]:
    def choose(data: Any) -> type[AnyScenario]:
        return TemplateScenario if is_template_document(data) else Scenario

    scenario, source_map, problems = load_model_file(path, choose)
    if scenario is None or source_map is None:
        return None, problems
    # The document's shape is right; now what its parts need of each other and of its stack.
    problems = [_problem(path, mark_for(loc, source_map, at_key=False), loc, message)
                for loc, message in validate(scenario)]
    return (None, _sorted(problems)) if problems else (scenario, [])


def load_model_file[M: SourceLocated](path: Path, choose: Callable[[Any], type[M]], what: str = "a scenario",
                                      ) -> tuple[M | None, SourceMap | None, list[Problem]]:
    """A YAML file read as the model `choose(data)` picks (a scenario, a soak file): every problem of its
    bytes, its YAML and its shape, each at its line and column; the model knows its source's places."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None, [_problem(path, None, (), "no such file")]
    except OSError as error:
        return None, None, [_problem(path, None, (), f"cannot read the file: {error}")]
    try:
        # Newlines as reading in text mode gives them (universal newlines).
        text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as error:
        return None, None, [_problem(path, _byte_mark(raw, error.start), (), _not_utf8(raw, error))]
    try:
        parsed = parse_yaml(text)
    except YamlSyntaxError as error:
        return None, None, [_problem(path, error.issue.mark, error.issue.loc, error.issue.message)]
    problems = [_problem(path, issue.mark, issue.loc, issue.message) for issue in parsed.issues]
    if parsed.data is None:
        return None, None, [*problems, _problem(path, Mark(1, 1), (), f"the file is empty; {what} is a mapping")]
    model = choose(parsed.data)
    try:
        document = model.model_validate(parsed.data)
    except ValidationError as error:
        problems += [_problem(path, located.mark, located.loc, located.message)
                     for located in translate(error, parsed.source_map, model)]
        return None, None, _sorted(problems)
    if problems:
        return None, None, _sorted(problems)
    document._attach_source(path, parsed.source_map.lines())
    return document, parsed.source_map, []


def is_template_document(data: Any) -> bool:
    """A scenario document for a template of your own (it names `template:` at its top level)."""
    return isinstance(data, dict) and "template" in data


def load_document(document: dict[str, Any], origin: str = "<document>") -> AnyScenario:
    """A scenario from a mapping built in Python (a test, a drawn scenario), validated as a file is: its shape
    (pydantic's `ValidationError`), then the validation pass; raises `ScenarioError`, each problem at its
    field, `origin` standing for the file."""
    model: type[AnyScenario] = TemplateScenario if is_template_document(document) else Scenario
    scenario = model.model_validate(document)
    problems = [_problem(origin, None, loc, message) for loc, message in validate(scenario)]
    if problems:
        raise ScenarioError(problems)
    return scenario


def load_scenario(path: PathLike) -> AnyScenario:
    """Load and validate one scenario file; raise `ScenarioError` listing every problem it has."""
    scenario, problems = _load(Path(path))
    if problems or scenario is None:
        raise ScenarioError(problems)
    return scenario


@dataclass
class Found:
    """What a set of paths holds: scenario files, problems, and the templates skipped in folders."""

    files: list[Path] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    templates: list[Path] = field(default_factory=list)


def scenario_files(paths: Iterable[PathLike]) -> Found:
    """Files named directly, and scenario files (`*.yaml`, `*.yml`) found recursively under directories, each
    once, in order; a template found in a directory is skipped (`Found.templates`)."""
    found_all = Found()
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(candidate for candidate in path.rglob("*")
                           if candidate.suffix in SCENARIO_SUFFIXES and candidate.is_file())
            found_all.templates += [file for file in found if is_template_file(file)]
            found = [file for file in found if file not in found_all.templates]
            if not found:
                patterns = " or ".join(f"*{suffix}" for suffix in SCENARIO_SUFFIXES)
                found_all.problems.append(_problem(path, None, (), f"no {patterns} scenario files in this directory"))
        elif path.exists():
            found = [path]
        else:
            found_all.problems.append(_problem(path, None, (), "no such file or directory"))
            found = []
        for file in found:
            if file.resolve() not in seen:
                seen.add(file.resolve())
                found_all.files.append(file)
    return found_all


@dataclass
class Loaded:
    """Every valid scenario under some paths, the problems of the others, and the templates skipped."""

    scenarios: list[AnyScenario]
    problems: list[Problem]
    templates: list[Path]


def load_found(paths: Iterable[PathLike]) -> Loaded:
    """Every scenario under `paths` that is valid; a file with problems is left out, its problems kept."""
    found = scenario_files(paths)
    scenarios, problems = _load_files(found.files)
    return Loaded(scenarios, found.problems + problems, found.templates)


def _load_all(paths: Iterable[PathLike]) -> tuple[list[AnyScenario], list[Problem]]:
    loaded = load_found(paths)
    return loaded.scenarios, loaded.problems


def _load_files(files: list[Path]) -> tuple[list[AnyScenario], list[Problem]]:
    problems: list[Problem] = []
    scenarios: list[AnyScenario] = []
    first_by_name: dict[str, AnyScenario] = {}
    for file in files:
        scenario, file_problems = _load(file)
        problems += file_problems
        if scenario is None:
            continue
        # pytest item IDs, CLI selection (-k) and stack prefixes all go by name, so a name is unique.
        earlier = first_by_name.get(scenario.name)
        if earlier is not None:
            line, column = scenario.source_position("name") or (1, 1)
            problems.append(
                _problem(
                    file,
                    Mark(line, column),
                    ("name",),
                    f"scenario name {scenario.name!r} is already used by {earlier.location('name')}",
                )
            )
            continue
        first_by_name[scenario.name] = scenario
        scenarios.append(scenario)
    return scenarios, problems


def load_scenarios(paths: Iterable[PathLike]) -> list[AnyScenario]:
    """Load every scenario under `paths` (files, or directories searched for `*.yaml` and `*.yml`).

    Raises one `ScenarioError` with the problems of all files, including names used twice.
    """
    scenarios, problems = _load_all(paths)
    if problems:
        raise ScenarioError(problems)
    return scenarios


def validate_paths(paths: Iterable[PathLike]) -> list[ScenarioError]:
    """Every problem under `paths`, one `ScenarioError` (one printable line) each; [] when all are valid.

    Pure: reads the files and nothing else, so it is safe before anything is deployed.
    """
    _, problems = _load_all(paths)
    return [ScenarioError([problem]) for problem in problems]
