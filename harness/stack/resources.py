"""The LocalStack and PostgreSQL a run uses: started lazily, once, and stopped together."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from harness.model import platform
from harness.model.platform import Platform
from harness.services import EmbeddedLocalStack, Endpoint, endpoint_from_env
from harness.stack.database import start_database

MAX_LOCALSTACKS = 4
"""The most embedded LocalStacks one run starts (about 330 MB of memory each, and a start's CPU): more than the
cores was slower on 2 cores, and more than this many was not measured."""


class Resources:
    """The LocalStack and PostgreSQL a run uses: started lazily, once, and stopped together.

    With `localstacks` above 1 (at most MAX_LOCALSTACKS) and no LocalStack to attach to, that many embedded
    LocalStacks start, and each stack deploys to the one with the fewest stacks on it (`lease`): LocalStack
    serves its requests and runs CloudFormation under one interpreter lock, so one LocalStack keeps
    `harness run -j 2` on about one core.
    """

    def __init__(self, endpoint_url: str | None = None, allow_remote: bool | None = None,
                 database_url: str | None = None, quiet: bool = True, localstacks: int = 1) -> None:
        self._endpoint_url, self._allow_remote, self._database_url = endpoint_url, allow_remote, database_url
        self._quiet = quiet
        self._localstacks: list[EmbeddedLocalStack] = []
        self._wanted = max(1, min(localstacks, MAX_LOCALSTACKS))
        self._database: Any = None
        self._endpoints: list[Endpoint] = []
        self._leases: list[int] = []
        self._platform: Platform | None = None
        self._lock = threading.Lock()
        self._database_lock = threading.Lock()

    def endpoint(self) -> Endpoint:
        """The LocalStack in use (the first, when there are several); started on first use, so call this
        first in the main thread (a child process dies with the thread that started it)."""
        with self._lock:
            if not self._endpoints:
                self._endpoints = self._start()
                self._leases = [0] * len(self._endpoints)
            return self._endpoints[0]

    def spawn(self) -> None:
        """Start the embedded LocalStacks (and PostgreSQL) without waiting for them, when none is attached: the
        caller goes on (importing what runs a scenario) while they start; `endpoint()` waits. Main thread only."""
        with self._lock:
            if not self._endpoints and not self._endpoint_url and endpoint_from_env(self._allow_remote) is None:
                self._spawn()

    def _spawn(self) -> None:
        if self._localstacks:
            return
        # PostgreSQL starts meanwhile: a run needs both, and LocalStack's start leaves a core idle.
        threading.Thread(target=self._start_database_quietly, name="harness-database-start", daemon=True).start()
        self._localstacks = [EmbeddedLocalStack(quiet=self._quiet or index > 0) for index in range(self._wanted)]
        for localstack in self._localstacks:
            localstack.spawn()

    def _start(self) -> list[Endpoint]:
        if self._endpoint_url:
            return [Endpoint(self._endpoint_url, allow_remote=self._allow_remote)]
        attached = endpoint_from_env(self._allow_remote)
        if attached is not None:
            return [attached]
        self._spawn()
        try:
            return [localstack.wait_started() for localstack in self._localstacks]
        except BaseException:
            for localstack in self._localstacks:
                localstack.stop()
            self._localstacks = []
            raise

    @contextmanager
    def lease(self) -> Iterator[Endpoint]:
        """The endpoint a stack deploys to, for as long as the stack lives: the LocalStack with the fewest."""
        self.endpoint()
        with self._lock:
            index = min(range(len(self._endpoints)), key=self._leases.__getitem__)
            self._leases[index] += 1
        try:
            yield self._endpoints[index]
        finally:
            with self._lock:
                self._leases[index] -= 1

    @property
    def attached(self) -> bool:
        """Whether the LocalStack in use was started by someone else (HARNESS_ENDPOINT, --endpoint)."""
        self.endpoint()
        return not self._localstacks

    def platform(self) -> Platform:
        """The timing of the LocalStack in use: the one the harness started, or the attached one's."""
        endpoint = self.endpoint()
        with self._lock:
            if self._platform is None:
                if self._localstacks:
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
        for localstack in self._localstacks:
            localstack.stop()
        self._localstacks = []
        self._endpoints = []
        self._platform = None
