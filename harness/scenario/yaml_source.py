"""YAML parsing that remembers where every key and value was written, so errors can name a line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from harness.format import Loc

# An alias bomb would make the path index explode; past this many entries the rest of the document is
# located by its nearest indexed ancestor instead.
_MAX_INDEXED = 50_000


@dataclass(frozen=True)
class Mark:
    """1-based line and column."""

    line: int
    column: int


@dataclass(frozen=True)
class Place:
    key: Mark
    """Where the key that introduced the value starts (for a list item: the item itself)."""
    value: Mark
    """Where the value starts."""
    scalar: bool
    """Whether the value is a scalar (an error about it points at the value, not at its key)."""


@dataclass
class SourceMap:
    places: dict[Loc, Place] = field(default_factory=dict)

    def nearest(self, loc: Loc) -> tuple[Loc, Place] | None:
        """The place of `loc`, or of its nearest ancestor the document spells out."""
        for end in range(len(loc), -1, -1):
            place = self.places.get(loc[:end])
            if place is not None:
                return loc[:end], place
        return None

    def lines(self) -> dict[Loc, tuple[int, int]]:
        return {loc: (place.key.line, place.key.column) for loc, place in self.places.items()}


@dataclass(frozen=True)
class YamlIssue:
    mark: Mark | None
    loc: Loc
    message: str


class YamlSyntaxError(Exception):
    def __init__(self, issue: YamlIssue) -> None:
        self.issue = issue
        super().__init__(issue.message)


@dataclass(frozen=True)
class ParsedYaml:
    data: Any
    source_map: SourceMap
    issues: list[YamlIssue]
    """Problems YAML itself tolerates but a scenario must not have, such as a key given twice."""


def _mark(raw: yaml.Mark) -> Mark:
    return Mark(raw.line + 1, raw.column + 1)


def _offset_mark(text: str, offset: int) -> Mark:
    before = text[:offset]
    return Mark(before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1)


def _syntax_issue(error: yaml.MarkedYAMLError) -> YamlIssue:
    raw = error.problem_mark or error.context_mark
    message = f"invalid YAML: {error.problem or error.context or 'cannot parse'}"
    if error.context and error.problem and error.context_mark is not None:
        context = _mark(error.context_mark)
        message += f" ({error.context} at {context.line}:{context.column})"
    return YamlIssue(_mark(raw) if raw is not None else None, (), message)


def parse_yaml(text: str) -> ParsedYaml:
    """Parse one YAML document; raise `YamlSyntaxError` (with line and column) when it is not YAML."""
    try:
        # The reader checks for unprintable characters as soon as it is built, so build it in the try.
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as error:
        raise YamlSyntaxError(
            YamlIssue(_offset_mark(text, error.position), (), f"invalid YAML: {error.reason}")
        ) from None
    try:
        node = loader.get_single_node()
        source_map = SourceMap()
        issues: list[YamlIssue] = []
        if node is not None:
            _index(node, (), node.start_mark, source_map, issues, set())
            data = loader.construct_document(node)
        else:
            data = None
    except yaml.MarkedYAMLError as error:
        raise YamlSyntaxError(_syntax_issue(error)) from None
    except yaml.YAMLError as error:
        raise YamlSyntaxError(YamlIssue(None, (), f"invalid YAML: {error}")) from None
    finally:
        loader.dispose()
    return ParsedYaml(data, source_map, issues)


def _index(
    node: yaml.Node,
    loc: Loc,
    key_mark: yaml.Mark,
    source_map: SourceMap,
    issues: list[YamlIssue],
    ancestors: set[int],
) -> None:
    if len(source_map.places) >= _MAX_INDEXED or id(node) in ancestors:
        return
    source_map.places[loc] = Place(_mark(key_mark), _mark(node.start_mark), isinstance(node, yaml.ScalarNode))
    ancestors = ancestors | {id(node)}
    if isinstance(node, yaml.MappingNode):
        first_seen: dict[str, yaml.Mark] = {}
        for key_node, value_node in node.value:
            # Merge keys (<<) and complex keys have no place in a scenario path; their values are located
            # by the enclosing mapping.
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = key_node.value
            if key in first_seen:
                earlier = _mark(first_seen[key])
                issues.append(
                    YamlIssue(
                        _mark(key_node.start_mark),
                        (*loc, key),
                        f"key {key!r} is given twice (first at line {earlier.line}); "
                        "YAML would keep only the last",
                    )
                )
                # The data holds the last value, so its places must replace the first one's.
                stale = (*loc, key)
                for known in [known for known in source_map.places if known[: len(stale)] == stale]:
                    del source_map.places[known]
            else:
                first_seen[key] = key_node.start_mark
            _index(value_node, (*loc, key), key_node.start_mark, source_map, issues, ancestors)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index(item, (*loc, index), item.start_mark, source_map, issues, ancestors)
