"""`reshard` and `database` expectations on scripted decisions, quarantine rows and table rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.expect import Report
from harness.model.content import expected_row_counts
from tests.support.fakes import FakeObservations, evaluate_scripted, scenario_from_yaml

JOB = "state-under-test"
FILES = ["f-0000", "f-0001", "f-0002", "f-0003"]


def evaluate(tmp_path: Path, expectation: str, script: Callable[[FakeObservations], object]) -> Report:
    scenario = scenario_from_yaml(
        f"""\
name: {JOB}
description: File f-0001 always times out; its shard is split until it stands alone.
stack:
  worker: {{timeout_seconds: 1}}
job: {{files: 4, shard_size: 4}}
faults:
  - {{function: worker, kind: timeout, files: [f-0001]}}
expect:
  - {expectation}
""",
        tmp_path,
    )
    report, _, _ = evaluate_scripted(scenario, script)
    return report


def child(shard_id: str, files: list[str]) -> dict:
    return {"shard_id": shard_id, "file_ids": files}


def poison_chain(
    observations: FakeObservations,
    *,
    children: list[dict] | None = None,
    quarantine: bool = True,
    report: bool = True,
) -> None:
    """0000 is split into 0000.0 [f-0000, f-0001] and 0000.1; 0000.0 into singles; f-0001 is quarantined.

    Close together, as if the attempts between them were instant: a gap with nothing on its way would
    rightly be taken for a settled system."""
    observations.add_decision(
        "reshard",
        at=1.0,
        shard_id="0000",
        file_ids=FILES,
        job_id=JOB,
        child_shards=children or [child("0000.0", FILES[:2]), child("0000.1", FILES[2:])],
    )
    observations.add_decision(
        "reshard",
        at=1.1,
        shard_id="0000.0",
        file_ids=FILES[:2],
        job_id=JOB,
        child_shards=[child("0000.0.0", ["f-0000"]), child("0000.0.1", ["f-0001"])],
    )
    observations.add_decision("quarantine", at=1.2, shard_id="0000.0.1", file_ids=["f-0001"], job_id=JOB)
    if quarantine:
        observations.add_quarantine("f-0001", at=1.2, job_id=JOB)
    if report:
        body = {"reason": "quarantined", "job_id": JOB, "file_ids": ["f-0001"], "error_type": "Timeout"}
        observations.add_notification("JOB FAILED", body, at=1.25)
    # A decision about another job in the same tables must not count.
    observations.add_decision("reshard", at=1.0, shard_id="0000", file_ids=FILES, job_id="another-job")


def test_the_poison_chain_passes(tmp_path: Path) -> None:
    expectation = "reshard: {reshards: 2, shard_sizes_shrink: true, quarantined: [f-0001]}"
    report = evaluate(tmp_path, expectation, poison_chain)
    assert report.passed, report.render()
    observed = report.outcomes[0].observed
    assert "0000 (4) -> 0000.0 (2), 0000.1 (2)" in observed
    assert "quarantine table [f-0001], reported [f-0001]" in observed


@pytest.mark.parametrize(
    ("expectation", "script", "complaint"),
    [
        ("reshard: {reshards: 1}", poison_chain, "2 re-shard decisions, expected 1"),
        ("reshard: {reshards: 0}", poison_chain, "2 re-shard decisions, expected 0"),
        (
            "reshard: {shard_sizes_shrink: true}",
            lambda o: poison_chain(o, children=[child("0000.0", FILES)]),
            "shard 0000 (4 files) got child 0000.0 of 4 files",
        ),
        ("reshard: {shard_sizes_shrink: true}", lambda o: None, "no shard was re-sharded"),
        ("reshard: {quarantined: []}", poison_chain, "quarantine table holds [f-0001], expected []"),
        (
            "reshard: {quarantined: [f-0001]}",
            lambda o: poison_chain(o, quarantine=False),
            "quarantine table holds [], expected [f-0001]",
        ),
        (
            "reshard: {quarantined: [f-0001]}",
            lambda o: poison_chain(o, report=False),
            "[f-0001] not reported as JOB FAILED with reason quarantined",
        ),
    ],
)
def test_reshard_conditions_that_do_not_hold(
    tmp_path: Path, expectation: str, script: Callable[[FakeObservations], object], complaint: str
) -> None:
    report = evaluate(tmp_path, expectation, script)
    assert not report.passed
    assert complaint in report.outcomes[0].observed, report.outcomes[0].observed


# database

COUNTS = expected_row_counts(FILES)


def rows(*files: str, extra: dict[str, int] | None = None, duplicates: int = 0) -> Callable[[FakeObservations], None]:
    def script(observations: FakeObservations) -> None:
        for file_id in files:
            observations.add_rows(file_id, COUNTS[file_id], at=0.5)
        for file_id, count in (extra or {}).items():
            observations.add_rows(file_id, count, at=0.5)
        observations.duplicates = duplicates

    return script


@pytest.mark.parametrize(
    ("loaded", "script", "passes"),
    [
        ("all", rows(*FILES), True),
        ("all", rows("f-0000", "f-0002", "f-0003"), False),
        ("all_but_poison", rows("f-0000", "f-0002", "f-0003"), True),
        ("all_but_poison", rows(*FILES), False),
        ("none", rows(), True),
        ("none", rows("f-0003"), False),
        ("[f-0000, f-0003]", rows("f-0000", "f-0003"), True),
        ("[f-0000, f-0003]", rows("f-0000", "f-0003", "f-0002"), False),
        ("all", rows(*FILES, duplicates=2), False),
        # Rows of files outside the job (another scenario's, in a shared schema) are not this job's concern.
        ("all", rows(*FILES, extra={"g-0001": 3}), True),
    ],
)
def test_loaded_exactly_once(
    tmp_path: Path, loaded: str, script: Callable[[FakeObservations], None], passes: bool
) -> None:
    report = evaluate(tmp_path, f"database: {{loaded_exactly_once: {loaded}}}", script)
    assert report.passed is passes, report.render()


def test_a_file_loaded_twice_or_partly_is_named_with_its_counts(tmp_path: Path) -> None:
    script = rows("f-0000", "f-0002", "f-0003", extra={"f-0000": 1})
    report = evaluate(tmp_path, "database: {loaded_exactly_once: all}", script)
    assert not report.passed
    observed = report.outcomes[0].observed
    assert f"f-0000 has {COUNTS['f-0000'] + 1} rows, expected {COUNTS['f-0000']}" in observed
    assert f"f-0001 has 0 rows, expected {COUNTS['f-0001']}" in observed
    assert f"({sum(COUNTS.values())} rows)" in report.outcomes[0].expected
