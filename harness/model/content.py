"""What the seed pipeline's files hold: how many rows each file ID stands for, by the pipeline's own content
module (one source of truth for file contents, without making `lambdas/` part of the harness package)."""

from __future__ import annotations

from collections.abc import Iterable

from harness import paths


def expected_row_counts(file_ids: Iterable[str]) -> dict[str, int]:
    """How many rows each file ID stands for, computed by the pipeline's own content module."""
    content = paths.pipeline_common("content")
    return {file_id: int(content.row_count(file_id)) for file_id in file_ids}
