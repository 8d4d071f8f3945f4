"""`reshard`: what the error handler did with dead-lettered timeouts: smaller shards, quarantined files."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from harness.format import FileId, Loc
from harness.format.catalog import DEAD_LETTERED_FUNCTION
from harness.format.classes import times_out
from harness.model.platform import MODEL
from harness.model.walk import OPTIMISTIC, PESSIMISTIC, walk_runs
from harness.records import parse_json
from harness.text import files_text, listing, plural

from .base import ExpectationBase, Problems, Verdict, raise_if, repeated_problems
from .fields import field_value, is_missing

if TYPE_CHECKING:
    from harness.expect.snapshot import Snapshot

# Decision actions and report reasons written by lambdas/common/pipeline_common/reshard.py.
RESHARD = "reshard"
QUARANTINED = "quarantined"
JOB_FAILED = "JOB FAILED"


class ReshardExpectation(ExpectationBase):
    """What the error handler did with dead-lettered timeouts: smaller shards, quarantined files."""

    PIPELINE_ONLY = ("*",)
    kind: Literal["reshard"] = "reshard"
    reshards: int | None = Field(default=None, ge=0)
    """Exactly this many shards were split again; 0: the error handler re-sharded nothing."""
    shard_sizes_shrink: bool = False
    """true: every re-sharded shard is split into shards smaller than itself."""
    quarantined: list[FileId] | None = None
    """Exactly these files are quarantined and reported; []: none is."""

    @model_validator(mode="after")
    def _check(self) -> ReshardExpectation:
        problems: list[tuple[Loc, str]] = []
        if self.reshards is None and not self.shard_sizes_shrink and self.quarantined is None:
            problems.append(((), "give at least one of reshards, shard_sizes_shrink: true, quarantined"))
        if self.reshards == 0 and self.shard_sizes_shrink:
            problems.append((("shard_sizes_shrink",), "shard sizes cannot shrink when reshards is 0"))
        problems += repeated_problems("quarantined", self.quarantined or [], "file ")
        raise_if(problems)
        return self

    def validate(self, scenario: Any, at: Loc) -> Problems:
        return _reshard_problems(scenario, at, self)

    def report_lanes(self) -> set[tuple[str, str]]:
        return {("decision", "error_handler")}

    def check(self, snapshot: Snapshot) -> Verdict:
        reshards = [decision for decision in snapshot.decisions if decision.action == RESHARD]
        problems: list[str] = []
        if self.reshards is not None and len(reshards) != self.reshards:
            problems.append(f"{plural(len(reshards), 're-shard decision')}, expected {self.reshards}")
        if self.shard_sizes_shrink:
            if not reshards:
                problems.append("no shard was re-sharded, so none shrank")
            problems += _growth_problems(reshards)
        observed_parts = [_reshards_text(reshards)]
        others = Counter(decision.action for decision in snapshot.decisions if decision.action != RESHARD)
        if others:
            observed_parts.append("other decisions: " +
                                  ", ".join(f"{n} {action}" for action, n in sorted(others.items())))
        if self.quarantined is not None:
            table = sorted({record.file_id for record in snapshot.quarantine})
            reported = _reported_quarantined(snapshot)
            wanted = sorted(self.quarantined)
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
        return Verdict(holds=not problems, expected=_expected(self), observed=observed)


def _reshard_problems(scenario: Any, at: Loc, expectation: ReshardExpectation) -> Problems:
    problems: Problems = []
    timeouts = [fault for fault in scenario.faults_for(DEAD_LETTERED_FUNCTION) if times_out(scenario, fault)]
    needs_timeout = [
        key
        for key, wanted in (
            ("reshards", bool(expectation.reshards)),
            ("shard_sizes_shrink", expectation.shard_sizes_shrink),
            ("quarantined", bool(expectation.quarantined)),
        )
        if wanted
    ]
    if needs_timeout and not timeouts:
        problems.append(
            (
                (*at, needs_timeout[0]),
                f"the error handler re-shards only shards that timed out, "
                f"but no fault on {DEAD_LETTERED_FUNCTION} times out (kind: timeout, or a latency past its Timeout)",
            )
        )
    problems += scenario.unknown_files((*at, "quarantined"), expectation.quarantined)
    # The walk of the pipeline says which files get quarantined when every timeout names its files and
    # draws no chance: a file that is loaded first, or that no timeout reaches, is a mistake in the file.
    if timeouts and all(fault.files for fault in timeouts):
        # Whatever chance decides, a file is quarantined in the walk that draws as the wrapper does or in
        # the one where every draw fires. What happens does not depend on when: any platform timing will do.
        platform = MODEL
        quarantined = set()
        for pace in (OPTIMISTIC, PESSIMISTIC):
            for timing in walk_runs(scenario, platform, pace):
                quarantined |= timing.quarantined
        known = set(scenario.file_ids())
        for index, file_id in enumerate(expectation.quarantined or []):
            if file_id in known and file_id not in quarantined:
                problems.append(
                    (
                        (*at, "quarantined", index),
                        f"file {file_id!r} cannot be quarantined: the error handler quarantines "
                        f"{_files_text(sorted(quarantined))} (timed-out shards it may not split, "
                        "minus the files loaded before the timeout), as the pipeline's own re-shard "
                        "code in lambdas/common/pipeline_common decides; if that code is what is wrong, "
                        "this is the bug",
                    )
                )
    return problems


def _files_text(files: list[str]) -> str:
    return ", ".join(files) if files else "no file"


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
        body = parse_json(message.body)
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
