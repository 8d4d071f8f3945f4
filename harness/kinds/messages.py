"""What `sns`, `sqs` and `dlq` share: counting the messages of one source that match a selection (a subject,
a run, values and patterns of body fields), with totals of numeric fields, and saying why the others did not
match. Each kind names its source; this module reads it."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field, JsonValue

from harness.format import Loc, Regex, did_you_mean
from harness.records import Message, parse_json
from harness.text import listing, plural, value_text

from .base import ExpectationBase, Problems, Verdict, count_holds, count_problems, count_text, raise_if
from .fields import field_text, field_value, is_missing, json_equal, number
from .unseen import absence_problems

if TYPE_CHECKING:
    from harness.expect.snapshot import Snapshot


class MessagesExpectation(ExpectationBase):
    """Messages on one source: exactly `count` or at least `min_count` of those matching the selection."""

    count: int | None = Field(default=None, ge=0)
    """Exactly this many matching messages; 0: none."""
    min_count: int | None = Field(default=None, ge=0)
    """At least this many matching messages."""
    fields: dict[str, JsonValue] = {}
    """Only messages whose JSON body has these values; a dotted key like `summary.files` reaches inside."""
    field_patterns: dict[str, Regex] = {}
    """Only messages whose body fields match these regular expressions (searched in the field's text)."""
    totals: dict[str, float] = {}
    """Sums of numeric body fields over the matching messages, like `{rows_inserted: 200}`."""

    def shape_problems(self) -> Problems:
        problems = count_problems(self.count, self.min_count)
        if self.count == 0 and self.totals:
            problems.append((("totals",), "totals say nothing when count is 0"))
        for name in ("fields", "field_patterns", "totals"):
            for key in getattr(self, name):
                if not key or any(not part for part in key.split(".")):
                    problems.append(((name, key),
                                     f"{key!r} is not a field path like `rows_inserted` or `summary.files`"))
        return problems

    @property
    def monotone(self) -> bool:
        """"At least N" stays true as messages accumulate; exact counts and totals do not."""
        return self.min_count is not None and not self.totals

    def source_text(self) -> str:
        raise NotImplementedError

    def selected(self, message: Message, body: Any, snapshot: Snapshot) -> str | None:
        """Why a message is not selected; None when it is. Subject and run come first (in the kinds that
        have them), so that a report can tell "another kind of message" from "the right kind with a wrong
        field"."""
        for path, wanted in self.fields.items():
            value = field_value(body, path)
            if is_missing(value):
                return f"no field {path}"
            if not json_equal(value, wanted):
                return f"{path}={value_text(value, 80)}, not {value_text(wanted, 80)}"
        for path, pattern in self.field_patterns.items():
            value = field_value(body, path)
            if is_missing(value):
                return f"no field {path}"
            if not re.search(pattern, field_text(value)):
                return f"{path}={value_text(value, 80)} does not match /{pattern}/"
        return None

    def counted(self, messages: list[Message], snapshot: Snapshot) -> Verdict:
        """The verdict on `messages`, the source's messages so far."""
        matching: list[tuple[Message, Any]] = []
        near_misses: list[str] = []
        for message in messages:
            body = parse_json(message.body)
            why_not = self.selected(message, body, snapshot)
            if why_not is None:
                matching.append((message, body))
            elif not why_not.startswith(("subject ", "run ")):
                near_misses.append(f"{_message_text(message, body)}: {why_not}")
        problems = [] if count_holds(len(matching), self.count, self.min_count) else \
            [f"{len(matching)} matching, expected {count_text(self.count, self.min_count)}"]
        problems += self.item_problems(matching, snapshot)
        absent = self.absence_problems(messages, snapshot) if self.count == 0 else []
        problems += [why for _, why in absent]
        totals_text = []
        for path, wanted in self.totals.items():
            total, bad = _total(matching, path)
            totals_text.append(f"{path}={total:g}")
            if bad:
                problems.append(f"{path} is not a number in {plural(bad, 'matching message')}")
            elif abs(total - wanted) > 1e-9:
                problems.append(f"total {path}={total:g}, expected {wanted:g}")
        observed = f"{len(matching)} matching of {plural(len(messages), 'message')} on {self.source_text()}"
        if totals_text:
            observed += f" (totals {', '.join(totals_text)})"
        if problems:
            subjects = Counter(message.subject or "(no subject)" for message in messages)
            seen = ", ".join(f"{count} x {subject}" for subject, count in subjects.most_common())
            observed = f"{listing(problems)}; seen: {observed}" + (f"; subjects: {seen}" if seen else "")
            if near_misses:
                observed += f"; not matching: {listing(near_misses, 3)}"
        return Verdict(holds=not problems, expected=self.expected_text(), observed=observed,
                       at=absent[0][0] if absent else ())

    def source_name(self) -> str:
        """The source in a sentence, like "queue OrderDeadLetterQueue"."""
        raise NotImplementedError

    def fields_known_before_deploy(self, scenario: Any) -> bool:
        """Whether the source's subjects and fields are stated before deploy (then checked at load)."""
        return False

    def absence_problems(self, messages: list[Message], snapshot: Snapshot) -> Problems:
        """Why `count: 0` would hold whatever arrived (`unseen.absence_problems`): a selection by a field no
        message on the source carried. Where the source's fields are stated before deploy, its load did that."""
        if self.fields_known_before_deploy(snapshot.scenario):
            return []
        return absence_problems(self.source_name(), messages, self.selector_paths(), self.selected_subject())

    def selected_subject(self) -> str | None:
        """The subject that selects messages, in the kinds that have one."""
        return None

    def selector_paths(self) -> dict[str, list[str]]:
        """The body field paths that select messages, per setting (totals only add up what is selected)."""
        return {name: list(getattr(self, name)) for name in ("fields", "field_patterns")}

    def item_problems(self, matching: list[tuple[Message, Any]], snapshot: Snapshot) -> list[str]:
        """What is wrong with the matching messages themselves (a kind's per-message conditions)."""
        return []

    def expected_text(self) -> str:
        text = f"{count_text(self.count, self.min_count)} messages on {self.source_text()}"
        conditions = [f"{path}={value_text(value, 80)}" for path, value in self.fields.items()]
        conditions += [f"{path} matching /{pattern}/" for path, pattern in self.field_patterns.items()]
        if conditions:
            text += " where " + ", ".join(conditions)
        if self.totals:
            text += "; totals " + ", ".join(f"{path}={value:g}" for path, value in self.totals.items())
        return text

    def expects_messages(self) -> tuple[bool, Loc]:
        return bool(self.count or self.min_count), ("count" if self.count else "min_count",)

    def field_paths(self) -> dict[str, list[str]]:
        """The body field paths the expectation names, per setting."""
        return {name: list(getattr(self, name)) for name in ("fields", "field_patterns", "totals")}


def unknown_field_problems(at: Loc, paths: Mapping[str, Sequence[str]], known: Sequence[str], where: str,
                           hint: Callable[[str], str] = lambda field: "") -> Problems:
    """Each field path whose first part is none of the `known` fields of `where` (like "message on
    notifications"), which it can therefore never match, with a did-you-mean and the fields there are.
    `hint` says what else is true of a field (that another kind of message has it), in place of a guess."""
    problems: Problems = []
    for setting, setting_paths in paths.items():
        for path in setting_paths:
            field = path.split(".")[0]
            if field in known:
                continue
            of = f" (of {path!r})" if field != path else ""
            why = hint(field) or did_you_mean(field, known)
            problems.append(((*at, setting, path),
                             f"field {field!r}{of} is in no {where}{why} (its fields: {', '.join(known)})"))
    return problems


def _total(matching: list[tuple[Message, Any]], path: str) -> tuple[float, int]:
    total, bad = 0.0, 0
    for _, body in matching:
        value = number(field_value(body, path))
        if value is None:
            bad += 1
        else:
            total += value
    return total, bad


def _message_text(message: Message, body: Any) -> str:
    shard = field_value(body, "shard_id")
    return f"{message.subject or '(no subject)'}" + ("" if is_missing(shard) else f" shard {shard}")


def check_shape(expectation: MessagesExpectation) -> MessagesExpectation:
    raise_if(expectation.shape_problems())
    return expectation
