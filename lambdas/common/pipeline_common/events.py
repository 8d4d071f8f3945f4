"""Validation of job and shard events, before anything is invoked or loaded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InvalidEvent


@dataclass(frozen=True)
class Job:
    job_id: str
    file_ids: tuple[str, ...]
    shard_size: int


@dataclass(frozen=True)
class Shard:
    job_id: str
    shard_id: str
    file_ids: tuple[str, ...]
    reshard_depth: int = 0
    parent_shard_id: str | None = None

    def to_event(self) -> dict[str, Any]:
        event: dict[str, Any] = {
            "job_id": self.job_id,
            "shard_id": self.shard_id,
            "file_ids": list(self.file_ids),
            "reshard_depth": self.reshard_depth,
        }
        if self.parent_shard_id is not None:
            event["parent_shard_id"] = self.parent_shard_id
        return event


def _object(event: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        raise InvalidEvent("event", f"must be a JSON object, got {type(event).__name__}")
    return event


def _text(event: dict[str, Any], field: str) -> str:
    if field not in event:
        raise InvalidEvent(field, "is missing")
    value = event[field]
    if not isinstance(value, str):
        raise InvalidEvent(field, f"must be a string, got {type(value).__name__}")
    if not value.strip():
        raise InvalidEvent(field, "must not be empty")
    return value


def _integer(event: dict[str, Any], field: str, minimum: int, default: int | None = None) -> int:
    if field not in event:
        if default is not None:
            return default
        raise InvalidEvent(field, "is missing")
    value = event[field]
    # bool is an int subclass, but `true` as a shard size is a caller bug, not a 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent(field, f"must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise InvalidEvent(field, f"must be >= {minimum}, got {value}")
    return value


def _file_ids(event: dict[str, Any]) -> tuple[str, ...]:
    if "file_ids" not in event:
        raise InvalidEvent("file_ids", "is missing")
    value = event["file_ids"]
    if not isinstance(value, list):
        raise InvalidEvent("file_ids", f"must be a list of strings, got {type(value).__name__}")
    if not value:
        raise InvalidEvent("file_ids", "must not be empty")
    for index, file_id in enumerate(value):
        if not isinstance(file_id, str):
            raise InvalidEvent(f"file_ids[{index}]", f"must be a string, got {type(file_id).__name__}")
        if not file_id.strip():
            raise InvalidEvent(f"file_ids[{index}]", "must not be empty")
    seen: set[str] = set()
    duplicates: list[str] = []
    for file_id in value:
        if file_id in seen and file_id not in duplicates:
            duplicates.append(file_id)
        seen.add(file_id)
    if duplicates:
        raise InvalidEvent("file_ids", f"contains duplicate IDs: {', '.join(duplicates)}")
    return tuple(value)


def parse_job(event: Any, max_shard_size: int | None = None) -> Job:
    """A job event `{job_id, file_ids, shard_size}`; unknown keys are ignored."""
    event = _object(event)
    job_id = _text(event, "job_id")
    file_ids = _file_ids(event)
    shard_size = _integer(event, "shard_size", minimum=1)
    if max_shard_size is not None and shard_size > max_shard_size:
        raise InvalidEvent("shard_size", f"must be <= {max_shard_size} (MAX_SHARD_SIZE), got {shard_size}")
    return Job(job_id=job_id, file_ids=file_ids, shard_size=shard_size)


def parse_shard(event: Any) -> Shard:
    """A shard event `{job_id, shard_id, file_ids, reshard_depth?, parent_shard_id?}`."""
    event = _object(event)
    job_id = _text(event, "job_id")
    shard_id = _text(event, "shard_id")
    file_ids = _file_ids(event)
    depth = _integer(event, "reshard_depth", minimum=0, default=0)
    parent = _text(event, "parent_shard_id") if "parent_shard_id" in event else None
    return Shard(job_id=job_id, shard_id=shard_id, file_ids=file_ids, reshard_depth=depth, parent_shard_id=parent)
