"""A small PostgreSQL access layer on pg8000 (pure Python, so a zip runs on any Python 3 runtime).

Connections are cached per URL for warm invocations. SQL identifiers are always quoted, so a wrong table
or column name from the configuration reaches PostgreSQL verbatim and fails with PostgreSQL's own error.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pg8000.native
from pg8000.exceptions import DatabaseError, InterfaceError

from .errors import ConfigError

_connections: dict[str, pg8000.native.Connection] = {}
_SUPPORTED_QUERY = {
    "host",
    "port",
    "user",
    "password",
    "dbname",
    "sslmode",
    "connect_timeout",
    "application_name",
}


def connection_params(url: str) -> dict[str, Any]:
    """pg8000 connection arguments for a libpq-style URL.

    Supports `postgresql://user:pass@host:port/db`, and a unix socket as libpq does: a `host` query parameter
    (or a percent-encoded host) that is a directory, in which the socket is `.s.PGSQL.<port>`.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError("DATABASE_URL", f"must start with postgresql://, got scheme {parts.scheme!r}")
    query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = sorted(set(query) - _SUPPORTED_QUERY)
    if unknown:
        raise ConfigError("DATABASE_URL", f"has unsupported query parameter(s): {', '.join(unknown)}")

    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    # Parsed by hand because urlsplit lowercases the host, which would corrupt a socket directory path.
    host, port_text = hostport, ""
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif ":" in hostport:
        host, _, port_text = hostport.rpartition(":")
    host = query.get("host", unquote(host)) or "localhost"
    port_text = query.get("port", port_text) or "5432"
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError("DATABASE_URL", f"has a non-numeric port {port_text!r}") from None

    params: dict[str, Any] = {
        "user": query.get("user", unquote(user)),
        "password": query.get("password", unquote(password)) or None,
        "database": query.get("dbname", unquote(parts.path.lstrip("/"))) or None,
    }
    if not params["user"]:
        raise ConfigError("DATABASE_URL", "has no user name")
    if host.startswith("/"):
        params["unix_sock"] = f"{host.rstrip('/')}/.s.PGSQL.{port}"
    else:
        params["host"] = host
        params["port"] = port
    if "connect_timeout" in query:
        try:
            params["timeout"] = float(query["connect_timeout"])
        except ValueError:
            raise ConfigError("DATABASE_URL", "has a non-numeric connect_timeout") from None
    if "application_name" in query:
        params["application_name"] = query["application_name"]
    sslmode = query.get("sslmode", "disable")
    if sslmode in ("require", "verify-ca", "verify-full"):
        context = ssl.create_default_context()
        if sslmode != "verify-full":
            context.check_hostname = False
        if sslmode == "require":
            context.verify_mode = ssl.CERT_NONE
        params["ssl_context"] = context
    elif sslmode == "disable":
        # Not even asked for: pg8000's default (None) asks the server for SSL first, and makes a default
        # SSL context for it, whose CA bundle took a third of a cold start's CPU (25 ms) on every connection.
        params["ssl_context"] = False
    elif sslmode not in ("allow", "prefer"):
        raise ConfigError("DATABASE_URL", f"has an unknown sslmode {sslmode!r}")
    return params


def connect(url: str) -> pg8000.native.Connection:
    """A cached connection for `url`, reconnecting once if the cached one has gone away."""
    connection = _connections.get(url)
    if connection is not None:
        try:
            connection.run("SELECT 1")
            return connection
        except (InterfaceError, DatabaseError, OSError):
            forget(url)
    connection = pg8000.native.Connection(**connection_params(url))
    _connections[url] = connection
    return connection


def forget(url: str) -> None:
    connection = _connections.pop(url, None)
    if connection is not None:
        try:
            connection.close()
        except Exception:
            pass  # it is being discarded because it is already broken


@contextmanager
def transaction(connection: pg8000.native.Connection, url: str) -> Iterator[pg8000.native.Connection]:
    """BEGIN ... COMMIT, or ROLLBACK and re-raise the original error unchanged."""
    connection.run("BEGIN")
    try:
        yield connection
    except BaseException:
        try:
            connection.run("ROLLBACK")
        except Exception:
            forget(url)  # the original error matters more than this one
        raise
    connection.run("COMMIT")


def ident(name: str) -> str:
    return pg8000.native.identifier(name)


def qualified(schema: str, table: str) -> str:
    return f"{ident(schema)}.{ident(table)}"


def error_text(exc: BaseException) -> str:
    """The database's own message (`M` field) for a PostgreSQL error, else `str(exc)`."""
    fields = _error_fields(exc)
    return str(fields.get("M")) if fields.get("M") else str(exc)


def error_code(exc: BaseException) -> str | None:
    """The SQLSTATE of a PostgreSQL error, e.g. `42P01` for an undefined table."""
    code = _error_fields(exc).get("C")
    return str(code) if code else None


def _error_fields(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, DatabaseError) and exc.args and isinstance(exc.args[0], dict):
        return exc.args[0]
    return {}
