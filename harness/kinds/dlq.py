"""`dlq`: a function's dead letters: the events Lambda gave up on, on the function's DeadLetterConfig target
(an SNS topic or an SQS queue), each the original event with RequestID, ErrorCode and ErrorMessage."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, JsonValue, model_validator

from harness.format import FileId, Loc, Regex
from harness.records import Message, event_files, parse_json
from harness.text import files_text, listing, plural, value_text

from .base import ExpectationBase, Problems, Verdict, count_holds, count_problems, count_text, names_problems, raise_if
from .fields import field_value, is_missing, json_equal
from .unseen import absence_problems

if TYPE_CHECKING:
    from harness.expect.snapshot import Snapshot


class DlqExpectation(ExpectationBase):
    """Messages on a function's dead-letter target: the original event with RequestID/ErrorCode/ErrorMessage."""

    PIPELINE_ONLY = ("files",)
    kind: Literal["dlq"] = "dlq"
    function: str = "worker"
    """Whose dead letters: the seed pipeline's worker (topic dlq, handled by the error handler) or error
    handler (topic error_handler_dlq), or a function's logical ID in your own template."""
    count: int | None = Field(default=None, ge=0)
    """Exactly this many dead-lettered messages; 0: nothing is dead-lettered."""
    min_count: int | None = Field(default=None, ge=1)
    """At least this many dead-lettered messages."""
    files: list[FileId] | None = Field(default=None, min_length=1)
    """Only messages whose original event holds at least one of these file IDs."""
    fields: dict[str, JsonValue] = {}
    """Only messages whose event (the body) has these values; a dotted key reaches inside."""
    error_message: Regex | None = None
    """Regular expression searched in every matching message's ErrorMessage attribute."""
    error_code: str | None = None
    """Exact ErrorCode attribute of every matching message ("200" for a function error)."""
    request_id_of_failure: bool = False
    """true: every matching message's RequestID is the request ID of the invocation that failed, as AWS
    writes it."""
    body_is_original_event: bool = False
    """true: every matching message's body equals the event of the invocation that failed."""

    @model_validator(mode="after")
    def _check(self) -> DlqExpectation:
        problems = count_problems(self.count, self.min_count)
        if self.count == 0:
            for key in ("error_message", "error_code"):
                if getattr(self, key) is not None:
                    problems.append(((key,), f"{key} says nothing when count is 0"))
            for key in ("body_is_original_event", "request_id_of_failure"):
                if getattr(self, key):
                    problems.append(((key,), f"{key} says nothing when count is 0"))
        raise_if(problems)
        return self

    @property
    def monotone(self) -> bool:
        return False  # a later dead letter may break a condition every one must meet

    def validate(self, scenario: Any, at: Loc) -> Problems:
        problems = names_problems(at, "function", self.function, scenario.functions(), "function")
        if problems:
            return problems
        if scenario.dead_letter_source(self.function) is None:
            return [((*at, "function"), f"function {self.function} has no DeadLetterConfig, so it has no dead "
                                        "letters to expect")]
        if (self.count or self.min_count) and scenario.only_faults_fail and \
                not scenario.can_exhaust_retries(self.function):
            problems.append(((*at, "count" if self.count else "min_count"),
                             f"an event is dead-lettered only when its last attempt fails, but no fault can fail "
                             f"the last attempt of the {self.function}"
                             + (scenario.reported_instead(self.function) or " (check the faults)")))
        if self.count == 0:
            total = scenario.fails_every_invocation(self.function)
            if total is not None:
                problems.append(((*at, "count"), f"faults[{total}] fails every attempt of every {self.function} "
                                                 "invocation, so each one is dead-lettered"))
        return problems + scenario.unknown_files((*at, "files"), self.files)

    def report_lanes(self) -> set[tuple[str, str]]:
        return {("message", "dlq" if self.function == "worker" else "error_handler_dlq" if self.function ==
                 "error_handler" else "*")}

    def check(self, snapshot: Snapshot) -> Verdict:
        wanted_files = set(self.files or [])
        letters = snapshot.dead_letters(self.function)
        selected = [message for message in letters
                    if (not wanted_files or set(event_files(parse_json(message.body))) & wanted_files)
                    and _has_fields(parse_json(message.body), self.fields)]
        problems: list[str] = []
        if not count_holds(len(selected), self.count, self.min_count):
            problems.append(f"{plural(len(selected), 'message')}, expected {count_text(self.count, self.min_count)}")
        for message in selected:
            problems += self._problems(message, snapshot)
        absent = self._absence_problems(letters, snapshot) if self.count == 0 else []
        problems += [why for _, why in absent]
        described = [_dead_letter_text(message) for message in selected]
        observed = f"{plural(len(selected), 'message')}" + (f": {listing(described)}" if described else "")
        if problems:
            observed = f"{listing(problems)}; seen: {observed}"
        return Verdict(holds=not problems, expected=self._expected(), observed=observed,
                       at=absent[0][0] if absent else ())

    def _absence_problems(self, letters: list[Message], snapshot: Snapshot) -> Problems:
        """A selection by a field that no dead letter carried (`unseen.absence_problems`): dead letters are
        whatever events failed, so no list of their fields exists before deploy."""
        source = f"the dead-letter target {snapshot.scenario.dead_letter_source(self.function)} of {self.function}"
        return absence_problems(source, letters, {"fields": list(self.fields)})

    def _problems(self, message: Message, snapshot: Snapshot) -> list[str]:
        problems: list[str] = []
        body = parse_json(message.body)
        where = files_text(event_files(body)) if event_files(body) else value_text(message.body, 60)
        error_message = message.attributes.get("ErrorMessage")
        if self.error_message is not None and not re.search(self.error_message, error_message or ""):
            problems.append(f"{where}: ErrorMessage {value_text(error_message)} does not match /{self.error_message}/")
        error_code = message.attributes.get("ErrorCode")
        if self.error_code is not None and error_code != self.error_code:
            problems.append(f"{where}: ErrorCode {value_text(error_code)}, expected {self.error_code!r}")
        attempts = [a for a in snapshot.attempts if a.function == self.function
                    and (not event_files(body) or set(a.file_ids) == set(event_files(body)))]
        if self.body_is_original_event:
            if not attempts:
                problems.append(f"{where}: no {self.function} attempt had these files, so the body is no event of it")
            elif not any(json_equal(body, attempt.event) for attempt in attempts):
                problems.append(f"{where}: body {value_text(message.body)} differs from the {self.function}'s event "
                                f"{value_text(attempts[0].event)}")
        if self.request_id_of_failure:
            request_id = message.attributes.get("RequestID")
            failed = {a.request_id for a in attempts if json_equal(body, a.event)}
            if request_id not in failed:
                problems.append(f"{where}: RequestID {value_text(request_id)} is not the request ID of the failed "
                                f"invocation ({', '.join(sorted(failed)) or 'none'})")
        return problems

    def _expected(self) -> str:
        text = f"{count_text(self.count, self.min_count)} dead-lettered messages"
        if self.function != "worker":
            text += f" of the {self.function}"
        if self.files:
            text += f" holding any of {files_text(self.files)}"
        conditions = [f"{path}={value_text(value, 80)}" for path, value in self.fields.items()]
        if self.error_message is not None:
            conditions.append(f"ErrorMessage matching /{self.error_message}/")
        if self.error_code is not None:
            conditions.append(f"ErrorCode {self.error_code!r}")
        if self.request_id_of_failure:
            conditions.append("the failed invocation's RequestID")
        if self.body_is_original_event:
            conditions.append(f"the {self.function}'s original event as body")
        return text + (", each with " + ", ".join(conditions) if conditions else "")


def _has_fields(body: Any, fields: dict[str, Any]) -> bool:
    for path, wanted in fields.items():
        value = field_value(body, path)
        if is_missing(value) or not json_equal(value, wanted):
            return False
    return True


def _dead_letter_text(message: Message) -> str:
    files = event_files(parse_json(message.body))
    error = message.attributes.get("ErrorMessage")
    code = message.attributes.get("ErrorCode")
    what = files_text(files) if files else "body " + value_text(message.body, 60)
    return f"{what} ErrorMessage={value_text(error, 90)} ErrorCode={value_text(code)}"
