"""`harness up --docker`: docker-compose.yml's services (the images `harness image build` makes) as containers on
the host network, on free 127.0.0.1 ports given as its `${HARNESS_*_PORT}`, through the Docker SDK. It prints
what the container's own `harness up` printed, and DATABASE_URL; on Ctrl-C or SIGTERM it removes exactly its
containers, by ID. Killed outright it leaves none either: it holds each one's stdin (StdinOnce, closed by the
engine when this process goes), on whose end the entrypoint, harness-watchdog, stops the service, and the
container is auto-removed. No volume or network is made. (`containers.run` is create, attach, start, but
cannot hold stdin.)
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker  # type: ignore[import-untyped]
from docker.utils.socket import frames_iter  # type: ignore[import-untyped]

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
READY_TIMEOUT_S = 120.0
LABEL = "harness.up.pid"


class DockerUpError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def services(variables: dict[str, str], path: Path = COMPOSE_FILE) -> dict[str, dict[str, Any]]:
    """The compose file's services, `${NAME:-default}` filled from `variables`, else the environment."""
    import yaml

    def fill(value: Any) -> str:
        return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}",
                      lambda m: variables.get(m[1]) or os.environ.get(m[1]) or m[2] or "", str(value))

    found = {}
    for name, spec in yaml.safe_load(path.read_text(encoding="utf-8"))["services"].items():
        if spec.get("network_mode") != "host":
            raise DockerUpError(f"{path}: service {name} must use network_mode: host (loopback only)")
        found[name] = {"image": spec["image"], "command": [fill(part) for part in spec.get("command") or []] or None,
                       "environment": {key: fill(value) for key, value in (spec.get("environment") or {}).items()}}
    return found


def connect() -> Any:
    try:
        return docker.from_env(version="auto", timeout=60)  # auto: from_env asks; Debian's 20.10 speaks API 1.41
    except Exception as error:  # noqa: BLE001 - whatever stops the first call, the answer is the same
        raise DockerUpError(f"no Docker engine answered at {os.environ.get('DOCKER_HOST') or '/var/run/docker.sock'}"
                            f" ({error}). Install and start one (as root: apt-get install docker.io; dockerd &), "
                            "or run `harness up` without --docker: it needs no Docker.") from None


class Attached(threading.Thread):
    """One service's container: made, attached (stdin held open, output gathered here), then started."""

    def __init__(self, client: Any, name: str, spec: dict[str, Any]):
        super().__init__(name=name, daemon=True)
        try:
            self.container = client.containers.create(
                spec["image"], spec["command"], environment={**spec["environment"], "HARNESS_WATCH_STDIN": "1"},
                name=f"harness-{os.getpid()}-{name}", labels={LABEL: str(os.getpid()), "harness.service": name},
                network_mode="host", init=True, auto_remove=True, stdin_open=True, detach=False)
        except docker.errors.ImageNotFound:
            raise DockerUpError(f"no image {spec['image']}: `harness image build` (make images) makes it") from None
        self.output = {1: bytearray(), 2: bytearray()}
        try:
            self.socket = client.api.attach_socket(self.container.id, params={
                "stdin": 1, "stdout": 1, "stderr": 1, "stream": 1, "logs": 1})
        except BaseException:
            client.api.remove_container(self.container.id, force=True)  # never started: not auto-removed
            raise

    def run(self) -> None:  # until the container ends
        for stream, data in frames_iter(self.socket, tty=False):
            self.output.setdefault(stream, bytearray()).extend(data)

    def text(self, stream: int = 2) -> str:
        return bytes(self.output[stream]).decode(errors="replace")

    def wait_for(self, ready: Callable[[], bool], stop: threading.Event) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not stop.wait(0.05) and not ready():
            if not self.is_alive() or time.monotonic() > deadline:
                raise DockerUpError(f"{self.container.name} did not get ready"
                                    f"{'' if self.is_alive() else ' (it ended)'}:\n{self.text()[-3000:]}")


def postgres_answers(url: str) -> bool:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=2).close()
    except psycopg.Error:
        return False
    return True


def remove(client: Any, started: list[Attached]) -> None:
    """Stop and remove exactly the containers made here, by ID, and wait until the engine has them gone."""
    for attached in reversed(started):
        for action, options in ((client.api.stop, {"timeout": 10}), (client.api.remove_container, {"force": True})):
            try:
                action(attached.container.id, **options)
            except docker.errors.APIError:
                pass  # auto-remove got there first, or is under way
        with socket.socket(fileno=os.dup(attached.socket.fileno())) as connection:
            connection.shutdown(socket.SHUT_RDWR)  # stdin ends, and the reader sees the end of the output
        attached.join(10)
        # The SDK keeps the HTTP response on the socket: closing that response closes both, in the order it needs.
        getattr(attached.socket, "_response", attached.socket).close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and client.api.containers(all=True, filters={"id": attached.container.id}):
            time.sleep(0.05)
    started.clear()


def say(message: str) -> None:
    print(f"harness up --docker: {message}", file=sys.stderr, flush=True)


def cmd_up_docker(args: argparse.Namespace, *, client: Any = None, stop: threading.Event | None = None) -> int:
    """`harness up --docker`; `client` and `stop` replace the SDK's client and the signals in tests."""
    if args.deploy or args.scenario or args.keepalive_ms is not None:
        say("--deploy, --scenario and --keepalive-ms need `harness up` without --docker")
        return 2
    if stop is None:
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    variables = {"HARNESS_LOCALSTACK_PORT": str(args.port or free_port()), "HARNESS_POSTGRES_PORT": str(free_port())}
    started: list[Attached] = []
    try:
        plan = services(variables)
        client = client or connect()
        for name, spec in plan.items():
            started.append(Attached(client, name, spec))
            started[-1].start()
            started[-1].container.start()
        say("containers " + ", ".join(f"{a.container.name} ({a.container.id[:12]})" for a in started))
        postgres, localstack = ({a.name: a for a in started}[name] for name in ("postgres", "localstack"))
        env = plan["postgres"]["environment"]
        database_url = f"postgresql://postgres:{env['POSTGRES_PASSWORD']}@127.0.0.1:{env['PGPORT']}/postgres"
        postgres.wait_for(lambda: postgres_answers(database_url), stop)
        localstack.wait_for(lambda: "harness up: ready" in localstack.text(), stop)
        if stop.is_set():
            return 0
        lines = [line for line in localstack.text(1).splitlines() if re.fullmatch(r"[A-Z_0-9]+=\S.*", line)]
        print("\n".join([*lines, f"DATABASE_URL={database_url}"]), flush=True)
        say("ready; Ctrl-C (SIGINT) or SIGTERM stops and removes its containers")
        while not stop.wait(0.2):
            for ended in (a for a in started if not a.is_alive()):
                raise DockerUpError(f"{ended.container.name} ended unexpectedly:\n{ended.text()[-3000:]}")
        return 0
    except DockerUpError as error:
        say(str(error))
        return 1
    finally:
        if client is not None:
            remove(client, started)
