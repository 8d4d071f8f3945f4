"""Expectation kinds: one module each (its model, its validation against the scenario, its check, its timing
traits and how its verdict reads), and the union a scenario's `expect:` list is made of.

The union is `Expectation`; the registry of kinds (`KINDS`, kind name -> model) is derived from it. A new kind
is a new module here and one more member of the union.
"""

from __future__ import annotations

from typing import Annotated, get_args

from pydantic import BeforeValidator, Field

from .alarm import AlarmExpectation
from .attempts import AttemptsExpectation
from .base import ExpectationBase, KeyedUnion, Problems, Verdict, key_to_kind
from .database import DatabaseExpectation
from .dlq import DlqExpectation
from .reshard import ReshardExpectation
from .result import ResultExpectation
from .sns import SnsExpectation
from .sqs import SqsExpectation

Expectation = Annotated[
    AttemptsExpectation | DlqExpectation | SnsExpectation | SqsExpectation | AlarmExpectation | ReshardExpectation
    | DatabaseExpectation | ResultExpectation,
    Field(discriminator="kind"),
    BeforeValidator(key_to_kind),
    KeyedUnion(),
]
"""An expectation: a one-key mapping in the file, whose key names its kind (`- dlq: {count: 1}`)."""

KINDS: dict[str, type[ExpectationBase]] = {
    get_args(model.model_fields["kind"].annotation)[0]: model for model in get_args(get_args(Expectation)[0])
}
"""Kind name -> its model, in the union's order."""
EXPECTATION_KINDS: tuple[str, ...] = tuple(KINDS)

__all__ = [
    "EXPECTATION_KINDS",
    "KINDS",
    "AlarmExpectation",
    "AttemptsExpectation",
    "DatabaseExpectation",
    "DlqExpectation",
    "Expectation",
    "ExpectationBase",
    "KeyedUnion",
    "Problems",
    "ResultExpectation",
    "ReshardExpectation",
    "SnsExpectation",
    "SqsExpectation",
    "Verdict",
]
