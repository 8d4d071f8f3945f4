from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """Whether an expectation holds on one snapshot, in words a person can compare."""

    holds: bool
    expected: str
    observed: str
    final: bool = False
    """True when nothing still to come can change it (a state that must never be entered was entered)."""


def count_text(count: int | None, min_count: int | None) -> str:
    """`exactly 3` or `at least 1`, from an expectation's count/min_count pair."""
    return f"exactly {count}" if count is not None else f"at least {min_count}"


def count_holds(found: int, count: int | None, min_count: int | None) -> bool:
    return found == count if count is not None else found >= (min_count or 0)
