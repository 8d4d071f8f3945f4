from __future__ import annotations

import pytest
from pipeline_common.events import Shard
from pipeline_common.reshard import QUARANTINE, REPORT, RESHARD, decide

TIMEOUT = "RequestId: 1f2e Error: Task timed out after 2.00 seconds"


def shard(n_files: int, depth: int = 0, shard_id: str = "0002") -> Shard:
    return Shard(job_id="j", shard_id=shard_id, file_ids=tuple(f"f{i}" for i in range(n_files)), reshard_depth=depth)


def test_a_timed_out_shard_is_split_in_halves() -> None:
    decision = decide(shard(5), TIMEOUT, factor=2, max_depth=10)
    assert decision.action == RESHARD
    assert [c.file_ids for c in decision.children] == [("f0", "f1", "f2"), ("f3", "f4")]
    assert [c.shard_id for c in decision.children] == ["0002.0", "0002.1"]
    assert [c.reshard_depth for c in decision.children] == [1, 1]


def test_the_factor_sets_the_number_of_children() -> None:
    decision = decide(shard(9), TIMEOUT, factor=3, max_depth=10)
    assert [len(c.file_ids) for c in decision.children] == [3, 3, 3]


def test_a_single_file_that_times_out_is_quarantined_not_retried() -> None:
    decision = decide(shard(1, depth=3), TIMEOUT, factor=2, max_depth=10)
    assert decision.action == QUARANTINE
    assert decision.reason == "quarantined"
    assert decision.children == ()


def test_the_depth_limit_quarantines_instead_of_splitting_further() -> None:
    decision = decide(shard(4, depth=2), TIMEOUT, factor=2, max_depth=2)
    assert decision.action == QUARANTINE
    assert "MAX_RESHARD_DEPTH=2" in decision.detail


@pytest.mark.parametrize("error", ["division by zero", 'relation "s.rowz" does not exist', "", None])
def test_other_errors_are_reported_for_a_person(error: str | None) -> None:
    decision = decide(shard(4), error, factor=2, max_depth=10)
    assert (decision.action, decision.reason, decision.children) == (REPORT, "needs_attention", ())


def test_an_invalid_dead_lettered_event_is_reported_even_on_timeout() -> None:
    assert decide(None, TIMEOUT, factor=2, max_depth=10).action == REPORT


def test_repeated_resharding_terminates_with_every_file_quarantined_alone() -> None:
    pending = [shard(13)]
    quarantined: list[tuple[str, ...]] = []
    steps = 0
    while pending:
        steps += 1
        assert steps < 100
        current = pending.pop()
        decision = decide(current, TIMEOUT, factor=2, max_depth=10)
        if decision.action == QUARANTINE:
            quarantined.append(current.file_ids)
        pending.extend(decision.children)
    assert steps == 2 * 13 - 1  # a binary tree with 13 leaves
    assert sorted(quarantined) == sorted((f"f{i}",) for i in range(13))
