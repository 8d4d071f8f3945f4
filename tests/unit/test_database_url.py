from __future__ import annotations

import ssl

import pytest
from pipeline_common.database import connection_params
from pipeline_common.errors import ConfigError


def test_tcp_url() -> None:
    assert connection_params("postgresql://app:s%40cret@127.0.0.1:6543/pipeline") == {
        "user": "app",
        "password": "s@cret",
        "database": "pipeline",
        "host": "127.0.0.1",
        "port": 6543,
        "ssl_context": False,
    }


def test_defaults_follow_libpq() -> None:
    params = connection_params("postgres://app@db.example")
    assert (params["host"], params["port"], params["password"], params["database"]) == (
        "db.example",
        5432,
        None,
        None,
    )


def test_unix_socket_from_the_host_query_parameter() -> None:
    params = connection_params("postgresql://postgres:@/postgres?host=/tmp/Pg%20Data&port=5433")
    assert params["unix_sock"] == "/tmp/Pg Data/.s.PGSQL.5433"
    assert "host" not in params


def test_unix_socket_from_a_percent_encoded_host_keeps_its_case() -> None:
    params = connection_params("postgresql://postgres@%2Fvar%2FRun%2Fpg/db")
    assert params["unix_sock"] == "/var/Run/pg/.s.PGSQL.5432"


def test_sslmode_require_encrypts_without_verifying() -> None:
    context = connection_params("postgresql://u@h/db?sslmode=require")["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_NONE


@pytest.mark.parametrize(("query", "expected"), [("", False), ("?sslmode=disable", False),
                                                  ("?sslmode=prefer", None), ("?sslmode=allow", None)])
def test_sslmode_disable_never_asks_for_ssl_and_prefer_lets_pg8000_ask(query: str, expected: object) -> None:
    # pg8000 asks the server for SSL unless ssl_context is False (and builds a default context to do it).
    assert connection_params(f"postgresql://u@h/db{query}").get("ssl_context") is expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u@h/db", "must start with postgresql://"),
        ("postgresql://h/db", "has no user name"),
        ("postgresql://u@h:port/db", "non-numeric port"),
        ("postgresql://u@h/db?target_session_attrs=any", "unsupported query parameter"),
        ("postgresql://u@h/db?sslmode=sometimes", "unknown sslmode"),
    ],
)
def test_bad_urls_are_configuration_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        connection_params(url)
    assert caught.value.variable == "DATABASE_URL"
