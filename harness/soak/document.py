"""The soak file: how many nights, when the job runs, what it holds each night, and which faults each night may
draw. Validated as a scenario file is (every problem at its line and column, with a did-you-mean), by the
same loader.

    name: month
    description: A month of nightly loads.
    nights: 30
    seed: 7
    schedule: {at: "02:00", skip: [9, 20, 21]}
    job: {files: 12, growth: 1, shard_size: 4}
    faults:
      poison_file: {probability: 0.15}
      bad_table_name: {nights: [14, 15]}

A night's faults are drawn from `seed` when the soak is planned (`harness.soak.nights`), so a soak is the
same every time it runs; the plan says which night got what before anything is deployed.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from harness.format import Loc, ScenarioProblems, SourceLocated, Text, duplicates
from harness.format.catalog import NIGHTS_LIMIT
from harness.format.common import ScenarioModel, Slug
from harness.scenario import ScenarioError
from harness.scenario.loader import load_model_file
from harness.scenario.pipeline import StackSettings

FaultKindName = Literal["poison_file", "big_shard_timeout", "bad_table_name", "database_down", "error_handler_fails"]
FILES_LIMIT = 1000
"""Files in one night's job: the soak runs every night on one stack, so a night stays small."""


class Schedule(ScenarioModel):
    """When the job runs: every night at `at` (UTC, on the stack's clock), except the nights skipped."""

    at: str = "02:00"
    """The time of day the job is triggered, HH:MM in UTC."""
    skip: list[int] = []
    """Nights (1 is the first) when the job does not run: the scheduler was down, say. JOB NOT RUN must fire."""
    skip_probability: float = Field(default=0.0, ge=0, le=1)
    """Chance that any other night is skipped as well, drawn from the soak's seed."""

    @field_validator("at")
    @classmethod
    def _check_at(cls, value: str) -> str:
        match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value)
        if not match:
            raise ValueError(f"expected a time of day as HH:MM (00:00 to 23:59), got {value!r}")
        return value

    def seconds_of_day(self) -> int:
        hours, minutes = self.at.split(":")
        return int(hours) * 3600 + int(minutes) * 60


class NightlyJob(ScenarioModel):
    """The job of each night: its own file IDs (night 7's are n07-f-0000, ...), sharded by the orchestrator."""

    files: int = Field(ge=1, le=FILES_LIMIT)
    """Files in the first night's job."""
    growth: int = Field(default=0, ge=0, le=100)
    """Files added each night after the first (a job that grows)."""
    shard_size: int = Field(default=10, ge=1)
    """How many files the orchestrator puts in each worker invocation."""

    def files_on(self, night: int) -> int:
        return min(FILES_LIMIT, self.files + self.growth * (night - 1))


class Chance(ScenarioModel):
    """Which nights a fault kind strikes: each night with a probability (drawn from the soak's seed), or the
    nights listed, or both."""

    probability: float | None = Field(default=None, ge=0, le=1)
    """Chance that a night that runs gets this fault."""
    nights: list[int] | None = Field(default=None, min_length=1)
    """Nights that get it whatever the draw (a bad deploy on nights 14 and 15, rolled back for night 16)."""

    @model_validator(mode="after")
    def _check(self) -> Chance:
        problems: list[tuple[Loc, str]] = []
        if self.probability is None and self.nights is None:
            problems.append(((), "give a probability, nights, or both"))
        for index, value in duplicates([str(night) for night in self.nights or []]):
            problems.append((("nights", index), f"night {value} is listed twice"))
        if problems:
            raise ScenarioProblems(problems)
        return self


class SoakFaults(ScenarioModel):
    """The fault kinds a night may draw, each with its chance. Omitted: never."""

    poison_file: Chance | None = None
    """One file of the night always times out in the worker: its shard is dead-lettered and re-sharded until
    the file is alone, then it is quarantined and reported (JOB FAILED); the others are loaded."""
    big_shard_timeout: Chance | None = None
    """Every full-size shard times out (the night's files are too big for the worker's Timeout): each is
    dead-lettered and re-sharded into halves, which load."""
    bad_table_name: Chance | None = None
    """A deploy with a wrong table name: the worker meets a logical error and reports it (one JOB FAILED per
    shard, nothing loaded). The nights after are the rollback."""
    database_down: Chance | None = None
    """The database refuses the worker's connections all night (transient: raised, retried, dead-lettered)."""
    error_handler_fails: Chance | None = None
    """The error handler fails after its work on its first attempt; Lambda redelivers the dead letter, which
    it must recognise (one decision per dead letter)."""

    def chances(self) -> dict[str, Chance]:
        return {kind: chance for kind, chance in self if chance is not None}


class Soak(SourceLocated):
    """Many nights of the seed pipeline on one stack and one database, on the stack's clock."""

    name: Slug
    """The soak's name: its stack's prefix and the start of every night's job ID."""
    description: Text
    """What the soak stands for, for a person reading the file or its page."""
    nights: int = Field(ge=1, le=NIGHTS_LIMIT)
    """How many nights, from start_date."""
    start_date: datetime.date | None = None
    """The date of the first night. Omitted: the first night is the next scheduled time after the stack is
    deployed (a stack's clock starts at the wall clock's time, and only moves forward)."""
    seed: int = 0
    """Seed of every draw: the same seed, the same nights."""
    schedule: Schedule = Schedule()
    job: NightlyJob
    faults: SoakFaults = SoakFaults()
    stack: StackSettings = StackSettings()
    """The pipeline's settings, as a scenario's `stack:`; omitted, the template's (JOB NOT RUN over 1 day)."""

    @field_validator("start_date", mode="before")
    @classmethod
    def _date(cls, value: object) -> object:
        # YAML reads 2027-01-01 as a date already; a quoted one arrives as text.
        return datetime.date.fromisoformat(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_nights(self) -> Soak:
        problems: list[tuple[Loc, str]] = []
        listed: list[tuple[Loc, list[int]]] = [(("schedule", "skip"), self.schedule.skip)]
        listed += [(("faults", kind, "nights"), chance.nights or []) for kind, chance in self.faults.chances().items()]
        for at, nights in listed:
            problems += [((*at, index), f"night {night} is not one of the soak's nights (1 to {self.nights})")
                         for index, night in enumerate(nights) if not 1 <= night <= self.nights]
        for index, night in duplicates([str(night) for night in self.schedule.skip]):
            problems.append((("schedule", "skip", index), f"night {night} is listed twice"))
        if problems:
            raise ScenarioProblems(problems)
        return self


def load_soak(path: str | Path) -> Soak:
    """Load and validate a soak file; raise `ScenarioError` listing every problem, each at its line:col."""
    soak, _source, problems = load_model_file(Path(path), lambda _data: Soak, what="a soak file")
    if problems or soak is None:
        raise ScenarioError(problems)
    return soak
