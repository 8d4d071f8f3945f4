"""The pipeline's database as the tests read it back.

`ReadBackDatabase` is the harness's `PipelineDatabase` plus what only tests look at: total rows, the
files table, the files not loaded exactly once, and one job's decisions and quarantined files.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from harness.model.content import expected_row_counts
from harness.records import DecisionRecord, QuarantineRecord
from harness.stack.database import PipelineDatabase


@dataclass(frozen=True)
class LoadedFile:
    """One row of the files table: a file the worker loaded, and for which job and shard."""

    file_id: str
    job_id: str
    shard_id: str
    row_count: int


class ReadBackDatabase(PipelineDatabase):
    """One schema of the pipeline, with the reads only tests make."""

    def total_rows(self) -> int:
        statement = sql.SQL("SELECT count(*) FROM {}").format(self._table(self.names.rows_table))
        return int(self._query(statement)[0][0])

    def loaded_files(self) -> dict[str, LoadedFile]:
        n = self.names
        statement = sql.SQL("SELECT {}, {}, {}, {} FROM {}").format(
            sql.Identifier(n.files_id_column),
            sql.Identifier(n.files_job_column),
            sql.Identifier(n.files_shard_column),
            sql.Identifier(n.files_row_count_column),
            self._table(n.files_table),
        )
        return {row[0]: LoadedFile(*row) for row in self._query(statement)}

    def row_count_mismatches(self, file_ids: list[str]) -> dict[str, tuple[int, int]]:
        """`{file_id: (expected, loaded)}` for each file not loaded exactly once; empty when all are."""
        expected = expected_row_counts(file_ids)
        loaded = self.rows_per_file()
        return {
            file_id: (count, loaded.get(file_id, 0))
            for file_id, count in expected.items()
            if loaded.get(file_id, 0) != count
        }

    def decisions(self, job_id: str | None = None) -> list[DecisionRecord]:
        """The error handler's decisions, of one job when `job_id` is given."""
        return [d for d in super().decisions() if job_id is None or d.job_id == job_id]

    def quarantine(self, job_id: str | None = None) -> list[QuarantineRecord]:
        """The quarantined files, of one job when `job_id` is given."""
        return [q for q in super().quarantine() if job_id is None or q.job_id == job_id]
