"""Splitting file IDs into shards: first by the orchestrator, then again on timeouts."""

from __future__ import annotations

from collections.abc import Sequence

from .events import Job, Shard


def chunk(file_ids: Sequence[str], size: int) -> list[tuple[str, ...]]:
    """Consecutive chunks of at most `size` IDs, in order."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    return [tuple(file_ids[start : start + size]) for start in range(0, len(file_ids), size)]


def split_evenly(file_ids: Sequence[str], parts: int) -> list[tuple[str, ...]]:
    """`min(parts, len(file_ids))` consecutive chunks whose sizes differ by at most one."""
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    parts = min(parts, len(file_ids))
    base, extra = divmod(len(file_ids), parts)
    chunks: list[tuple[str, ...]] = []
    start = 0
    for index in range(parts):
        end = start + base + (1 if index < extra else 0)
        chunks.append(tuple(file_ids[start:end]))
        start = end
    return chunks


def root_shard_id(index: int) -> str:
    # Zero padding keeps shard IDs in job order when sorted as text, which makes reports readable.
    return f"{index:04d}"


def shards_for_job(job: Job) -> list[Shard]:
    return [
        Shard(job_id=job.job_id, shard_id=root_shard_id(index), file_ids=file_ids)
        for index, file_ids in enumerate(chunk(job.file_ids, job.shard_size))
    ]


def child_shards(parent: Shard, parts: int) -> list[Shard]:
    """Children named `<parent>.<i>` so that a re-run of the same decision yields the same IDs."""
    return [
        Shard(
            job_id=parent.job_id,
            shard_id=f"{parent.shard_id}.{index}",
            file_ids=file_ids,
            reshard_depth=parent.reshard_depth + 1,
            parent_shard_id=parent.shard_id,
        )
        for index, file_ids in enumerate(split_evenly(parent.file_ids, parts))
    ]
