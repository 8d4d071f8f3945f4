from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pipeline_common.events import Job, Shard
from pipeline_common.sharding import child_shards, chunk, shards_for_job, split_evenly

file_id_lists = st.lists(st.text(min_size=1, max_size=12), unique=True, max_size=200)


@given(file_ids=file_id_lists.filter(bool), shard_size=st.integers(min_value=1, max_value=50))
def test_shards_cover_every_file_once_in_order_within_the_size(file_ids: list[str], shard_size: int) -> None:
    shards = shards_for_job(Job(job_id="j", file_ids=tuple(file_ids), shard_size=shard_size))

    flattened = [file_id for shard in shards for file_id in shard.file_ids]
    assert flattened == file_ids  # each ID exactly once, order preserved
    assert all(1 <= len(shard.file_ids) <= shard_size for shard in shards)
    assert len(shards) == -(-len(file_ids) // shard_size)
    assert len({shard.shard_id for shard in shards}) == len(shards)


@given(file_ids=file_id_lists.filter(lambda ids: len(ids) >= 2), parts=st.integers(min_value=2, max_value=6))
def test_reshard_children_partition_the_parent_into_smaller_shards(file_ids: list[str], parts: int) -> None:
    parent = Shard(job_id="j", shard_id="0007", file_ids=tuple(file_ids), reshard_depth=1)

    children = child_shards(parent, parts)

    assert [file_id for child in children for file_id in child.file_ids] == file_ids
    assert all(0 < len(child.file_ids) < len(file_ids) for child in children)
    sizes = [len(child.file_ids) for child in children]
    assert max(sizes) - min(sizes) <= 1
    assert [child.shard_id for child in children] == [f"0007.{i}" for i in range(len(children))]
    assert {child.reshard_depth for child in children} == {2}
    assert {child.parent_shard_id for child in children} == {"0007"}


def test_forty_files_in_shards_of_ten() -> None:
    ids = tuple(f"f{i:03d}" for i in range(40))
    shards = shards_for_job(Job(job_id="job-1", file_ids=ids, shard_size=10))
    assert [shard.shard_id for shard in shards] == ["0000", "0001", "0002", "0003"]
    assert [len(shard.file_ids) for shard in shards] == [10, 10, 10, 10]
    assert shards[3].file_ids == ids[30:]


def test_last_shard_holds_the_remainder() -> None:
    assert chunk(["a", "b", "c", "d", "e"], 2) == [("a", "b"), ("c", "d"), ("e",)]


def test_split_evenly_never_makes_empty_shards() -> None:
    assert split_evenly(["a", "b"], 5) == [("a",), ("b",)]
    assert split_evenly(["a", "b", "c", "d", "e"], 2) == [("a", "b", "c"), ("d", "e")]


def test_child_ids_are_deterministic() -> None:
    parent = Shard(job_id="j", shard_id="0001.1", file_ids=("a", "b", "c"), reshard_depth=1)
    assert child_shards(parent, 2) == child_shards(parent, 2)
    assert [c.shard_id for c in child_shards(parent, 2)] == ["0001.1.0", "0001.1.1"]


@pytest.mark.parametrize("size", [0, -1])
def test_chunk_rejects_sizes_below_one(size: int) -> None:
    with pytest.raises(ValueError, match="size must be >= 1"):
        chunk(["a"], size)


def test_shard_event_round_trip() -> None:
    from pipeline_common.events import parse_shard

    shard = Shard(job_id="j", shard_id="0000.1", file_ids=("a", "b"), reshard_depth=1, parent_shard_id="0000")
    assert parse_shard(shard.to_event()) == shard
