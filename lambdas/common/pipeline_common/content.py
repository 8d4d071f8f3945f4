"""Deterministic file content: the rows a file ID stands for.

There are no real input files; a file's rows are derived from its ID with SHA-256, so any process (a
worker, a re-shard child, a test) computes the same rows without shared state.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MIN_ROWS = 1
MAX_ROWS = 20
# Values must fit a signed 64-bit bigint column.
_VALUE_BYTES = 7


@dataclass(frozen=True)
class Row:
    file_id: str
    row_no: int
    value: int


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def row_count(file_id: str) -> int:
    """Between MIN_ROWS and MAX_ROWS, fixed for a given file ID."""
    return MIN_ROWS + int.from_bytes(_digest(f"rows:{file_id}")[:4], "big") % (MAX_ROWS - MIN_ROWS + 1)


def rows_for_file(file_id: str) -> list[Row]:
    return [
        Row(
            file_id=file_id,
            row_no=row_no,
            value=int.from_bytes(_digest(f"{file_id}:{row_no}")[:_VALUE_BYTES], "big"),
        )
        for row_no in range(1, row_count(file_id) + 1)
    ]
