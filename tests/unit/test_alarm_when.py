"""An alarm transition's `when`: `not_after` is a page that must come in time (a skipped night's JOB NOT RUN
before the next night), as `not_before` is one that must not come early."""

from __future__ import annotations

from harness.kinds.alarm import TransitionTime

DAY = 86_400.0


def test_not_after_fails_a_transition_that_comes_later_and_says_how_late() -> None:
    by_two_days = TransitionTime.model_validate({"not_after": 2 * DAY})
    assert by_two_days.problem(1.5 * DAY, 0.0) is None
    assert by_two_days.problem(2 * DAY, 0.0) is None
    late = by_two_days.problem(3 * DAY, 0.0)
    assert late is not None and "later than 2 days" in late and "3 days 0 h after the job's start" in late
    assert by_two_days.text() == "no later than 2 days 0 h after the job's start"


def test_not_after_counts_from_the_previous_transition_when_told() -> None:
    after_ok = TransitionTime.model_validate({"not_after": DAY, "from": "previous"})
    assert after_ok.problem(10 * DAY, 9.5 * DAY) is None
    assert "after the transition before" in (after_ok.problem(10 * DAY, 8 * DAY) or "")
