"""One check per expectation kind: does it hold on this snapshot, and what was expected and observed.

A check is pure: it reads a `Snapshot` and returns a `Verdict`. Deadlines and settling are the engine's
business, so a check answers only "does it hold right now"; the facts about a kind's timing (monotone,
time-driven, proved by a whole window, awaited alarms) live on its model in `harness.scenario.expectations`.
`CHECKS` is the one registry of kinds at run time, as `harness.scenario.consistency` is before deploy.
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

CHECKS: dict[type, Callable[[Any, Snapshot], Verdict]] = {
    AttemptsExpectation: check_attempts,
    DlqExpectation: check_dlq,
    SnsExpectation: check_sns,
    AlarmExpectation: check_alarm,
    ReshardExpectation: check_reshard,
    DatabaseExpectation: check_database,
    ResultExpectation: check_result,
}


def check(expectation: Expectation, snapshot: Snapshot) -> Verdict:
    return CHECKS[type(expectation)](expectation, snapshot)





__all__ = ["Verdict", "check"]
