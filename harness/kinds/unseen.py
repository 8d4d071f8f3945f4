"""Selections that nothing seen on a source could match. `count: 0` with a selection by a field that no message
on the source carried holds whatever arrives: a misspelt field matches nothing, ever. Such an expectation
fails, naming the field, with a did-you-mean from the fields the messages did carry.

The seed pipeline's notifications and alarms topics state their subjects and fields before deploy
(`catalog.TOPIC_MESSAGES`, which `sns` checks at load). A template's topics and queues, and dead letters
(whose bodies are whatever events failed), state none: the messages that arrived are the only evidence of
what their fields are. So when no message arrived at all, a field cannot be told from a misspelling either,
and the expectation fails too, pointing at `count: 0` without selectors (no message at all), which holds
there and says more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.format import Loc, close_match, same_but_case
from harness.records import Message, parse_json

from .base import Problems
from .fields import field_value, is_missing, nearest_fields

_MAX_NAMED = 12
_VACUOUS = "; it selects nothing, so `count: 0` would hold whatever arrived"


def absence_problems(source: str, messages: Sequence[Message], paths: Mapping[str, Sequence[str]],
                     subject: str | None = None) -> Problems:
    """Why a `count: 0` on `source` (like "queue OrderDeadLetterQueue") could not fail, given `messages`, all
    that arrived there: each selector (`subject`, or a field path under its setting in `paths`, like
    `{"fields": ["order_id"]}`) that no message carried, at that selector's place in the expectation."""
    selectors: list[tuple[Loc, str]] = [(("subject",), f"subject {subject!r}")] if subject is not None else []
    selectors += [((setting, path), f"field {path!r}") for setting, setting_paths in paths.items()
                  for path in setting_paths]
    if not selectors:
        return []
    if not messages:
        return [(selectors[0][0], _nothing_arrived(source, selectors))]
    problems: Problems = []
    if subject is not None:
        problems += _subject_problems(source, messages, subject)
    bodies = [parse_json(message.body) for message in messages]
    for setting, setting_paths in paths.items():
        for path in setting_paths:
            if all(is_missing(field_value(body, path)) for body in bodies):
                problems.append(((setting, path), _unseen_field(source, bodies, path)))
    return problems


def _nothing_arrived(source: str, selectors: list[tuple[Loc, str]]) -> str:
    named = " and ".join(what for _, what in selectors)
    settings = ", ".join(dict.fromkeys(str(at[0]) for at, _ in selectors))
    return (f"no message arrived on {source}, so {named} cannot be told from a misspelling (a selection no "
            f"message can match holds whatever arrives); expect `count: 0` without {settings} (no message at "
            "all), which holds here and says more")


def _subject_problems(source: str, messages: Sequence[Message], subject: str) -> Problems:
    # A subject is a value, not a name: another subject than the ones seen may well be the one that must not
    # come. Only a subject that no message could carry is a selection that can never match: none has one,
    # or one has the same letters in another case (subjects match exactly).
    seen = list(dict.fromkeys(message.subject for message in messages if message.subject))
    if subject in seen:
        return []
    if not seen:
        return [(("subject",), f"no message on {source} had a subject, so subject {subject!r} cannot match"
                               + _VACUOUS)]
    same = same_but_case(subject, seen)
    if same is None:
        return []
    return [(("subject",), f"no message on {source} had subject {subject!r}; did you mean {same!r}? "
                           "(a subject matches exactly, case too)" + _VACUOUS)]


def _unseen_field(source: str, bodies: list[object], path: str) -> str:
    prefix, names = nearest_fields(bodies, path)
    text = f"no message on {source} had field {path!r}"
    if not names:
        return text + " (no message there is a JSON object)" + _VACUOUS
    parts = path.split(".")
    depth = len(prefix.split(".")) if prefix else 0
    close = close_match(parts[depth], names)
    if close is not None:
        text += f"; did you mean {'.'.join([*parts[:depth], close, *parts[depth + 1:]])!r}?"
    shown = ", ".join(names[:_MAX_NAMED]) + (", ..." if len(names) > _MAX_NAMED else "")
    return text + f" (their fields{f' under {prefix}' if prefix else ''}: {shown})" + _VACUOUS
