"""Reading message bodies: dotted field paths, JSON equality, and field text for patterns."""

from __future__ import annotations

import json
from typing import Any

_MISSING = object()


def field_value(body: Any, path: str) -> Any:
    """The value at a dotted path like `summary.files` (a numeric part indexes a list); `MISSING` if absent."""
    value = body
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def is_missing(value: Any) -> bool:
    return value is _MISSING


def json_equal(left: Any, right: Any) -> bool:
    """Equality as JSON means it: 10 == 10.0, but true is not 1 and "10" is not 10."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(json_equal(left[key], right[key]) for key in left)
    return type(left) is type(right) and left == right


def field_text(value: Any) -> str:
    """What a pattern is searched in: a string as is, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def nearest_fields(bodies: list[Any], path: str) -> tuple[str, list[str]]:
    """Where a path no body has leaves the bodies: its longest proper prefix at which some body holds an
    object (or a list), and the keys (indices) found there in the order first seen. `("", [])` when no body
    is an object at all."""
    parts = path.split(".")
    for end in range(len(parts) - 1, -1, -1):
        prefix = ".".join(parts[:end])
        names: dict[str, None] = {}
        for body in bodies:
            value = field_value(body, prefix) if prefix else body
            if isinstance(value, dict):
                names.update(dict.fromkeys(str(key) for key in value))
            elif isinstance(value, list):
                names.update(dict.fromkeys(str(index) for index in range(len(value))))
        if names:
            return prefix, list(names)
    return "", []
