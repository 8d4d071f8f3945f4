from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest
from pg8000.exceptions import DatabaseError
from pipeline_common import database

from harness.stack.database import (
    DatabaseStartError,
    EmbeddedPostgres,
    ExternalPostgres,
    PipelineDatabase,
    PipelineNames,
    create_schema,
    drop_schema,
    start_database,
)
from tests.support.database import ReadBackDatabase

from .support import REPO_ROOT


def schemas(url: str) -> set[str]:
    with psycopg.connect(url) as connection:
        return {row[0] for row in connection.execute("SELECT nspname FROM pg_namespace").fetchall()}


def test_the_embedded_server_listens_on_tcp_for_other_processes(postgres: EmbeddedPostgres) -> None:
    assert postgres.url.startswith("postgresql://postgres@127.0.0.1:")
    # The functions connect with pg8000 from their own processes; the same URL must work for them.
    connection = database.connect(postgres.url)
    assert connection.run("SELECT current_user")[0][0] == "postgres"
    database.forget(postgres.url)


def test_the_embedded_server_also_answers_on_its_unix_socket(postgres: EmbeddedPostgres) -> None:
    assert postgres.socket_dir is not None
    url = f"postgresql://postgres@/postgres?host={postgres.socket_dir}&port={postgres.port}"
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT 1").fetchone() == (1,)
    connection = database.connect(url)
    assert connection.run("SELECT 2") == [[2]]
    database.forget(url)


def test_stop_leaves_no_process_and_no_data() -> None:
    server = EmbeddedPostgres().start()
    pid, data_dir = server.pid, server.data_dir
    assert pid is not None and data_dir is not None and psutil.pid_exists(pid)
    children = psutil.Process(pid).children(recursive=True)
    assert children  # checkpointer, walwriter, ...

    server.stop()
    server.stop()

    assert not psutil.pid_exists(pid)
    assert not any(child.is_running() for child in children)
    assert not data_dir.exists()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url


def test_database_url_from_the_environment_wins(postgres: EmbeddedPostgres) -> None:
    chosen = start_database({"DATABASE_URL": postgres.url})
    assert isinstance(chosen, ExternalPostgres)
    assert chosen.url == postgres.url
    chosen.stop()  # leaves the server alone
    assert schemas(postgres.url)


def test_an_unreachable_database_url_fails_clearly() -> None:
    with pytest.raises(DatabaseStartError, match="cannot connect to DATABASE_URL"):
        start_database({"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"})


def test_schema_create_is_idempotent_and_drop_removes_everything(postgres: EmbeddedPostgres) -> None:
    create_schema(postgres.url, "unit_lifecycle")
    create_schema(postgres.url, "unit_lifecycle")
    db = ReadBackDatabase(postgres.url, "unit_lifecycle")
    assert db.total_rows() == 0 and db.decisions() == [] and db.quarantine() == []

    drop_schema(postgres.url, "unit_lifecycle")
    drop_schema(postgres.url, "unit_lifecycle")

    assert "unit_lifecycle" not in schemas(postgres.url)


def test_custom_names_are_used_verbatim(postgres: EmbeddedPostgres) -> None:
    names = PipelineNames(rows_table="Loaded Rows", rows_value_column="Value")
    db = PipelineDatabase(postgres.url, "unit_Custom", names)
    db.create()
    try:
        with psycopg.connect(postgres.url) as connection:
            connection.execute(
                'INSERT INTO "unit_Custom"."Loaded Rows" (file_id, row_no, "Value") VALUES (%s, 1, 5)', ["f"]
            )
        assert db.rows_per_file() == {"f": 1}
    finally:
        db.drop()


def test_unique_keys_make_inserts_idempotent(pipeline_db: ReadBackDatabase) -> None:
    rows = database.qualified(pipeline_db.schema, "rows")
    connection = database.connect(pipeline_db.url)
    statement = f"INSERT INTO {rows} (file_id, row_no, value) VALUES ('f', :n, 1) ON CONFLICT DO NOTHING"

    connection.run(statement, n=1)
    first = connection.row_count
    connection.run(statement, n=1)
    second = connection.row_count

    assert (first, second) == (1, 0)
    assert pipeline_db.rows_per_file() == {"f": 1}


def test_a_wrong_table_name_yields_the_database_s_own_error(pipeline_db: ReadBackDatabase) -> None:
    connection = database.connect(pipeline_db.url)
    with pytest.raises(DatabaseError) as caught:
        connection.run(f"SELECT * FROM {database.qualified(pipeline_db.schema, 'rowz')}")
    assert database.error_text(caught.value) == f'relation "{pipeline_db.schema}.rowz" does not exist'
    assert database.error_code(caught.value) == "42P01"
    database.forget(pipeline_db.url)


def test_duplicates_are_counted_when_a_table_lacks_its_unique_key(pipeline_db: ReadBackDatabase) -> None:
    with psycopg.connect(pipeline_db.url, autocommit=True) as connection:
        table = f'"{pipeline_db.schema}"."rows"'
        constraint = connection.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'u'", [table]
        ).fetchone()
        connection.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{constraint[0]}"')
        connection.execute(f"INSERT INTO {table} (file_id, row_no, value) VALUES ('f', 1, 1), ('f', 1, 1), ('f', 2, 1)")

    assert pipeline_db.duplicate_rows() == 1
    assert pipeline_db.rows_per_file() == {"f": 3}


def test_row_count_mismatches_lists_missing_and_partial_files(pipeline_db: ReadBackDatabase) -> None:
    from pipeline_common.content import row_count

    with psycopg.connect(pipeline_db.url, autocommit=True) as connection:
        connection.execute(f'INSERT INTO "{pipeline_db.schema}"."rows" (file_id, row_no, value) VALUES (\'a\', 1, 1)')

    mismatches = pipeline_db.row_count_mismatches(["a", "b"])

    assert mismatches == {"a": (row_count("a"), 1), "b": (row_count("b"), 0)}


@pytest.fixture
def data_root() -> Iterator[Path]:
    """A directory the `pgserver` user can traverse; pytest's tmp_path is not one when running as root,
    because every pytest session resets /tmp/pytest-of-root to mode 0700."""
    root = Path(tempfile.mkdtemp(prefix="harness-unit-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_a_failed_start_cleans_up_and_shows_the_log(data_root: Path) -> None:
    server = EmbeddedPostgres(data_root=data_root, max_connections=-5)
    with pytest.raises(DatabaseStartError, match="max_connections"):
        server.start()
    assert list(data_root.iterdir()) == []
    assert server.pid is None


def test_a_data_directory_too_deep_for_a_unix_socket_still_serves_tcp(data_root: Path) -> None:
    deep = data_root / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    with EmbeddedPostgres(data_root=deep) as server:
        assert server.socket_dir is None
        with psycopg.connect(server.url) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)


def test_a_killed_harness_takes_its_server_with_it_and_the_next_start_tidies_up(data_root: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from harness.stack.database import EmbeddedPostgres; "
        f"server = EmbeddedPostgres(data_root=Path({str(data_root)!r})).start(); "
        "print(server.pid, flush=True); sys.stdin.read()"
    )
    harness_process = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO_ROOT, text=True
    )
    assert harness_process.stdout is not None
    postmaster = psutil.Process(int(harness_process.stdout.readline()))
    assert postmaster.is_running()

    harness_process.kill()  # no atexit, no cleanup: only the parent-death signal is left
    harness_process.wait()

    try:
        postmaster.wait(timeout=15)
    except psutil.TimeoutExpired:
        assert postmaster.status() == psutil.STATUS_ZOMBIE  # exited; waiting for init to reap it
    [stale] = list(data_root.iterdir())
    with EmbeddedPostgres(data_root=data_root) as server:
        assert not stale.exists()
        assert [p.name for p in data_root.iterdir()] == [server.data_dir.parent.name]


def test_a_stacks_reads_share_one_connection_until_its_schema_is_dropped(postgres: EmbeddedPostgres) -> None:
    db = PipelineDatabase(postgres.url, "shared_connection", PipelineNames())
    db.create()

    def backends() -> set[int]:
        # By process ID: a connection of an earlier test on this server may end meanwhile, so counts lie.
        with psycopg.connect(postgres.url) as connection:
            rows = connection.execute("SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' "
                                      "AND pid <> pg_backend_pid()").fetchall()
        return {row[0] for row in rows}

    before = backends()
    for _ in range(5):
        assert db.rows_per_file() == {}
    [shared] = backends() - before  # five reads, one connection
    db.drop()
    assert shared not in backends()
    assert "shared_connection" not in schemas(postgres.url)


def _system_identifier(server: EmbeddedPostgres) -> int:
    """What initdb gave the data folder: a copy has its template's, a fresh initdb a new one."""
    with psycopg.connect(server.url) as connection:
        row = connection.execute("SELECT system_identifier FROM pg_control_system()").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def cache_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="harness-unit-cache-"))
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(root))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _templates(cache_dir: Path) -> list[Path]:
    return [path for path in (cache_dir / "postgres").iterdir() if not path.name.startswith(".")]


def test_a_new_server_starts_from_a_copy_of_the_data_initdb_made_before(data_root: Path, cache_dir: Path) -> None:
    with EmbeddedPostgres(data_root=data_root) as first:
        made = _system_identifier(first)
    [template] = _templates(cache_dir)
    assert (template / "PG_VERSION").is_file() and not (template / "postmaster.pid").exists()
    with EmbeddedPostgres(data_root=data_root) as second, EmbeddedPostgres(data_root=data_root) as third:
        assert _system_identifier(second) == _system_identifier(third) == made
    assert [p.name for p in (cache_dir / "postgres").iterdir()] == [template.name]  # nothing staged is left


def test_a_template_that_does_not_start_is_replaced_by_a_fresh_initdb(data_root: Path, cache_dir: Path) -> None:
    with EmbeddedPostgres(data_root=data_root) as first:
        made = _system_identifier(first)
    [template] = _templates(cache_dir)
    shutil.rmtree(template / "global")  # the cluster's control file and catalogs: postgres refuses to start
    with EmbeddedPostgres(data_root=data_root) as server:
        fresh = _system_identifier(server)
    assert fresh != made
    assert (template / "global" / "pg_control").is_file()
    with EmbeddedPostgres(data_root=data_root) as server:
        assert _system_identifier(server) == fresh


def test_a_start_that_fails_for_its_own_settings_keeps_the_template(data_root: Path, cache_dir: Path) -> None:
    with EmbeddedPostgres(data_root=data_root) as first:
        made = _system_identifier(first)
    with pytest.raises(DatabaseStartError, match="max_connections"):
        EmbeddedPostgres(data_root=data_root, max_connections=-5).start()
    with EmbeddedPostgres(data_root=data_root) as server:
        assert _system_identifier(server) == made
