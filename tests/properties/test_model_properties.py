"""Pure properties of the pipeline's failure path: any scenario `harness.strategies` draws, walked by the
one model of the pipeline (`harness.model.walk`, which decides with `pipeline_common`'s own sharding and
re-shard code), loses no file, loads none twice, and re-shards into smaller shards to a bounded depth.

How a file ends, per run of its job (`walk_reading.RunReading.outcome`), from the walk's events:
- loaded: a `Committed` event put its rows in the database (in this run or before);
- else quarantined and reported: the error handler's `Decided` quarantine lists it;
- else reported: its terminal shard got the worker's JOB FAILED (`Reported`), a `Decided` report
  (needs_attention), or stayed on the error handler's own dead-letter topic (`DeadLettered` by the error
  handler, no decision); or the orchestrator failed before invoking any worker (its failed answer).
A terminal shard is a worker invocation the error handler did not re-shard; each file is in exactly one
terminal shard each time the orchestrator does its work.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.scenario import FUNCTIONS, Scenario
from harness.strategies import jobs, stack_settings
from harness.strategies import scenarios as drawn_scenarios

from .walk_reading import LOST, QUARANTINE, QUARANTINED, RESHARD, walk


def _orchestrator_invoked(scenario: Scenario) -> list[dict[str, Any]]:
    """An expectation that holds whatever fails (the orchestrator is invoked once per run)."""
    return [{"attempts": {"function": "orchestrator", "invocations": scenario.job.runs if scenario.job else 0}}]


def scenarios(**options: Any) -> st.SearchStrategy[Scenario]:
    # The properties walk the model themselves, so the scenarios need not carry its prediction
    # (`predicted_expectations` walks it while drawing): a pipeline whose re-shard never terminates then
    # fails inside a property, which prints the scenario, rather than while the scenario is drawn.
    return drawn_scenarios(expect=_orchestrator_invoked, **options)


# Any fault of the worker and the error handler; poison files that always time out in shards of 2 or more
# (what the error handler re-shards, down to its depth limit); timeouts with other platform failures; and
# the orchestrator's faults too, with the job invoked asynchronously as well (so Lambda retries the
# orchestrator, after its work with fail_after_commit).
SCENARIOS = st.one_of(
    scenarios(),
    scenarios(job=jobs(min_files=2, min_shard_size=2), stack=stack_settings(reshard_depths=(0, 2)),
              functions=["worker"], kinds=["timeout"], targeting=["files"], min_faults=1, max_faults=2),
    scenarios(kinds=["timeout", "out_of_memory", "crash", "fail_after_commit"], min_faults=1),
    scenarios(functions=FUNCTIONS, job=jobs(invocations=("sync", "event"))),
)
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _context(scenario: Scenario, readings) -> str:
    runs = "\n".join(f" run {reading.number} (orchestrated {reading.orchestrated}x):\n{reading.describe()}"
                     for reading in readings)
    return f"\n{scenario.description}\n{runs}"


@PROPERTY
@given(scenario=SCENARIOS)
def test_each_file_ends_loaded_or_quarantined_or_reported_exactly_once(scenario: Scenario) -> None:
    _, readings = walk(scenario)
    for reading in readings:
        for file_id in scenario.file_ids():
            roots = reading.roots(file_id)
            assert len(roots) == reading.orchestrated, (
                f"run {reading.number}: {file_id} is in {len(roots)} shard(s) the orchestrator made, expected "
                f"{reading.orchestrated} (one each time it did its work){_context(scenario, readings)}")
            terminal = reading.holding(file_id, terminal=True)
            assert len(terminal) == reading.orchestrated, (
                f"run {reading.number}: {file_id} ends in {len(terminal)} shard(s) that were not re-sharded, "
                f"expected {reading.orchestrated}{_context(scenario, readings)}")
            outcome = reading.outcome(file_id)
            assert outcome != LOST, (
                f"run {reading.number}: {file_id} is neither loaded nor quarantined nor reported"
                f"{_context(scenario, readings)}")
            if outcome == QUARANTINED and reading.orchestrated == 1:
                assert file_id not in reading.loaded_after


@PROPERTY
@given(scenario=SCENARIOS)
def test_no_file_is_loaded_twice_as_new(scenario: Scenario) -> None:
    walker, readings = walk(scenario)
    new = Counter(file_id for reading in readings for event in reading.events
                  if hasattr(event, "new_file_ids") for file_id in event.new_file_ids)
    twice = sorted(file_id for file_id, count in new.items() if count > 1)
    assert not twice, f"inserted as new more than once: {twice}{_context(scenario, readings)}"
    assert set(new) == walker.loaded
    assert walker.loaded <= set(scenario.file_ids())


@PROPERTY
@given(scenario=SCENARIOS)
def test_reshard_depth_is_bounded_by_max_reshard_depth(scenario: Scenario) -> None:
    _, readings = walk(scenario)
    limit = scenario.stack.max_reshard_depth
    for reading in readings:
        for inv in reading.invocations:
            assert inv.depth <= limit, (
                f"the worker got shard {inv.event['shard_id']} at reshard depth {inv.depth}, over "
                f"max_reshard_depth={limit}{_context(scenario, readings)}")
            for decision in inv.decisions:
                if decision.action == RESHARD:
                    assert inv.depth < limit, f"re-sharded at depth {inv.depth} (limit {limit})"
                if decision.action == QUARANTINE and len(inv.files) > 1:
                    assert inv.depth >= limit, f"quarantined {len(inv.files)} files at depth {inv.depth} < {limit}"


@PROPERTY
@given(scenario=SCENARIOS)
def test_children_are_smaller_than_their_parent_and_make_it_up(scenario: Scenario) -> None:
    _, readings = walk(scenario)
    for reading in readings:
        invoked = [inv.event for inv in reading.invocations]
        for inv in reading.invocations:
            for decision in (d for d in inv.decisions if d.action == RESHARD):
                parent, children = inv.files, [tuple(child["file_ids"]) for child in decision.children]
                where = f"shard {inv.event['shard_id']} {list(parent)} -> {[list(c) for c in children]}"
                assert decision.fault.kind == "timeout", f"{where}: re-sharded after a {decision.fault.kind}"
                assert len(children) >= 2, f"{where}: fewer than two children{_context(scenario, readings)}"
                assert all(0 < len(child) < len(parent) for child in children), (
                    f"{where}: a child is not smaller than its parent{_context(scenario, readings)}")
                assert [file_id for child in children for file_id in child] == list(parent), (
                    f"{where}: the children do not make up the parent{_context(scenario, readings)}")
                for child in decision.children:
                    assert child["reshard_depth"] == inv.depth + 1, f"{where}: child at depth {child['reshard_depth']}"
                    assert child["parent_shard_id"] == inv.event["shard_id"]
                    assert child in invoked, f"{where}: child {child['shard_id']} was never invoked"
                assert len({child["shard_id"] for child in decision.children}) == len(children)


@PROPERTY
@given(scenario=SCENARIOS)
def test_every_dead_letter_of_the_worker_gets_exactly_one_decision(scenario: Scenario) -> None:
    _, readings = walk(scenario)
    handler_faulted = bool(scenario.faults_for("error_handler"))
    for reading in readings:
        for inv in reading.invocations:
            where = f"{inv.describe()}{_context(scenario, readings)}"
            assert len(inv.dead_letters) <= 1, f"dead-lettered twice: {where}"
            if not inv.dead_letters:
                assert not inv.decisions and not inv.kept, f"a decision without a dead letter: {where}"
                continue
            assert not inv.reported, f"both reported by the worker and dead-lettered: {where}"
            assert len(inv.decisions) <= 1, f"{len(inv.decisions)} decisions on one dead letter: {where}"
            if not inv.kept:
                assert len(inv.decisions) == 1, f"a dead letter neither decided nor kept: {where}"
            if not handler_faulted:
                assert len(inv.decisions) == 1 and not inv.kept, where
