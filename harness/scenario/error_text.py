"""Turns pydantic's validation errors into problems a scenario author can act on.

Pydantic speaks in model terms: union tags in locations, "Input should be ...". This module maps each
error back to the YAML path the author wrote, picks the line to point at, and rewrites the message in the
file's own words, with a "did you mean" for misspelt keys and names.
"""

from __future__ import annotations

import difflib
import inspect
import re
import types
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError

from harness.format import Loc, ScenarioProblems
from harness.kinds import ExpectationBase, KeyedUnion

from .pipeline import Scenario
from .yaml_source import Mark, SourceMap


@dataclass(frozen=True)
class LocatedMessage:
    loc: Loc
    mark: Mark | None
    message: str


@dataclass(frozen=True)
class _Resolved:
    loc: Loc
    """The path as written in YAML (union tags that are not YAML keys removed)."""
    end: Any
    """The annotation at the end of the path, or None when the path leaves the model."""
    members: tuple[type[BaseModel], ...] = ()
    """The model union the path last went through, for hints about keys that belong to another kind."""
    keyed: bool = False


def _split_annotated(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    metadata: tuple[Any, ...] = ()
    while get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        metadata += tuple(extra)
    return annotation, metadata


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _is_model(annotation: Any) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, BaseModel)


def _tag_of(member: Any) -> str | None:
    inner, metadata = _split_annotated(member)
    for item in metadata:
        if isinstance(item, Tag):
            return item.tag
    if _is_model(inner) and "kind" in inner.model_fields:
        (tag,) = get_args(inner.model_fields["kind"].annotation)
        return str(tag)
    return None


def _resolve(raw: Loc, root: type[BaseModel] = Scenario) -> _Resolved:
    annotation: Any = root
    clean: list[str | int] = []
    members: tuple[type[BaseModel], ...] = ()
    keyed = False
    index = 0
    while index < len(raw):
        part = raw[index]
        annotation, metadata = _split_annotated(annotation)
        if _is_union(annotation):
            options = [option for option in get_args(annotation) if option is not type(None)]
            if len(options) == 1:
                annotation = options[0]
                continue
            by_tag = {_tag_of(option): option for option in options}
            if not isinstance(part, str) or part not in by_tag:
                return _Resolved((*clean, *raw[index:]), None, members, keyed)
            keyed = any(isinstance(item, KeyedUnion) for item in metadata)
            if keyed:
                clean.append(part)
            models = tuple(_split_annotated(option)[0] for option in options)
            if all(_is_model(model) for model in models):
                members = models
            annotation = by_tag[part]
        elif _is_model(annotation):
            if not isinstance(part, str) or part not in annotation.model_fields:
                return _Resolved((*clean, *raw[index:]), None, members, keyed)
            clean.append(part)
            annotation = annotation.model_fields[part].annotation
        elif get_origin(annotation) is list and isinstance(part, int):
            clean.append(part)
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) is dict:
            clean.append(part)
            annotation = get_args(annotation)[1]
        else:
            return _Resolved((*clean, *raw[index:]), None, members, keyed)
        index += 1
    return _Resolved(tuple(clean), annotation, members, keyed)


def _model_at(resolved: _Resolved) -> type[BaseModel] | None:
    annotation, _ = _split_annotated(resolved.end)
    if _is_union(annotation):
        options = [option for option in get_args(annotation) if option is not type(None)]
        annotation = _split_annotated(options[0])[0] if len(options) == 1 else None
    return annotation if _is_model(annotation) else None


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _suggest(word: Any, choices: list[str]) -> str:
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    if not close:
        close = [choice for choice in choices if choice.lower() == str(word).lower()]
    return f"; did you mean {close[0]!r}?" if close else ""


def _quoted_choices(expected: str) -> list[str]:
    return re.findall(r"'([^']*)'", expected)


_NOUNS = {"function": "function", "topic": "topic", "alarm": "alarm", "transitions": "alarm state"}

_TYPE_PHRASES = {
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "dict_type": "expected a mapping",
    "list_type": "expected a list",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected text",
}

_BOUNDS = {
    "greater_than_equal": ("ge", ">="),
    "greater_than": ("gt", ">"),
    "less_than_equal": ("le", "<="),
    "less_than": ("lt", "<"),
}


def _message(error: Any, resolved: _Resolved) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind in _TYPE_PHRASES:
        hint = " (quote it if it is text)" if kind == "string_type" and isinstance(value, int | float) else ""
        return f"{_TYPE_PHRASES[kind]}, got {_describe(value)}{hint}"
    if kind in _BOUNDS:
        key, symbol = _BOUNDS[kind]
        bound = ctx.get(key)
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        return f"must be {symbol} {bound}, got {_describe(value)}"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s), got {ctx.get('actual_length')}"
    if kind == "too_long":
        return f"takes at most {ctx.get('max_length')} item(s), got {ctx.get('actual_length')}"
    if kind == "literal_error":
        names = [part for part in resolved.loc if isinstance(part, str)]
        noun = _NOUNS.get(names[-1], "value") if names else "value"
        choices = _quoted_choices(str(ctx.get("expected", "")))
        return f"unknown {noun} {_describe(value)}; expected one of: {', '.join(choices)}" + _suggest(
            value, choices
        )
    if kind == "invalid_key":
        return f"a key must be text, got {_describe(value)}"
    if kind == "missing":
        return f"missing required key {resolved.loc[-1]!r}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "loaded_files":
        return f"{error['msg']}, got {_describe(value)}"
    return str(error["msg"])


def _extra_key_message(key: Any, parent: _Resolved) -> str:
    model = _model_at(parent)
    if model is None:
        return f"unknown key {key!r}"
    is_expectation = issubclass(model, ExpectationBase)
    allowed = [name for name in model.model_fields if not (is_expectation and name == "kind")]
    this_tag = _tag_of(model)
    owners = [
        _tag_of(member) for member in parent.members if member is not model and key in member.model_fields
    ]
    if owners and this_tag:
        where = " / ".join(map(str, owners))
        if is_expectation:
            return f"unknown key {key!r}: it belongs to the {where} expectation, not {this_tag}"
        return f"unknown key {key!r}: it only applies to kind: {where} (this is kind: {this_tag})"
    suggestion = _suggest(key, allowed)
    return f"unknown key {key!r}" + (suggestion or f"; expected one of: {', '.join(allowed)}")


def _union_tag_message(error: Any, resolved: _Resolved) -> tuple[Loc, str]:
    """Unknown or missing `kind` of a fault, or an unknown expectation key."""
    annotation, metadata = _split_annotated(resolved.end)
    keyed = any(isinstance(item, KeyedUnion) for item in metadata)
    tags = [str(_tag_of(option)) for option in get_args(annotation)]
    if error["type"] == "union_tag_not_found":
        return (*resolved.loc, "kind"), f"missing required key 'kind' (one of: {', '.join(tags)})"
    tag = error["ctx"]["tag"]
    if keyed:
        return (
            *resolved.loc,
            tag,
        ), f"unknown expectation {tag!r}; expected one of: {', '.join(tags)}" + _suggest(tag, tags)
    names = [part for part in resolved.loc if isinstance(part, str)]
    noun = (names[-1].rstrip("s") + " kind") if names else "kind"
    return (*resolved.loc, "kind"), f"unknown {noun} {tag!r}; expected one of: {', '.join(tags)}" + _suggest(
        tag, tags
    )


def _misspelt_tag_keys(
    error: Any, resolved: _Resolved, source_map: SourceMap, located: list[LocatedMessage]
) -> bool:
    """A missing `kind` next to a key that no kind has and that looks like `kind` (`kindd: timeout`):
    report that key, with the suggestion, instead of the missing `kind`. True when it did."""
    value = error.get("input")
    annotation, _ = _split_annotated(resolved.end)
    if not isinstance(value, dict) or not _is_union(annotation):
        return False
    known: list[str] = []
    for option in get_args(annotation):
        model = _split_annotated(option)[0]
        if _is_model(model):
            known += [name for name in model.model_fields if name not in known]
    misspelt = [key for key in value if key not in known and _suggest(key, ["kind"])]
    for key in misspelt:
        loc = (*resolved.loc, key)
        message = f"unknown key {key!r}" + _suggest(key, ["kind"])
        located.append(LocatedMessage(loc, mark_for(loc, source_map, at_key=True), message))
    return bool(misspelt)


def mark_for(loc: Loc, source_map: SourceMap, at_key: bool) -> Mark | None:
    found = source_map.nearest(loc)
    if found is None:
        return None
    found_loc, place = found
    # Point at a scalar's value ("count: 4" -> the 4), but at the key of a mapping or list, and at the
    # nearest written ancestor's key when the path itself is not written (a missing key).
    if place.scalar and not at_key and found_loc == loc:
        return place.value
    return place.key


def translate(error: ValidationError, source_map: SourceMap, root: type[BaseModel] = Scenario) -> list[LocatedMessage]:
    """Every error of `error`, located in the YAML document that `source_map` describes."""
    located: list[LocatedMessage] = []
    for item in error.errors():
        raw: Loc = tuple(item["loc"])
        cause = (item.get("ctx") or {}).get("error")
        if item["type"] == "value_error" and isinstance(cause, ScenarioProblems):
            base = _resolve(raw, root).loc
            for sub, message in cause.problems:
                loc = (*base, *sub)
                located.append(LocatedMessage(loc, mark_for(loc, source_map, at_key=False), message))
            continue
        if item["type"] == "union_tag_not_found" and _misspelt_tag_keys(item, _resolve(raw, root), source_map, located):
            continue
        if item["type"] in ("union_tag_invalid", "union_tag_not_found"):
            resolved = _resolve(raw, root)
            loc, message = _union_tag_message(item, resolved)
            at_key = item["type"] == "union_tag_not_found" or loc[-1] != "kind"
            located.append(LocatedMessage(loc, mark_for(loc, source_map, at_key=at_key), message))
            continue
        if item["type"] == "extra_forbidden":
            parent = _resolve(raw[:-1], root)
            loc = (*parent.loc, raw[-1])
            message = _extra_key_message(raw[-1], parent)
            located.append(LocatedMessage(loc, mark_for(loc, source_map, at_key=True), message))
            continue
        resolved = _resolve(raw, root)
        located.append(
            LocatedMessage(
                resolved.loc,
                mark_for(resolved.loc, source_map, at_key=item["type"] == "missing"),
                _message(item, resolved),
            )
        )
    return located
