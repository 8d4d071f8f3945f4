"""The LocalStack and PostgreSQL a run uses: started lazily, once, and stopped together."""

from __future__ import annotations

import threading
from typing import Any

from harness.model import platform
from harness.model.platform import Platform
from harness.services import EmbeddedLocalStack, Endpoint, endpoint_from_env
from harness.stack.database import start_database


class Resources:
    """The LocalStack and PostgreSQL a run uses: started lazily, once, and stopped together."""

    def __init__(self, endpoint_url: str | None = None, allow_remote: bool | None = None,
                 database_url: str | None = None, quiet: bool = True) -> None:
        self._endpoint_url, self._allow_remote, self._database_url = endpoint_url, allow_remote, database_url
        self._quiet = quiet
        self._localstack: EmbeddedLocalStack | None = None
        self._database: Any = None
        self._endpoint: Endpoint | None = None
        self._platform: Platform | None = None
        self._lock = threading.Lock()
        self._database_lock = threading.Lock()

    def endpoint(self) -> Endpoint:
        with self._lock:
            if self._endpoint is None:
                if self._endpoint_url:
                    self._endpoint = Endpoint(self._endpoint_url, allow_remote=self._allow_remote)
                else:
                    self._endpoint = endpoint_from_env(self._allow_remote)
                if self._endpoint is None:
                    # PostgreSQL starts meanwhile: a run needs both, and LocalStack's start leaves a core idle.
                    threading.Thread(target=self._start_database_quietly, name="harness-database-start",
                                     daemon=True).start()
                    self._localstack = EmbeddedLocalStack(quiet=self._quiet)
                    self._endpoint = self._localstack.start()
            return self._endpoint

    @property
    def attached(self) -> bool:
        """Whether the LocalStack in use was started by someone else (HARNESS_ENDPOINT, --endpoint)."""
        self.endpoint()
        return self._localstack is None

    def platform(self) -> Platform:
        """The timing of the LocalStack in use: the one the harness started, or the attached one's."""
        endpoint = self.endpoint()
        with self._lock:
            if self._platform is None:
                if self._localstack is not None:
                    self._platform = platform.embedded()
                else:
                    self._platform = platform.attached(endpoint.url)
            return self._platform

    def _start_database_quietly(self) -> None:
        """Start PostgreSQL ahead of its first use; a failure is left for `database_url` to meet and report."""
        try:
            self.database_url()
        except Exception:  # noqa: BLE001 - database_url() raises it again, where a caller reports it
            pass

    def database_url(self) -> str:
        with self._database_lock:
            if self._database is None:
                env = {"DATABASE_URL": self._database_url} if self._database_url else None
                self._database = start_database(env)
            return self._database.url

    def close(self) -> None:
        with self._database_lock:  # a start in the background is over, its server stopped with the rest
            if self._database is not None:
                self._database.stop()
                self._database = None
        if self._localstack is not None:
            self._localstack.stop()
            self._localstack = None
        self._endpoint = None
        self._platform = None
