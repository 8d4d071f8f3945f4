"""When a template scenario's exact counts may be decided: only on evidence that nothing more is coming."""

from __future__ import annotations

import time
from types import SimpleNamespace

from harness.observe.records import Attempt
from harness.template_runner import _Observed, _Watch


def _watch(*attempts: Attempt, quiet_for: float = 2.0) -> _Watch:
    watch = _Watch.__new__(_Watch)
    watch.scenario = SimpleNamespace(invoke=SimpleNamespace(function="Fn"))  # type: ignore[assignment]
    watch.observed = _Observed(attempts=list(attempts), last_change=time.monotonic() - quiet_for)
    return watch


def _attempt(number: int, outcome: str | None, started_ago: float = 5.0, function: str = "Fn") -> Attempt:
    return Attempt(function=function, request_id="r1", attempt=number, shard_id=None, file_ids=[], event={},
                   fault=None, outcome=outcome, started_at=time.time() - started_ago,
                   ended_at=None if outcome is None else time.time() - 1)


def test_nothing_is_settled_before_the_invoked_function_has_started() -> None:
    assert not _watch().settled(max_attempts=3, timeout_s=3)
    assert not _watch(_attempt(1, "ok", function="Other")).settled(max_attempts=3, timeout_s=3)


def test_a_success_after_a_quiet_second_is_settled() -> None:
    assert _watch(_attempt(1, "ok")).settled(max_attempts=3, timeout_s=3)
    assert not _watch(_attempt(1, "ok"), quiet_for=0.2).settled(max_attempts=3, timeout_s=3)


def test_a_failure_with_retries_left_is_not_settled_and_the_last_one_is() -> None:
    assert not _watch(_attempt(1, "error")).settled(max_attempts=3, timeout_s=3)
    assert _watch(_attempt(1, "error"), _attempt(2, "error"), _attempt(3, "error")).settled(max_attempts=3,
                                                                                          timeout_s=3)


def test_an_attempt_without_an_end_is_running_until_its_timeout_has_passed() -> None:
    assert not _watch(_attempt(1, None, started_ago=1.0)).settled(max_attempts=1, timeout_s=3)
    assert _watch(_attempt(1, None, started_ago=4.0)).settled(max_attempts=1, timeout_s=3)
    # Killed (a timeout) with retries left: the retry is still to come.
    assert not _watch(_attempt(1, None, started_ago=4.0)).settled(max_attempts=3, timeout_s=3)
