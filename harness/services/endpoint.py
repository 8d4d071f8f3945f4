"""Where LocalStack is, and boto3 clients that can only talk to it.

Endpoints must be loopback unless the user opts in explicitly; credentials are always fake and no AWS
profile, config file or credentials file of the user is ever read.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.session
from botocore.config import Config

FAKE_ACCESS_KEY = "test"
FAKE_SECRET_KEY = "test"
DEFAULT_REGION = "us-east-1"
ALLOW_REMOTE_ENV = "HARNESS_ALLOW_REMOTE_ENDPOINT"


class UnsafeEndpoint(Exception):
    """An endpoint that is not on this machine, given without the explicit opt-in."""


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def check_endpoint(url: str, allow_remote: bool | None = None) -> str:
    """Return ``url`` if it is safe to use; raise UnsafeEndpoint with the reason otherwise."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UnsafeEndpoint(f"endpoint {url!r} is not an http(s) URL such as http://127.0.0.1:4566")
    if allow_remote is None:
        allow_remote = os.environ.get(ALLOW_REMOTE_ENV, "").lower() in ("1", "true", "yes")
    if not allow_remote and not _is_loopback(parsed.hostname):
        raise UnsafeEndpoint(
            f"refusing endpoint {url}: {parsed.hostname} is not a loopback address. The harness creates, "
            "breaks and deletes resources, so it only talks to a LocalStack on this machine unless you opt "
            f"in explicitly (--allow-remote-endpoint or {ALLOW_REMOTE_ENV}=1)."
        )
    return url.rstrip("/")


def _isolated_botocore_session() -> botocore.session.Session:
    # Never consult the user's ~/.aws files, AWS_PROFILE or AWS_CONFIG_FILE: session variables given
    # as (config key, env var, default, converter) with no env var cannot be redirected from outside.
    return botocore.session.Session(session_vars={
        "profile": (None, None, None, None),
        "config_file": (None, None, os.devnull, None),
        "credentials_file": (None, None, os.devnull, None),
    })


@dataclass
class Endpoint:
    url: str
    region: str = DEFAULT_REGION
    allow_remote: bool | None = None
    _session: boto3.Session | None = field(default=None, repr=False, compare=False)
    # A boto3 session is not thread-safe (its clients are): one endpoint is shared by the threads of
    # `harness run -j N` and of a stack's parallel deploy, so the session is made and used under this lock.
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    _shared: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.url = check_endpoint(self.url, allow_remote=self.allow_remote)

    def session(self) -> boto3.Session:
        with self._lock:
            return self._make_session()

    def _make_session(self) -> boto3.Session:
        if self._session is None:
            self._session = boto3.Session(
                aws_access_key_id=FAKE_ACCESS_KEY,
                aws_secret_access_key=FAKE_SECRET_KEY,
                region_name=self.region,
                botocore_session=_isolated_botocore_session(),
            )
        return self._session

    def client(self, service: str, **config: Any) -> Any:
        """A new client; safe to call from several threads at once, and the client can be used in any."""
        cfg = Config(retries={"max_attempts": 2, "mode": "standard"}, read_timeout=config.pop("read_timeout", 70),
                     connect_timeout=5, **config)
        with self._lock:
            return self._make_session().client(service, endpoint_url=self.url, config=cfg)


    def shared_client(self, service: str) -> Any:
        """One client per service for everything that uses this endpoint (a client is thread-safe, and
        making one costs 30-50 ms of CPU: a stack's deploy used to make five)."""
        with self._lock:
            found = self._shared.get(service)
        if found is None:
            made = self.client(service)
            with self._lock:
                found = self._shared.setdefault(service, made)
        return found


def endpoint_from_env(allow_remote: bool | None = None) -> Endpoint | None:
    """The LocalStack given by HARNESS_ENDPOINT, checked; None when the variable is unset."""
    url = os.environ.get("HARNESS_ENDPOINT")
    return Endpoint(url, allow_remote=allow_remote) if url else None
