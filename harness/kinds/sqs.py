"""`sqs`: messages on a queue of your own template: a dead-letter queue, an OnFailure or OnSuccess destination,
or a queue the code writes to. The harness reads (and deletes) them: the stack is the scenario's own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import model_validator

from harness.format import Loc

from .base import Problems, Verdict, names_problems
from .messages import MessagesExpectation, check_shape

if TYPE_CHECKING:
    from harness.expect.snapshot import Snapshot


class SqsExpectation(MessagesExpectation):
    """Messages on a queue of the template, selected by body fields."""

    kind: Literal["sqs"] = "sqs"
    queue: str
    """The queue's logical ID in the template."""

    _shape = model_validator(mode="after")(check_shape)

    def source_text(self) -> str:
        return f"queue {self.queue}"

    def source_name(self) -> str:
        return f"queue {self.queue}"

    def validate(self, scenario: Any, at: Loc) -> Problems:
        return names_problems(at, "queue", self.queue, scenario.queues(), "SQS queue")

    def report_lanes(self) -> set[tuple[str, str]]:
        return {("message", self.queue)}

    def check(self, snapshot: Snapshot) -> Verdict:
        return self.counted(snapshot.messages(self.queue), snapshot)
