from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from pipeline_common.content import MAX_ROWS, MIN_ROWS, row_count, rows_for_file

from harness.model.content import expected_row_counts


def test_content_is_a_pure_function_of_the_file_id() -> None:
    assert rows_for_file("file-0001") == rows_for_file("file-0001")
    assert rows_for_file("file-0001") != rows_for_file("file-0002")


def test_content_is_stable_across_releases() -> None:
    # Pinned values: rows already loaded by an earlier version must count as "already present".
    assert row_count("file-0001") == 7
    assert rows_for_file("file-0001")[0].value == 11079972166293322


@given(st.text(min_size=1, max_size=40))
def test_rows_are_numbered_from_one_and_fit_a_bigint(file_id: str) -> None:
    rows = rows_for_file(file_id)
    assert MIN_ROWS <= len(rows) <= MAX_ROWS
    assert [row.row_no for row in rows] == list(range(1, len(rows) + 1))
    assert {row.file_id for row in rows} == {file_id}
    assert all(0 <= row.value < 2**63 for row in rows)


def test_the_harness_expects_what_the_worker_loads() -> None:
    ids = [f"file-{i:04d}" for i in range(50)]
    assert expected_row_counts(ids) == {file_id: len(rows_for_file(file_id)) for file_id in ids}
    assert len(set(expected_row_counts(ids).values())) > 5  # the counts actually vary
