"""What every expectation kind has: its model's base, the verdict a check gives, and the shape of a kind in a
scenario file (a one-key mapping whose key names it, `- dlq: {count: 1}`).

A kind is one module of this package: its model (the settings a file gives, with their shape checked by
pydantic), its validation against the rest of the scenario (`validate`, a pass the loader makes before
anything is deployed), its check (`check`, pure: does it hold on one snapshot of what the stack showed), its
timing traits (which the engine and the deadlines read) and how its verdict reads in a report. The
snapshot and the scenario reach a kind as arguments: this package imports neither the engine nor the
documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field
from pydantic_core import PydanticCustomError

from harness.format import Loc, ScenarioModel, ScenarioProblems, duplicates

if TYPE_CHECKING:
    from harness.expect.snapshot import Snapshot

Problems = list[tuple[Loc, str]]


@dataclass(frozen=True)
class Verdict:
    """Whether an expectation holds on one snapshot, in words a person can compare."""

    holds: bool
    expected: str
    observed: str
    final: bool = False
    """True when nothing still to come can change it (a state that must never be entered was entered)."""
    at: Loc = ()
    """The setting of the expectation it is about, like `("fields", "order_id")`, when one setting is the
    reason: a report then points at that setting's line and column rather than at the expectation's."""


def count_text(count: int | None, min_count: int | None) -> str:
    """`exactly 3` or `at least 1`, from an expectation's count/min_count pair."""
    return f"exactly {count}" if count is not None else f"at least {min_count}"


def count_holds(found: int, count: int | None, min_count: int | None) -> bool:
    return found == count if count is not None else found >= (min_count or 0)


class ExpectationBase(ScenarioModel):
    """What every kind has, and the facts about its timing that the engine and the deadlines read.

    A kind that differs from the defaults (it waits for alarms, it holds for good once it holds, it is
    proved only by a whole window) says so here on its own model, and nowhere else."""

    PIPELINE_ONLY: ClassVar[tuple[str, ...]] = ()
    """Settings that need the seed pipeline (its files, its runs, its database); refused on a template of
    your own. A kind that is all pipeline says `("*",)`."""

    kind: str
    """The kind's name, the item's key in the file (each kind's model narrows it to its own literal)."""
    within_seconds: float | None = Field(default=None, gt=0, le=30 * 86400)
    """Deadline from the start of the job, on the stack's clock. Omitted: derived from the stack's own
    Timeouts, retry delays and alarm periods."""

    def awaited_alarms(self, scenario: Any) -> list[tuple[str, int]]:
        """The alarms whose evaluations decide it, any one of them, each with the number of states it must
        enter: its deadline follows CloudWatch's evaluation clock. []: it waits for the pipeline."""
        return []

    def time_driven(self, scenario: Any) -> bool:
        """Decided by the alarms' evaluation clock, not by the pipeline: an idle pipeline says nothing
        about whether it is done, so only its deadline can fail it."""
        return bool(self.awaited_alarms(scenario))

    @property
    def monotone(self) -> bool:
        """Once it holds, nothing that can still be observed makes it false, so it needs no settling."""
        return False

    @property
    def needs_whole_window(self) -> bool:
        """It can only pass at its deadline: something that must never happen, watched until then."""
        return False

    def validate(self, scenario: Any, at: Loc) -> Problems:
        """What it needs of the rest of the scenario that the scenario lacks (before anything is deployed)."""
        return []

    def check(self, snapshot: Snapshot) -> Verdict:
        raise NotImplementedError

    def report_lanes(self) -> set[tuple[str, str]]:
        """The (event type, lane pattern) pairs of the report's timeline it is about: its row links to them."""
        return set()


def count_problems(count: int | None, min_count: int | None) -> Problems:
    if count is not None and min_count is not None:
        return [(("min_count",), "give either count (exactly) or min_count (at least), not both")]
    if count is None and min_count is None:
        return [((), "missing required key 'count' (exactly this many) or 'min_count' (at least)")]
    return []


def raise_if(problems: Problems) -> None:
    if problems:
        raise ScenarioProblems(problems)


def names_problems(at: Loc, field: str, name: str, known: Sequence[str], what: str) -> Problems:
    """A name the scenario uses that its stack does not have, with a did-you-mean."""
    if name in known:
        return []
    from harness.format import did_you_mean

    return [((*at, field), f"{name!r} is not a {what} of the stack{did_you_mean(name, known)} "
                           f"(its {what}s: {', '.join(known) or 'none'})")]


class KeyedUnion:
    """Marks a union whose tag is the item's only key in YAML (so the tag is part of the YAML path)."""


def key_to_kind(value: Any) -> Any:
    """`{"dlq": {...}}` -> `{"kind": "dlq", ...}`; anything else is reported in the scenario's words."""
    if not isinstance(value, dict):
        raise PydanticCustomError(
            "expectation_shape",
            "an expectation is a mapping with one key naming its kind, like `- dlq: {count: 1}`",
        )
    if len(value) != 1:
        keys = ", ".join(str(key) for key in value) or "none"
        raise PydanticCustomError(
            "expectation_shape",
            "an expectation has exactly one key naming its kind, got {n}: {keys}; start a new `- ` item for each",
            {"n": len(value), "keys": keys},
        )
    ((key, settings),) = value.items()
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise PydanticCustomError(
            "expectation_shape", "`{key}:` takes a mapping of settings, got {got}",
            {"key": str(key), "got": repr(settings)}
        )
    if "kind" in settings:
        raise PydanticCustomError("expectation_shape", "`kind` is not a setting: the item's key names its kind")
    return {**settings, "kind": key}


def repeated_problems(field: str, values: Sequence[str], what: str = "") -> Problems:
    return [((field, index), f"{what}{value!r} is listed twice") for index, value in duplicates(list(values))]
