"""Fixtures for unit tests: fake AWS clients injected into the Lambda code, and a real PostgreSQL."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# The functions import `pipeline_common` from their zip's root; in tests it comes from lambdas/common.
# conftest runs before the test modules, so they can import it plainly.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "lambdas" / "common"))

from pipeline_common import aws, database  # noqa: E402

from harness.stack.database import EmbeddedPostgres, PipelineNames  # noqa: E402
from tests.support.database import ReadBackDatabase  # noqa: E402

from .support import TOPIC_ARN, WORKER_FUNCTION, FakeLambda, FakeSNS  # noqa: E402


@pytest.fixture
def fake_sns() -> Iterator[FakeSNS]:
    fake = FakeSNS()
    aws.use_client("sns", fake)
    yield fake
    aws.reset_clients()


@pytest.fixture
def fake_lambda() -> Iterator[FakeLambda]:
    fake = FakeLambda()
    aws.use_client("lambda", fake)
    yield fake
    aws.reset_clients()


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres]:
    with EmbeddedPostgres() as server:
        yield server


@pytest.fixture
def pipeline_db(postgres: EmbeddedPostgres) -> Iterator[ReadBackDatabase]:
    db = ReadBackDatabase(postgres.url, f"unit_{uuid.uuid4().hex[:12]}")
    db.create()
    yield db
    # Cached function connections would keep the dropped schema's relations in their plan caches.
    database.forget(postgres.url)
    db.drop()


@pytest.fixture
def pipeline_env(monkeypatch: pytest.MonkeyPatch, pipeline_db: ReadBackDatabase) -> dict[str, str]:
    """The environment the stack gives the worker and the error handler, pointed at this test's schema."""
    env = {
        "DATABASE_URL": pipeline_db.url,
        "DB_SCHEMA": pipeline_db.schema,
        "NOTIFICATIONS_TOPIC_ARN": TOPIC_ARN,
        "WORKER_FUNCTION": WORKER_FUNCTION,
        **PipelineNames().as_env(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def stack() -> Iterator[str]:
    """A stack registered with the stack clock of this process (harness.localstack.clock), forgotten after."""
    from harness.localstack import clock

    prefix = f"ck{uuid.uuid4().hex[:8]}"
    clock.register(prefix)
    try:
        yield prefix
    finally:
        clock.forget(prefix)
