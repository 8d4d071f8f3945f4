"""`reshard`: what the error handler decided about dead-lettered timeouts."""

from __future__ import annotations

from collections import Counter
from typing import Any

from harness.scenario import ReshardExpectation

from ..snapshot import Snapshot, message_body
from ..text import files_text, listing, plural
from .fields import field_value, is_missing
from .verdict import Verdict

# Decision actions and report reasons written by lambdas/common/pipeline_common/reshard.py.
RESHARD = "reshard"
QUARANTINED = "quarantined"
JOB_FAILED = "JOB FAILED"


def check_reshard(expectation: ReshardExpectation, snapshot: Snapshot) -> Verdict:
    reshards = [decision for decision in snapshot.decisions if decision.action == RESHARD]
    problems: list[str] = []
    if expectation.reshards is not None and len(reshards) != expectation.reshards:
        problems.append(f"{plural(len(reshards), 're-shard decision')}, expected {expectation.reshards}")
    if expectation.shard_sizes_shrink:
        if not reshards:
            problems.append("no shard was re-sharded, so none shrank")
        problems += _growth_problems(reshards)
    observed_parts = [_reshards_text(reshards)]
    others = Counter(decision.action for decision in snapshot.decisions if decision.action != RESHARD)
    if others:
        observed_parts.append("other decisions: " + ", ".join(f"{n} {action}" for action, n in sorted(others.items())))
    if expectation.quarantined is not None:
        table = sorted({record.file_id for record in snapshot.quarantine})
        reported = _reported_quarantined(snapshot)
        wanted = sorted(expectation.quarantined)
        if table != wanted:
            problems.append(f"quarantine table holds {files_text(table)}, expected {files_text(wanted)}")
        unreported = [file_id for file_id in wanted if file_id not in reported]
        if unreported:
            problems.append(f"{files_text(unreported)} not reported as {JOB_FAILED} with reason {QUARANTINED}")
        # A report that names a file as quarantined when it is not (say, it was loaded) misleads a person.
        overreported = sorted(reported - set(wanted))
        if overreported:
            problems.append(f"{files_text(overreported)} reported as quarantined, but expected not to be")
        observed_parts.append(f"quarantine table {files_text(table)}, reported {files_text(sorted(reported))}")
    observed = "; ".join(observed_parts)
    if problems:
        observed = f"{listing(problems)}; seen: {observed}"
    return Verdict(holds=not problems, expected=_expected(expectation), observed=observed)


def _files(decision: Any) -> list[str]:
    return [str(file_id) for file_id in decision.file_ids or []]


def _children(decision: Any) -> list[dict[str, Any]]:
    return [child for child in decision.child_shards or [] if isinstance(child, dict)]


def _growth_problems(reshards: list[Any]) -> list[str]:
    problems = []
    for decision in reshards:
        size = len(_files(decision))
        children = _children(decision)
        if not children:
            problems.append(f"shard {decision.shard_id} was re-sharded into no child shards")
        for child in children:
            child_size = len(child.get("file_ids") or [])
            if child_size >= size:
                problems.append(
                    f"shard {decision.shard_id} ({size} files) got child {child.get('shard_id')} of {child_size} files"
                )
    return problems


def _reshards_text(reshards: list[Any]) -> str:
    if not reshards:
        return "no re-shard decision"
    described = []
    for decision in reshards:
        children = ", ".join(
            f"{child.get('shard_id')} ({len(child.get('file_ids') or [])})" for child in _children(decision)
        )
        described.append(f"{decision.shard_id} ({len(_files(decision))}) -> {children or 'nothing'}")
    return f"{plural(len(reshards), 're-shard decision')}: {listing(described)}"


def _reported_quarantined(snapshot: Snapshot) -> set[str]:
    """Files the error handler reported as quarantined on the notifications topic."""
    reported: set[str] = set()
    for message in snapshot.messages("notifications"):
        body = message_body(message)
        if message.subject != JOB_FAILED or field_value(body, "reason") != QUARANTINED:
            continue
        files = field_value(body, "file_ids")
        if not is_missing(files) and isinstance(files, list):
            reported.update(str(file_id) for file_id in files)
    return reported


def _expected(expectation: ReshardExpectation) -> str:
    parts = []
    if expectation.reshards is not None:
        parts.append(f"exactly {plural(expectation.reshards, 're-shard decision')}")
    if expectation.shard_sizes_shrink:
        parts.append("every re-sharded shard split into smaller shards")
    if expectation.quarantined is not None:
        if expectation.quarantined:
            parts.append(
                f"exactly {files_text(expectation.quarantined)} quarantined and reported as "
                f"{JOB_FAILED} with reason {QUARANTINED}"
            )
        else:
            parts.append("no file quarantined")
    return ", ".join(parts)
