"""The plan of a soak: for each night, whether the job runs, its files, and the faults drawn for it, all from
the soak's seed before anything is deployed.

A night that runs is one run of the job on the soak's one stack; its faults are scenario faults that target
that run (`runs: [n]`), so the fault wrapper strikes only that night's invocations. The same night, alone,
is a scenario (`Night.scenario_document`): the replay file of a night that breaks an invariant.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from harness.faults import plan
from harness.scenario import Scenario
from harness.scenario.loader import load_document
from harness.strategies import live_predictions

from .document import Soak

DAY_SECONDS = 86_400

# What each fault kind of a soak file is, as faults of the scenario format (`{file}` is the poison file), in
# the order a night's faults are listed: the first that matches an attempt wins, so the database down and a
# wrong table name come before the timeouts. Either fails the worker's first query, before a file is read (a
# timeout listed first would win the poison file's shard and load the files before it on a night when no
# insert can succeed).
_FAULTS: dict[str, list[dict[str, Any]]] = {
    "database_down": [{"function": "worker", "kind": "db_unreachable"}],
    "bad_table_name": [{"function": "worker", "kind": "bad_table"}],
    "poison_file": [{"function": "worker", "kind": "timeout", "files": ["{file}"]}],
    "big_shard_timeout": [{"function": "worker", "kind": "timeout", "min_shard_size": "{shard_size}"}],
    "error_handler_fails": [{"function": "error_handler", "kind": "fail_after_commit", "attempts": [1]}],
}
# The error handler's failure needs a dead letter to redeliver: a night that draws it but nothing that
# dead-letters gets a poison file too (it says so), or it would test nothing of it.
_DEAD_LETTERING = ("poison_file", "big_shard_timeout", "database_down")


@dataclass(frozen=True)
class Night:
    """One night of the soak."""

    number: int
    """1 is the first night."""
    date: datetime.date
    at: float
    """Its scheduled time, epoch seconds on the stack's clock."""
    runs: bool
    run: int | None
    """Which run of the job on the stack (nights that run, counted); None on a skipped night."""
    job_id: str
    file_ids: list[str] = field(default_factory=list)
    shard_size: int = 10
    kinds: list[str] = field(default_factory=list)
    """The soak fault kinds the night drew."""
    faults: list[dict[str, Any]] = field(default_factory=list)
    """Those kinds as faults of the scenario format (without `runs`: as the night alone has them)."""

    @property
    def label(self) -> str:
        return f"night {self.number} ({self.date.isoformat()})"

    def scenario_document(self, soak: Soak, *, with_predictions: bool = True) -> dict[str, Any]:
        """The night alone as a scenario document: its job, the soak's stack, its faults, and what the model of
        the pipeline predicts for it (each file loaded once, or quarantined and reported, or reported; the
        notifications), which is what the soak checks the night against."""
        stack = soak.stack.model_dump(mode="json", exclude_defaults=True)
        kinds = ", ".join(self.kinds) or "no fault"
        document: dict[str, Any] = {
            "name": self.job_id,
            "description": f"{self.label} of the soak {soak.name} ({soak.source_file or 'a soak'}): {kinds}.",
            **({"stack": stack} if stack else {}),
            "job": {"file_ids": list(self.file_ids), "shard_size": self.shard_size, "job_id": self.job_id},
            "faults": [dict(fault) for fault in self.faults],
            "expect": [{"database": {"loaded_exactly_once": "all"}}],
        }
        if with_predictions:
            document["expect"] = live_predictions(Scenario.model_validate(document))
        return document

    def scenario(self, soak: Soak) -> Scenario:
        scenario = load_document(self.scenario_document(soak), origin=f"{self.label} of {soak.name}")
        assert isinstance(scenario, Scenario)
        return scenario

    def stack_faults(self) -> list[dict[str, Any]]:
        """The night's faults as the soak's stack has them: each only for this night's run."""
        return [{**fault, "runs": [self.run]} for fault in self.faults] if self.run is not None else []


def first_night_at(soak: Soak, now: float) -> float:
    """The first night's scheduled time, epoch seconds (UTC): on start_date, else the first after `now`."""
    day = soak.start_date or datetime.datetime.fromtimestamp(now, datetime.UTC).date()
    at = datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC).timestamp()
    at += soak.schedule.seconds_of_day()
    if soak.start_date is None and at <= now:
        at += DAY_SECONDS
    return at


def plan_nights(soak: Soak, now: float) -> list[Night]:
    """Every night of the soak, drawn from its seed: the same soak file gives the same nights (their dates
    follow `now`, the stack's clock, unless the file gives start_date)."""
    start = first_night_at(soak, now)
    nights: list[Night] = []
    run = 0
    for number in range(1, soak.nights + 1):
        skipped = number in soak.schedule.skip or _draw(soak, number, "skip") < soak.schedule.skip_probability
        job_id = f"{soak.name}-n{number:03d}"
        at = start + (number - 1) * DAY_SECONDS
        date = datetime.datetime.fromtimestamp(at, datetime.UTC).date()
        if skipped:
            nights.append(Night(number, date, at, runs=False, run=None, job_id=job_id))
            continue
        run += 1
        files = [f"n{number:03d}-f-{index:04d}" for index in range(soak.job.files_on(number))]
        kinds = night_kinds([kind for kind, chance in soak.faults.chances().items()
                             if number in (chance.nights or []) or _draw(soak, number, kind) < (chance.probability or 0)
                             ])
        poison = files[int(_draw(soak, number, "poison") * len(files))]
        nights.append(Night(number, date, at, runs=True, run=run, job_id=job_id, file_ids=files,
                            shard_size=soak.job.shard_size, kinds=kinds,
                            faults=night_faults(kinds, files, soak.job.shard_size, poison)))
    return nights


def _draw(soak: Soak, night: int, what: str) -> float:
    """The seeded draw for one decision of one night, in [0, 1): the fault wrapper's (`harness.faults.plan`),
    keyed by the night and the decision, so that changing one chance does not redraw every other night."""
    return plan.draw(soak.seed, f"soak-night-{night}", [what], 0)


def night_kinds(drawn: list[str]) -> list[str]:
    """The fault kinds of a night that drew `drawn`: with `poison_file` added when it drew the error handler's
    failure but nothing that dead-letters."""
    if "error_handler_fails" in drawn and not any(kind in _DEAD_LETTERING for kind in drawn):
        return [*drawn, "poison_file"]
    return list(drawn)


def night_faults(kinds: list[str], files: list[str], shard_size: int, poison: str) -> list[dict[str, Any]]:
    """A night's fault kinds as faults of the scenario format (without `runs`), in the order in which they take
    effect (`_FAULTS`, whatever the order of `kinds`); `poison` is the file that `poison_file` times out."""
    faults = []
    for kind in (kind for kind in _FAULTS if kind in kinds):
        for template in _FAULTS[kind]:
            fault = {key: _fill(value, poison, shard_size) for key, value in template.items()}
            faults.append(fault)
    return faults


def _fill(value: Any, poison: str, shard_size: int) -> Any:
    if value == "{shard_size}":
        return shard_size
    if isinstance(value, list):
        return [poison if item == "{file}" else item for item in value]
    return value
