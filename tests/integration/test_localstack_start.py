"""Starting the embedded LocalStack: the service catalog it builds from botocore's specs (half of its start)
is kept, and the next LocalStack starts from it instead of building it again."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.services import EmbeddedLocalStack
from harness.services.embedded import CATALOG_GLOB, catalog_store


def _start_and_look(run: list[Path]) -> tuple[list[str], list[str]]:
    """Start a LocalStack; the catalogs given to it (static libraries) and those it built (its cache)."""
    localstack = EmbeddedLocalStack(quiet=True)
    localstack.start()
    try:
        assert localstack.run_dir is not None
        filesystem = localstack.run_dir / "filesystem"
        run.append(localstack.run_dir)
        given = sorted(p.name for p in (filesystem / "usr" / "lib" / "localstack").glob(CATALOG_GLOB))
        built = sorted(p.name for p in (filesystem / "var" / "lib" / "localstack" / "cache").glob(CATALOG_GLOB))
        return given, built
    finally:
        localstack.stop()


def test_the_next_localstack_starts_from_the_catalog_the_first_built(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    runs: list[Path] = []
    given, built = _start_and_look(runs)
    assert given == [] and len(built) == 1  # nothing kept yet: LocalStack builds it
    assert [p.name for p in catalog_store().glob(CATALOG_GLOB)] == built  # and the harness keeps it
    given, built_again = _start_and_look(runs)
    assert given == built  # handed to the next LocalStack
    assert built_again == []  # which read it rather than building its own
    assert not any(run.exists() for run in runs)  # each run's folder went with its LocalStack
