"""A stateful test over nights of the soak (issue 27, item 4), on the model and, small, on the stack.

Hypothesis builds a sequence of nights, one rule at a time: run the job (a drawn file count and shard size,
maybe a poison file or timeouts on its full-size shards), skip a night, deploy a wrong table name (every night
from then on gets the soak's `bad_table_name`), roll it back, take the database down for the next night, make
the error handler fail after its work on the next night. Each night is a `harness.soak.nights.Night`, its
faults made by the soak's own `night_kinds` and `night_faults` (the one fault mapping), and the night alone is
the scenario the soak checks it against (`Night.scenario_document`, with what the model of the pipeline
predicts for it, as `harness.strategies.live_predictions` makes it).

Invariants after every step, on the model (the walk of `harness.model.walk`, read per invocation as the pure
properties read it, `walk_reading`):
- every file of every night that ran ends in exactly one way: loaded once, quarantined and reported, or
  reported; and every dead letter of the worker gets exactly one decision;
- a night of a bad deploy (or of the database down) loads nothing, and each of its shards is reported once
  (one JOB FAILED per shard, each file named once), whatever else it drew: the first query fails before
  any file is read, so a poison file or a big shard never gets to time out;
- a night with the right table deployed, per the deploy history (never deployed wrong, or rolled back
  since), and the database up loads every file but those its timeouts quarantine;
- JOB NOT RUN, as the model of CloudWatch's evaluation (`harness.model.alarms`, LocalStack's look-back of
  N + max(N/3, 2) periods) has it with the soak example's 12-hour period, enters ALARM at the deploy (missing
  data, breaching) and then on exactly the first night of each streak of skipped nights, except a streak
  from night 1: the alarm is already in ALARM from the deploy, so that streak was paged at the deploy.
  (`harness.soak.oncall.invariants` expects night 1 too: a soak whose night 1 is skipped breaks it; the live
  form below does not skip night 1.)

The live form (`test_short_machine_runs_hold_every_invariant_of_the_soak_on_the_stack`, integration and slow)
runs two short machine runs of at most four nights of up to four files each, drawn from a fixed seed, as a
soak on the session's stack (`harness.soak.run.run_soak`), and asserts every invariant of
`harness.soak.oncall.invariants`. The planted bugs at the end show that each invariant can fail.
"""

from __future__ import annotations

import bisect
import datetime
import math
import sys
import time
import typing
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from types import FunctionType
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from harness import paths
from harness.model.alarms import alarm_transitions
from harness.scenario import Scenario
from harness.soak.document import FaultKindName, Soak
from harness.soak.nights import DAY_SECONDS, Night, first_night_at, night_faults, night_kinds
from tests.support.mutants import mutants_script

from . import walk_reading

REPO = Path(__file__).resolve().parents[2]
# The soak file's order of fault kinds, as `plan_nights` draws them (the first fault that matches wins).
KINDS: tuple[str, ...] = typing.get_args(FaultKindName)
NO_LOAD = ("bad_table_name", "database_down")
ENDINGS = (walk_reading.LOADED, walk_reading.QUARANTINED, walk_reading.REPORTED)
HALF_DAY = 43_200
START = datetime.datetime(2027, 1, 4, 2, 0, tzinfo=datetime.UTC).timestamp()
"""The first night's scheduled time on the model (the live form re-times the nights from the stack's clock)."""
SOAK = Soak.model_validate({
    "name": "nights", "description": "Nights drawn by the stateful test.", "nights": 30, "job": {"files": 1},
    "stack": {"alarms": {"job_not_run": {"period_seconds": HALF_DAY}}},
})
DEPLOY_BAD, ROLL_BACK, DATABASE_DOWN, HANDLER_FAILS = ("deploy bad table", "roll back", "database down",
                                                       "error handler fails")


@dataclass(frozen=True)
class Outcome:
    """What the model of the pipeline does with one night that ran."""

    endings: dict[str, str]
    """Per file, how it ends (`walk_reading`: loaded, quarantined and reported, reported, or lost)."""
    inserted: Counter[str]
    """Per file, how many times its rows were inserted as new."""
    decisions: list[tuple[int, int]]
    """Per worker invocation that dead-lettered (and whose dead letter the error handler did not keep): its dead
    letters and the error handler's decisions on them."""
    loaded: frozenset[str]
    job_failed: int
    """JOB FAILED the model predicts for the night (`live_predictions`)."""
    named: dict[str, int]
    """Per file not loaded, how many JOB FAILED the model predicts naming it."""


def outcome_of(night: Night, soak: Soak) -> Outcome:
    """The night alone as the soak checks it (its scenario, with the model's predictions), and its walk."""
    document = night.scenario_document(soak)
    _walker, (reading,) = walk_reading.walk(Scenario.model_validate(document))
    inserted: Counter[str] = Counter(file_id for event in reading.events if isinstance(event, walk_reading.Committed)
                                     for file_id in event.new_file_ids)
    decisions = [(len(inv.dead_letters), len(inv.decisions)) for inv in reading.invocations
                 if inv.dead_letters and not inv.kept]
    job_failed, named = 0, {}
    for item in document["expect"]:
        sns = item.get("sns", {})
        if sns.get("subject") == "JOB FAILED" and "field_patterns" in sns:
            named[sns["field_patterns"]["file_ids"].strip('"').replace("\\.", ".")] = sns["count"]
        elif sns.get("subject") == "JOB FAILED":
            job_failed = sns["count"]
    endings = {file_id: reading.outcome(file_id) for file_id in night.file_ids}
    return Outcome(endings, inserted, decisions, frozenset(reading.loaded_after), job_failed, named)


def poison_of(night: Night) -> str | None:
    return next((file_id for fault in night.faults for file_id in fault.get("files", [])), None)


def expected_loaded(night: Night) -> set[str]:
    """The files a night with the right table and the database up loads: all but the poison file, which is
    quarantined; and none when its shards hold one file each and all of them time out (nothing to split)."""
    if "big_shard_timeout" in night.kinds and night.shard_size == 1:
        return set()
    return set(night.file_ids) - {poison_of(night)} if "poison_file" in night.kinds else set(night.file_ids)


def first_nights_of_skipped_streaks(nights: list[Night]) -> list[int]:
    """Night 0 (the deploy: the alarm's first evaluation sees no data, breaching) and the first night of each
    streak of skipped nights but one from night 1 (already in ALARM since the deploy)."""
    firsts, ran_before = [0], True
    for night in nights:
        if not night.runs and ran_before and night.number > 1:
            firsts.append(night.number)
        ran_before = night.runs
    return firsts


def job_not_run_pages(nights: list[Night], soak: Soak, created: float) -> list[int]:
    """The nights on which the model of CloudWatch puts JOB NOT RUN into ALARM (0: before the first night),
    evaluated up to a day after the last night, as `run_soak` moves the clock."""
    starts = [night.at for night in nights]
    # The orchestrator's Invocations datapoint comes just after the night's scheduled time.
    points = [(night.at + 1.0, 1.0) for night in nights if night.runs]
    transitions = alarm_transitions(soak.stack.alarm("job_not_run"), "LessThanThreshold", points, created=created,
                                    until=starts[-1] + DAY_SECONDS)
    return [bisect.bisect_right(starts, transition.at) for transition in transitions if transition.new_state == "ALARM"]


class NightsMachine(RuleBasedStateMachine):
    """Nights of the soak, built rule by rule, checked on the model after every step."""

    MAX_NIGHTS: ClassVar[int] = 10
    MAX_FILES: ClassVar[int] = 8
    MAX_SHARD_SIZE: ClassVar[int] = 4
    SKIP_FIRST_NIGHT: ClassVar[bool] = True
    ACTS_PER_NIGHT: ClassVar[int | None] = None
    """At most this many deploys, rollbacks and outages between two nights (None: any number)."""
    soak: ClassVar[Soak] = SOAK

    def __init__(self) -> None:
        super().__init__()
        self.nights: list[Night] = []
        self.outcomes: dict[int, Outcome] = {}
        self.history: list[str] = []
        """What the rules did besides nights: deploys, rollbacks, outages, in order."""
        self.seen: dict[int, int] = {}
        """Per night, how much of the history came before it."""
        self.table_is_bad = False
        self.tonight: list[str] = []
        """Fault kinds armed for the next night (the database down, the error handler failing)."""
        self.deployed_before = 3_600

    # When the stack was deployed before the first night: any time of day but 12 hours before a night, when
    # an evaluation of JOB NOT RUN falls exactly on each night's scheduled time and a page for a skipped night
    # would be counted on the next one (`oncall.night_of`).
    @initialize(before=st.integers(60, DAY_SECONDS - 60).filter(lambda seconds: seconds != HALF_DAY))
    def deploy(self, before: int) -> None:
        self.deployed_before = before

    # The nights.

    @precondition(lambda self: len(self.nights) < self.MAX_NIGHTS)
    @rule(files=st.integers(1, 8), shard_size=st.integers(1, 4), poison=st.integers(0, 7),
          poison_file=st.booleans(), big_shard_timeout=st.booleans())
    def run_job(self, files: int, shard_size: int, poison: int, poison_file: bool, big_shard_timeout: bool) -> None:
        files, shard_size = min(files, self.MAX_FILES), min(shard_size, self.MAX_SHARD_SIZE)
        drawn = {"poison_file": poison_file, "big_shard_timeout": big_shard_timeout,
                 "bad_table_name": self.table_is_bad}
        drawn.update(dict.fromkeys(self.tonight, True))
        kinds = night_kinds([kind for kind in KINDS if drawn.get(kind)])
        number = len(self.nights) + 1
        run = sum(1 for night in self.nights if night.runs) + 1
        file_ids = [f"{self.soak.name}-n{number:03d}-f-{index:04d}" for index in range(files)]
        faults = night_faults(kinds, file_ids, shard_size, file_ids[poison % files])
        self._add(Night(number, *_when(number), runs=True, run=run, job_id=f"{self.soak.name}-n{number:03d}",
                        file_ids=file_ids, shard_size=shard_size, kinds=kinds, faults=faults))
        self.outcomes[number] = outcome_of(self.nights[-1], self.soak)

    @precondition(lambda self: len(self.nights) < self.MAX_NIGHTS and (self.SKIP_FIRST_NIGHT or self.nights))
    @rule()
    def skip_night(self) -> None:
        number = len(self.nights) + 1
        self._add(Night(number, *_when(number), runs=False, run=None, job_id=f"{self.soak.name}-n{number:03d}"))

    def _add(self, night: Night) -> None:
        self.nights.append(night)
        self.seen[night.number] = len(self.history)
        self.tonight = []  # an outage lasts one night, whether the job ran in it or not

    # The deploys and the outages.

    def _may_act(self) -> bool:
        acted = len(self.history) - (self.seen[len(self.nights)] if self.nights else 0)
        # After the last night anything goes (it changes no night), so that some rule is always possible.
        return self.ACTS_PER_NIGHT is None or acted < self.ACTS_PER_NIGHT or len(self.nights) >= self.MAX_NIGHTS

    @precondition(lambda self: not self.table_is_bad and self._may_act())
    @rule()
    def deploy_bad_table_name(self) -> None:
        self.history.append(DEPLOY_BAD)
        self.table_is_bad = True

    @precondition(lambda self: self.table_is_bad and self._may_act())
    @rule()
    def roll_back(self) -> None:
        self.history.append(ROLL_BACK)
        self._roll_back()

    def _roll_back(self) -> None:
        self.table_is_bad = False

    @precondition(lambda self: "database_down" not in self.tonight and self._may_act())
    @rule()
    def take_the_database_down(self) -> None:
        self.history.append(DATABASE_DOWN)
        self.tonight.append("database_down")

    @precondition(lambda self: "error_handler_fails" not in self.tonight and self._may_act())
    @rule()
    def make_the_error_handler_fail(self) -> None:
        self.history.append(HANDLER_FAILS)
        self.tonight.append("error_handler_fails")

    # Invariants, on the model.

    def _ran(self) -> list[tuple[Night, Outcome]]:
        return [(night, self.outcomes[night.number]) for night in self.nights if night.runs]

    @invariant()
    def every_file_is_loaded_once_or_quarantined_and_reported_or_reported(self) -> None:
        for night, outcome in self._ran():
            for file_id, ending in outcome.endings.items():
                assert ending in ENDINGS, f"{night.label} ({night.kinds}): {file_id} ends {ending}"
                assert outcome.inserted[file_id] <= 1, (
                    f"{night.label}: {file_id} inserted as new {outcome.inserted[file_id]} times")

    @invariant()
    def every_dead_letter_gets_one_decision(self) -> None:
        for night, outcome in self._ran():
            assert all(letters == decisions == 1 for letters, decisions in outcome.decisions), (
                f"{night.label} ({night.kinds}): (dead letters, decisions) per invocation {outcome.decisions}")

    @invariant()
    def a_bad_deploy_or_the_database_down_loads_nothing_and_reports_every_shard(self) -> None:
        for night, outcome in self._ran():
            if not any(kind in night.kinds for kind in NO_LOAD):
                continue
            assert not outcome.loaded & set(night.file_ids), (
                f"{night.label} ({night.kinds}) loaded {sorted(outcome.loaded)}")
            shards = math.ceil(len(night.file_ids) / night.shard_size)
            assert outcome.job_failed == shards, (
                f"{night.label} ({night.kinds}): {outcome.job_failed} JOB FAILED for {shards} shard(s)")
            assert all(outcome.named.get(file_id) == 1 for file_id in night.file_ids), (
                f"{night.label} ({night.kinds}): JOB FAILED naming each file {outcome.named}")

    @invariant()
    def nights_with_the_right_table_and_the_database_up_load_again(self) -> None:
        for night, outcome in self._ran():
            before = self.history[: self.seen[night.number]]
            deploys = [event for event in before if event in (DEPLOY_BAD, ROLL_BACK)]
            if (deploys and deploys[-1] == DEPLOY_BAD) or DATABASE_DOWN in _since_last_night(self.history, self.seen,
                                                                                            night.number):
                continue
            loaded = outcome.loaded & set(night.file_ids)
            rolled_back = " (after a rollback)" if ROLL_BACK in deploys else ""
            assert loaded == expected_loaded(night), (
                f"{night.label}{rolled_back} ({night.kinds}): loaded {sorted(loaded)}, expected "
                f"{sorted(expected_loaded(night))}")

    @invariant()
    def job_not_run_pages_the_first_night_of_each_skipped_streak(self) -> None:
        if not self.nights:
            return
        paged = job_not_run_pages(self.nights, self.soak, START - self.deployed_before)
        expected = first_nights_of_skipped_streaks(self.nights)
        ran = "".join("R" if night.runs else "-" for night in self.nights)
        assert paged == expected, (f"nights {ran} (R ran, - skipped), deployed {self.deployed_before} s before "
                                   f"night 1: JOB NOT RUN entered ALARM on night(s) {paged}, expected {expected}")


def _when(number: int) -> tuple[datetime.date, float]:
    at = START + (number - 1) * DAY_SECONDS
    return datetime.datetime.fromtimestamp(at, datetime.UTC).date(), at


def _since_last_night(history: list[str], seen: dict[int, int], number: int) -> list[str]:
    """The history between the night before `number` and `number`: what was armed for that night."""
    return history[seen.get(number - 1, 0): seen[number]]


NightsMachine.TestCase.settings = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
TestNights = NightsMachine.TestCase


# Each invariant can fail: a bug planted in the machine, the soak's fault mapping, the model or the pipeline's
# own code (a catalog mutant applied in memory), and the machine run again must fail on that invariant.

PLANTED = settings(max_examples=300, deadline=None, database=None, derandomize=True, report_multiple_bugs=False,
                   suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink])


def fails_with(machine: type[NightsMachine], *messages: str) -> str:
    """Run the machine; it must fail with one of `messages` (one invariant's)."""
    with pytest.raises(AssertionError) as caught:
        run_state_machine_as_test(machine, settings=PLANTED)
    assert any(message in str(caught.value) for message in messages), caught.value
    return str(caught.value)


def plant_pure_mutant(monkeypatch: pytest.MonkeyPatch, mutant_id: str) -> None:
    """A mutant of `tests/mutants/catalog.yaml` in `lambdas/common/pipeline_common` (which the model imports),
    planted in memory: every function of its module compiled from the mutated text, and put in place of the
    original in each `pipeline_common` module that holds it (`reshard` imports `child_shards` by name)."""
    mutant = {mutant.id: mutant for mutant in mutants_script().load_catalog()}[mutant_id]
    source = mutant.check_anchor(REPO)
    module = paths.pipeline_common(Path(mutant.file).stem)
    namespace: dict[str, Any] = {"__name__": module.__name__, "__package__": module.__package__}
    exec(compile(source.replace(mutant.old, mutant.new), str(REPO / mutant.file), "exec"), namespace)  # noqa: S102
    holders = [held for name, held in list(sys.modules.items()) if name.split(".")[0] == "pipeline_common"]
    for name, value in namespace.items():
        original = getattr(module, name, None)
        if not isinstance(value, FunctionType) or not isinstance(original, FunctionType):
            continue
        mutated = FunctionType(value.__code__, module.__dict__, name, value.__defaults__, value.__closure__)
        for holder in holders:
            if getattr(holder, name, None) is original:
                monkeypatch.setattr(holder, name, mutated)


class RollbackDoesNotRestore(NightsMachine):
    def _roll_back(self) -> None:
        pass  # planted: the rollback leaves the wrong table name deployed


def test_a_rollback_that_does_not_restore_fails_the_nights_after_it() -> None:
    fails_with(RollbackDoesNotRestore, "(after a rollback)")


def test_a_catalog_mutant_that_drops_a_file_fails_the_one_ending_per_file(monkeypatch: pytest.MonkeyPatch) -> None:
    plant_pure_mutant(monkeypatch, "reshard-drops-last-file")
    fails_with(NightsMachine, "ends lost")


def test_timeouts_listed_before_the_bad_table_fail_the_bad_deploy_night(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.soak import nights

    # Planted: the soak's first fault order, in which a poison file's timeout wins its shard's attempts over the
    # wrong table name, and the files read before it are loaded on a night when no insert can succeed.
    first_order = ("poison_file", "big_shard_timeout", "bad_table_name", "database_down", "error_handler_fails")
    monkeypatch.setattr(nights, "_FAULTS", {kind: nights._FAULTS[kind] for kind in first_order})
    # (Shrunk, the smallest night that shows it may be the poison file's split shards each reported instead.)
    fails_with(NightsMachine, ") loaded [", "JOB FAILED for")


def test_a_model_that_forgets_the_error_handlers_reports_fails_every_shard_reported(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.strategies

    reports = harness.strategies._job_failed_reports

    def workers_only(events: list[Any], ids: list[str]) -> tuple[int, dict[str, int]]:
        return reports([event for event in events if not isinstance(event, walk_reading.Decided)], ids)

    monkeypatch.setattr(harness.strategies, "_job_failed_reports", workers_only)
    fails_with(NightsMachine, "JOB FAILED for")


def test_a_model_that_decides_twice_fails_one_decision_per_dead_letter(monkeypatch: pytest.MonkeyPatch) -> None:
    def decides_twice(self: Any, *args: Any) -> None:
        walk_reading.Walk._decide(self, *args)
        walk_reading.Walk._decide(self, *args)

    monkeypatch.setattr(walk_reading.GuardedWalk, "_decide", decides_twice)
    fails_with(NightsMachine, "(dead letters, decisions) per invocation")


class DesignPeriod(NightsMachine):
    # The design's 1-day period: CloudWatch's evaluation range still holds the run of the night before.
    soak = SOAK.model_copy(update={"stack": SOAK.stack.model_copy(update={"alarms": SOAK.stack.alarms.model_copy(
        update={"job_not_run": SOAK.stack.alarms.job_not_run.model_copy(update={"period_seconds": DAY_SECONDS})})})})


def test_the_designs_one_day_period_misses_skipped_nights() -> None:
    fails_with(DesignPeriod, "JOB NOT RUN entered ALARM on night(s) [0], expected [0, ")


# The live form: short machine runs, each a soak on the session's stack.

# Two machine runs, drawn from the seed derandomize derives (from the machine's name too): a first soak of a
# bad deploy and then two skipped nights; a second of a poison file with the error handler failing after its
# work (a redelivered dead letter), a clean night, a skipped one, and timeouts on big shards with a bad deploy.
# About 20-25 s on 2 cores.
LIVE = settings(max_examples=2, stateful_step_count=8, derandomize=True, database=None, deadline=None,
                phases=[Phase.generate], suppress_health_check=list(HealthCheck))
LIVE_MIN_STEPS = 4


class LiveNights(NightsMachine):
    """At most four nights of up to four files; night 1 runs (see the module's docstring); each machine run ends
    with its nights run as a soak on the stack, and every invariant of the soak's on-call view checked."""

    MAX_NIGHTS = 4
    MAX_FILES = 4
    SKIP_FIRST_NIGHT = False
    ACTS_PER_NIGHT = 1
    resources: ClassVar[Any] = None
    replay_dir: ClassVar[Path | None] = None
    soaks: ClassVar[list[Any]] = []

    def teardown(self) -> None:
        if not any(night.runs for night in self.nights):
            return
        from harness.soak.oncall import invariants, received
        from harness.soak.run import run_soak

        soak = self.soak.model_copy(update={"nights": len(self.nights)})
        start = first_night_at(soak, time.time())
        nights = [replace(night, at=start + (night.number - 1) * DAY_SECONDS,
                          date=datetime.datetime.fromtimestamp(start + (night.number - 1) * DAY_SECONDS,
                                                               datetime.UTC).date()) for night in self.nights]
        run = run_soak(soak, self.resources, replay_dir=self.replay_dir, nights=nights)
        self.soaks.append(run)
        assert run.error is None, run.error
        broken = [check for check in invariants(run, received(run, run.alarm_names)) if not check.held]
        plan = "; ".join(f"{night.label}: {night.kinds if night.runs else 'skipped'}" for night in nights)
        assert not broken, "\n".join(f"{check.name}: {check.detail}" for check in broken) + f"\n({plan})"


@pytest.mark.integration
@pytest.mark.slow
def test_short_machine_runs_hold_every_invariant_of_the_soak_on_the_stack(harness_resources: Any,
                                                                         tmp_path: Path) -> None:
    machine = type("LiveNightsOnTheStack", (LiveNights,), {"resources": harness_resources, "replay_dir": tmp_path,
                                                           "soaks": []})
    started = time.monotonic()
    run_state_machine_as_test(machine, settings=LIVE, _min_steps=LIVE_MIN_STEPS)
    nights = [result.night for run in machine.soaks for result in run.nights]
    print(f"{len(machine.soaks)} soak(s), {len(nights)} night(s) in {time.monotonic() - started:.1f} s "
          f"({', '.join(f'{run.wall_seconds:.1f} s' for run in machine.soaks)}): "
          + " | ".join(f"{night.number}:{night.kinds if night.runs else 'skipped'}" for night in nights))
    # The draws are Hypothesis's, from a fixed seed: if a new version of it or of the machine draws runs that
    # no longer skip a night or deploy a bad table name, choose the step counts again.
    assert any(not night.runs for night in nights), "the drawn runs skipped no night"
    assert any("bad_table_name" in night.kinds for night in nights), "the drawn runs deployed no bad table name"
