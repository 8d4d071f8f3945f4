"""`sns`: messages published to a topic, selected by subject, run and body fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from harness.format import Loc, did_you_mean
from harness.format.catalog import TOPIC_MESSAGES
from harness.records import Message

from .base import Problems, Verdict, names_problems
from .messages import MessagesExpectation, check_shape, unknown_field_problems

if TYPE_CHECKING:
    from harness.expect.snapshot import Snapshot


class SnsExpectation(MessagesExpectation):
    """Messages published to a topic, selected by subject, run and body fields."""

    PIPELINE_ONLY = ("run",)
    kind: Literal["sns"] = "sns"
    topic: str
    """The topic: notifications (JOB SUCCEEDED / JOB FAILED), dlq, alarms or error_handler_dlq of the seed
    pipeline, or a topic's logical ID in your own template."""
    subject: str | None = None
    """Only messages with exactly this subject, like JOB SUCCEEDED."""
    run: int | None = Field(default=None, ge=1)
    """Only messages caused by this run of the job (1 is the first; see job.runs)."""

    _shape = model_validator(mode="after")(check_shape)

    def awaited_alarms(self, scenario: Any) -> list[tuple[str, int]]:
        # A message on a topic that alarms notify comes from a state change of one of them, which may be a
        # state entered after another: it may wait for the first one's datapoints to leave the look-back.
        return [(alarm, 2) for alarm in scenario.alarms_notifying(self.topic)]

    def source_text(self) -> str:
        return f"{self.topic}" + (f" with subject {self.subject!r}" if self.subject is not None else "") + \
            (f" from run {self.run}" if self.run is not None else "")

    def source_name(self) -> str:
        return f"topic {self.topic}"

    def fields_known_before_deploy(self, scenario: Any) -> bool:
        return bool(scenario.is_pipeline) and self.topic in TOPIC_MESSAGES

    def selected_subject(self) -> str | None:
        return self.subject

    def selected(self, message: Message, body: Any, snapshot: Snapshot) -> str | None:
        if self.subject is not None and message.subject != self.subject:
            return f"subject {message.subject!r}"
        if self.run is not None and snapshot.run_of(message.received_at) != self.run:
            return f"run {snapshot.run_of(message.received_at)}"
        return super().selected(message, body, snapshot)

    def validate(self, scenario: Any, at: Loc) -> Problems:
        problems = names_problems(at, "topic", self.topic, scenario.topics(), "topic")
        if problems:
            return problems
        if self.run is not None and self.run > scenario.runs():
            problems.append(((*at, "run"), f"run {self.run} never happens: the job runs {scenario.runs()} time(s)"))
        if self.fields_known_before_deploy(scenario):
            problems += self.vocabulary_problems(at)
        expects, key = self.expects_messages()
        if expects:
            problems += [((*at, *key), why) for why in scenario.why_no_messages(self.topic)]
        return problems

    def vocabulary_problems(self, at: Loc) -> Problems:
        """A subject never published on the pipeline's topic, or a field no message there has (from the
        pipeline's own `pipeline_common.messages`): such a selection matches nothing, ever."""
        vocabulary = TOPIC_MESSAGES.get(self.topic)
        if vocabulary is None:
            return []
        problems: Problems = []
        subject = self.subject
        if subject is not None and vocabulary.subjects and subject not in vocabulary.subjects:
            problems.append(((*at, "subject"),
                             f"subject {subject!r} is never published on {self.topic}"
                             f"{did_you_mean(subject, vocabulary.subjects)} "
                             f"(its subjects: {', '.join(vocabulary.subjects)})"))
            subject = None
        known = vocabulary.fields_of(subject)
        where = f"{subject} message on {self.topic}" if subject in vocabulary.fields else f"message on {self.topic}"

        def hint(field: str) -> str:
            elsewhere = vocabulary.subjects_with(field)
            return f"; only {' and '.join(elsewhere)} messages have it" if elsewhere else ""

        return problems + unknown_field_problems(at, self.field_paths(), known, where, hint)

    def report_lanes(self) -> set[tuple[str, str]]:
        lanes = {("message", self.topic)}
        return lanes | ({("alarm", "alarm:*")} if self.topic == "alarms" else set())

    def check(self, snapshot: Snapshot) -> Verdict:
        return self.counted(snapshot.messages(self.topic), snapshot)
