"""One check per expectation kind: does it hold on this snapshot, and what was expected and observed.

A check is pure: it reads a `Snapshot` and returns a `Verdict`. Deadlines and settling are the engine's
business, so a check answers only "does it hold right now".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.scenario import (
    AlarmExpectation,
    AttemptsExpectation,
    DatabaseExpectation,
    DlqExpectation,
    Expectation,
    ReshardExpectation,
    ResultExpectation,
    SnsExpectation,
)

from ..snapshot import Snapshot
from .attempts import check_attempts
from .database import check_database
from .messages import check_alarm, check_dlq, check_sns
from .reshard import check_reshard
from .result import check_result
from .verdict import Verdict

_CHECKS: dict[type, Callable[[Any, Snapshot], Verdict]] = {
    AttemptsExpectation: check_attempts,
    DlqExpectation: check_dlq,
    SnsExpectation: check_sns,
    AlarmExpectation: check_alarm,
    ReshardExpectation: check_reshard,
    DatabaseExpectation: check_database,
    ResultExpectation: check_result,
}


def check(expectation: Expectation, snapshot: Snapshot) -> Verdict:
    return _CHECKS[type(expectation)](expectation, snapshot)


def needs_whole_window(expectation: Expectation) -> bool:
    """It can only pass at its deadline: a state that must never be entered, watched until then."""
    return isinstance(expectation, AlarmExpectation) and bool(expectation.never)


def is_time_driven(expectation: Expectation) -> bool:
    """Alarms change with CloudWatch's evaluation clock, not with the pipeline: an idle pipeline says
    nothing about whether they are done, so only their deadline can fail them."""
    return isinstance(expectation, AlarmExpectation) or (
        isinstance(expectation, SnsExpectation) and expectation.topic == "alarms"
    )


def is_monotone(expectation: Expectation) -> bool:
    """Once it holds, nothing that can still be observed makes it false, so it needs no settling.

    An ordered subsequence of alarm states stays one as states are appended; "at least N matching
    alarm messages" stays true as messages accumulate. Exact counts and per-message conditions do not.
    """
    if isinstance(expectation, AlarmExpectation):
        # `never` holds until it is broken: only its whole window proves it.
        return not expectation.never
    return (
        isinstance(expectation, SnsExpectation)
        and expectation.topic == "alarms"
        and expectation.min_count is not None
        and not expectation.totals
    )


__all__ = ["Verdict", "check", "is_monotone", "is_time_driven", "needs_whole_window"]
