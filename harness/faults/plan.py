"""The fault plan: which fault, if any, strikes an attempt. Standard library only.

The one place where faults are matched to attempts and the seeded probability draw is made. Three
readers import it: the in-Lambda wrapper (this file ships in every wrapped function's zip as
``harness_fault_plan.py``), the walk of the pipeline that floors, deadlines and the validator read, and
the scripted stand-in the unit tests use. So a probabilistic fault fires in the model exactly where it
fires on the stack.

A plan is a list of JSON-ready entries, one per fault of one function, in the scenario's order (the
first entry that matches an attempt wins). `harness.faults.fault_plan` builds them from a scenario.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

Entry = Mapping[str, Any]



def targets(numbers: Sequence[int] | None, number: int) -> bool:
    """Whether an attempt or run `number` is among those a fault names (none named: every one)."""
    return not numbers or number in numbers


def draw(seed: Any, shard_id: str | None, file_ids: Sequence[str], attempt: int) -> float:
    """The seeded draw for one attempt, in [0, 1): seeded by what is stable across runs of a scenario (the
    shard, its files and the attempt number), never by the random request ID."""
    return random.Random(f"{seed}:{shard_id}:{','.join(file_ids)}:{attempt}").random()


def matches(entry: Entry, attempt: int, run: int, shard_id: str | None, file_ids: Sequence[str],
            *, every_draw_fires: bool = False) -> bool:
    """Whether the entry strikes this attempt. `every_draw_fires` assumes the worst of each draw."""
    if not targets(entry.get("attempts"), attempt) or not targets(entry.get("runs"), run):
        return False
    if entry.get("files") and not set(entry["files"]) & set(file_ids):
        return False
    if entry.get("min_shard_size") and len(file_ids) < entry["min_shard_size"]:
        return False
    if entry.get("probability") is not None and not every_draw_fires:
        if draw(entry.get("seed"), shard_id, file_ids, attempt) >= entry["probability"]:
            return False
    return True


def init_fault(plan: Sequence[Entry], run: int) -> int | None:
    """The index of the first entry that breaks the function's init in run `run`, or None.

    Such an entry (`at_init`: a broken deployment, narrowed by runs only) fails the runtime's init, before any
    attempt is handed to the code: it wins over every other entry, wherever it stands in the plan."""
    for index, entry in enumerate(plan):
        if entry.get("at_init") and targets(entry.get("runs"), run):
            return index
    return None


def pick(plan: Sequence[Entry], attempt: int, run: int, shard_id: str | None, file_ids: Sequence[str],
         *, every_draw_fires: bool = False) -> int | None:
    """The index of the entry that strikes this attempt, or None: a broken init (`init_fault`), else the first
    entry that matches."""
    broken = init_fault(plan, run)
    if broken is not None:
        return broken
    for index, entry in enumerate(plan):
        if matches(entry, attempt, run, shard_id, file_ids, every_draw_fires=every_draw_fires):
            return index
    return None


def strikes_at(entry: Entry, file_id: str) -> bool:
    """Whether a fault injected into the file reader breaks when the reader reaches `file_id`."""
    return not entry.get("files") or file_id in entry["files"]


def files_committed(entry: Entry | None, file_ids: Sequence[str]) -> list[str]:
    """The files one worker attempt commits, given the entry that strikes it (None: no fault).

    A fault injected into the function's file reader (its entry names `inject_at`, as `harness.format.faults`
    builds it for a kind that strikes inside the worker) breaks at the first file it targets, and the files
    read before it are committed. A fault that comes after the work commits all files; any other fault, which
    strikes before the handler or breaks its configuration, none (a misconfiguration fails the first insert).
    """
    if entry is None or entry.get("after_work"):
        return list(file_ids)
    if not entry.get("inject_at"):
        return []
    committed = []
    for file_id in file_ids:
        if strikes_at(entry, file_id):
            break
        committed.append(file_id)
    return committed


OUT_OF_MEMORY_ERROR_TYPE = "Runtime.OutOfMemory"


def out_of_memory_error(memory_mb: int) -> tuple[str, str]:
    """Lambda's errorType and errorMessage (after its "RequestId: ... Error: " prefix) for an invocation whose
    runtime was killed for using more than its memory size: the executor writes it, the model predicts it."""
    return (OUT_OF_MEMORY_ERROR_TYPE,
            f"Runtime exited with error: signal: killed (memory used exceeded the function's MemorySize of "
            f"{memory_mb} MB)")
