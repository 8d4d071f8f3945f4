"""`harness up --docker`: the services of docker-compose.yml as containers, through the Docker SDK for Python.

docker-compose.yml is the one place of truth: images, published ports (always bound to 127.0.0.1),
environment and bind mounts are read from it; a key this module does not understand is an error rather
than something silently dropped. Containers are named `harness-<pid>-<service>` and labelled
(`harness.owner`, `harness.pid`, `harness.service`); `harness up --docker` stops and removes exactly the
containers it created, by id, when it stops, and also when starting fails half-way.

Not verified against a real Docker engine: our machines have none. tests/unit/test_docker_up.py checks
the message on a machine without one (in a subprocess), the compose parsing, and the arguments and the
clean-up with a fake client in place of the SDK's.

Unlike the embedded LocalStack and PostgreSQL, containers do not die with the harness when it is killed
with SIGKILL; the labels find them: `docker ps -a --filter label=harness.owner`.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
"""The source checkout's docker-compose.yml (an installed wheel does not carry it)."""

LOCALSTACK, POSTGRES = "localstack", "postgres"
"""The services whose endpoints `harness up --docker` prints, by their name in docker-compose.yml."""
LOCALSTACK_PORT, POSTGRES_PORT = 4566, 5432
"""The ports the two images listen on inside their containers."""

SERVICE_KEYS = frozenset({"image", "ports", "environment", "volumes"})
LOOPBACK = "127.0.0.1"
LABEL_OWNER, LABEL_PID, LABEL_SERVICE = "harness.owner", "harness.pid", "harness.service"
OWNER = "harness up --docker"

PROBE_TIMEOUT_S = 3
"""How long the first call to the Docker engine may take: without an engine, `up --docker` fails at once."""
API_TIMEOUT_S = 120
"""Every later call (a pull reads its progress with this timeout between messages)."""
READY_TIMEOUT_S = 180.0
"""From the containers' start (after any image pull) until LocalStack and PostgreSQL both answer."""
STOP_TIMEOUT_S = 10


class ComposeError(ValueError):
    """docker-compose.yml says something `harness up --docker` cannot run as written."""


class DockerUnavailable(Exception):
    """No Docker engine answered; `where` names what was tried, `reason` why it failed."""

    def __init__(self, where: str, reason: str):
        super().__init__(f"{where}: {reason}")
        self.where, self.reason = where, reason


class DockerUpError(Exception):
    """Starting failed; the message says which container and why (with the tail of its log if it ran)."""


class _Interrupted(BaseException):
    """SIGINT or SIGTERM while starting: stop starting, remove what was created."""


@dataclass(frozen=True)
class Service:
    name: str
    image: str
    ports: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Container port (`4566/tcp`) -> (127.0.0.1, host port), as the SDK's `ports` takes it."""
    environment: dict[str, str] = field(default_factory=dict)
    volumes: list[str] = field(default_factory=list)
    """Bind mounts `host:container[:mode]`, as the SDK's `volumes` takes them."""

    def host_port(self, container_port: int) -> int:
        try:
            return self.ports[f"{container_port}/tcp"][1]
        except KeyError:
            raise ComposeError(f"service {self.name} does not publish port {container_port} (`ports:`), so the "
                               "harness could not reach it") from None


@dataclass(frozen=True)
class ComposePlan:
    services: list[Service]
    """In the file's order, which is the order they are started in."""

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise ComposeError(f"no service {name!r}; `harness up --docker` needs {LOCALSTACK!r} and {POSTGRES!r}")

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.service(LOCALSTACK).host_port(LOCALSTACK_PORT)}"

    @property
    def database_url(self) -> str:
        postgres = self.service(POSTGRES)
        env = postgres.environment
        user = env.get("POSTGRES_USER", "postgres")
        password = env.get("POSTGRES_PASSWORD")
        credentials = urllib.parse.quote(user, safe="")
        if password:
            credentials += ":" + urllib.parse.quote(password, safe="")
        database = urllib.parse.quote(env.get("POSTGRES_DB", user), safe="")
        return f"postgresql://{credentials}@{LOOPBACK}:{postgres.host_port(POSTGRES_PORT)}/{database}"


def load_compose(path: Path = COMPOSE_FILE) -> ComposePlan:
    import yaml

    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ComposeError(f"{path} not found: `harness up --docker` runs the source checkout's "
                           "docker-compose.yml (an installed wheel does not carry it)") from None
    except (OSError, yaml.YAMLError) as error:
        raise ComposeError(f"cannot read {path}: {error}") from None
    services = document.get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict) or not services:
        raise ComposeError(f"{path}: no `services:` mapping")
    plan = ComposePlan([_service(path, str(name), spec) for name, spec in services.items()])
    _ = (plan.endpoint_url, plan.database_url)  # both services, and their ports, must be there
    return plan


def _service(path: Path, name: str, spec: Any) -> Service:
    where = f"{path}: service {name}"
    if not isinstance(spec, dict):
        raise ComposeError(f"{where}: expected a mapping")
    unknown = sorted(set(spec) - SERVICE_KEYS)
    if unknown:
        raise ComposeError(f"{where}: `harness up --docker` does not understand {', '.join(unknown)} (it reads only "
                           f"{', '.join(sorted(SERVICE_KEYS))}); start the file with `docker compose up` instead")
    image = spec.get("image")
    if not isinstance(image, str) or not image:
        raise ComposeError(f"{where}: no `image:`")
    return Service(name, image, _ports(where, spec.get("ports") or []),
                   _environment(where, spec.get("environment") or {}), _volumes(where, spec.get("volumes") or []))


def _ports(where: str, entries: Any) -> dict[str, tuple[str, int]]:
    if not isinstance(entries, list):
        raise ComposeError(f"{where}: `ports:` must be a list")
    ports: dict[str, tuple[str, int]] = {}
    for entry in entries:
        text = str(entry)
        mapping, _, protocol = text.partition("/")
        parts = mapping.rsplit(":", 2)
        if len(parts) == 3:
            host_ip, host, container = parts
        elif len(parts) == 2:
            host_ip, (host, container) = "", parts
        else:
            raise ComposeError(f"{where}: port {text!r} names no host port; the harness needs a fixed one "
                               "(HOST:CONTAINER) to print its URL")
        if host_ip not in ("", LOOPBACK):
            raise ComposeError(f"{where}: port {text!r} binds {host_ip}; the harness binds to {LOOPBACK} only")
        if not (host.isdigit() and container.isdigit()):
            raise ComposeError(f"{where}: port {text!r} is not HOST:CONTAINER with single port numbers")
        ports[f"{int(container)}/{protocol or 'tcp'}"] = (LOOPBACK, int(host))
    return ports


def _environment(where: str, entries: Any) -> dict[str, str]:
    if isinstance(entries, list):
        pairs = [str(entry).partition("=") for entry in entries]
        entries = {key: value for key, separator, value in pairs if separator}
    if not isinstance(entries, dict):
        raise ComposeError(f"{where}: `environment:` must be a mapping or a list of NAME=value")
    environment = {}
    for key, value in entries.items():
        if value is None:
            continue  # compose: taken from the shell; the harness passes no variable of its own shell on
        if isinstance(value, bool):
            raise ComposeError(f"{where}: environment {key}: quote the value (compose reads {value} as a boolean)")
        environment[str(key)] = str(value)
    return environment


def _volumes(where: str, entries: Any) -> list[str]:
    if not isinstance(entries, list):
        raise ComposeError(f"{where}: `volumes:` must be a list")
    volumes = []
    for entry in entries:
        if not isinstance(entry, str) or not entry.startswith("/") or ":" not in entry:
            raise ComposeError(f"{where}: volume {entry!r}: only bind mounts of an absolute host path "
                               "(/host/path:/container/path) are supported")
        volumes.append(entry)
    return volumes


def container_arguments(service: Service, pid: int) -> dict[str, Any]:
    """The keyword arguments of `client.containers.create` for one service."""
    return {
        "image": service.image,
        "name": f"harness-{pid}-{service.name}",
        "labels": {LABEL_OWNER: OWNER, LABEL_PID: str(pid), LABEL_SERVICE: service.name},
        "environment": dict(service.environment),
        "ports": dict(service.ports),
        "volumes": list(service.volumes),
        "detach": True,
    }


def _docker_host() -> tuple[str | None, str]:
    """DOCKER_HOST (None if unset) and how to name what is tried, for messages."""
    host = os.environ.get("DOCKER_HOST", "").strip() or None
    if host:
        return host, f"{host} (DOCKER_HOST)"
    return None, "/var/run/docker.sock (the default socket; DOCKER_HOST is not set)"


def _remote(host: str) -> str | None:
    """The host name if DOCKER_HOST is an engine on another machine, whose 127.0.0.1 is not ours."""
    parsed = urllib.parse.urlparse(host if "://" in host else f"tcp://{host}")
    if parsed.scheme not in ("tcp", "http", "https", "ssh") or not parsed.hostname:
        return None
    if parsed.hostname == "localhost":
        return None
    try:
        return None if ipaddress.ip_address(parsed.hostname).is_loopback else parsed.hostname
    except ValueError:
        return parsed.hostname


def _reason(error: BaseException) -> str:
    """The operating system's words if an OSError is at the bottom (No such file or directory), else the text."""
    seen: set[int] = set()
    todo: list[BaseException] = [error]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and isinstance(current.strerror, str) and current.strerror:
            return current.strerror
        todo.extend(x for x in (current.__cause__, current.__context__, *current.args) if isinstance(x, BaseException))
    return str(error) or type(error).__name__


def connect() -> Any:
    """A Docker client whose engine answered (the SDK asks its version), or DockerUnavailable."""
    host, where = _docker_host()
    try:
        import docker  # type: ignore[import-untyped]
    except ImportError as error:
        raise DockerUnavailable(where, f"the Docker SDK for Python is not installed ({error})") from None
    try:
        client = docker.from_env(timeout=PROBE_TIMEOUT_S)
    except Exception as error:  # noqa: BLE001 - whatever stops the first call, the answer is the same message
        raise DockerUnavailable(where, _reason(error)) from None
    client.api.timeout = API_TIMEOUT_S  # read on every request; the probe alone had the short one
    return client


def no_engine_message(error: DockerUnavailable, plan: ComposePlan) -> str:
    return (f"harness up --docker: no Docker engine answered at {error.where}: {error.reason}. "
            "--docker needs one to run docker-compose.yml's LocalStack and PostgreSQL as containers. "
            "Without Docker, run `harness up` without --docker: it embeds LocalStack and PostgreSQL and needs "
            "no Docker engine. Or, where a Docker engine runs, start docker-compose.yml yourself "
            f"(`docker compose up`) and attach with HARNESS_ENDPOINT={plan.endpoint_url} "
            f"DATABASE_URL={plan.database_url}.")


def _refused(args: argparse.Namespace) -> str | None:
    given = [option for option, value in (("--deploy", args.deploy), ("--scenario", args.scenario),
                                          ("--port", args.port is not None),
                                          ("--retry-base-delay", getattr(args, "retry_base_delay", None) is not None),
                                          ("--keepalive-ms", args.keepalive_ms is not None)) if value]
    if not given:
        return None
    return (f"harness up --docker: {', '.join(given)} cannot be combined with --docker. --docker starts "
            "docker-compose.yml as written (edit it for ports or LAMBDA_RETRY_BASE_DELAY) and deploys nothing: a "
            "Docker LocalStack runs Lambdas in containers, where the printed DATABASE_URL's 127.0.0.1 is not this "
            "machine. To deploy or arm a scenario, run `harness up --deploy` or `harness up --scenario FILE` "
            "without --docker.")


def create_containers(client: Any, services: Iterable[Service], pid: int, created: list[Any],
                      say: Callable[[str], None]) -> None:
    """Create and start each service's container, appending each to `created` as soon as it exists, so
    that the caller removes exactly these whatever fails (a created container whose start failed included)."""
    import docker.errors  # type: ignore[import-untyped]

    for service in services:
        arguments = container_arguments(service, pid)
        say(f"harness up --docker: starting {service.name} ({service.image}) as {arguments['name']}")
        try:
            try:
                container = client.containers.create(**arguments)
            except docker.errors.ImageNotFound:
                say(f"harness up --docker: pulling {service.image} (once; it can take minutes)")
                client.images.pull(service.image)
                container = client.containers.create(**arguments)
            created.append(container)
            container.start()
        except Exception as error:  # noqa: BLE001 - the message names the service; the caller removes `created`
            raise DockerUpError(f"cannot start {service.name} ({service.image}) as {arguments['name']}: "
                                f"{error}") from error


def remove_containers(containers: list[Any], say: Callable[[str], None]) -> None:
    """Stop and remove these containers, by id, with their anonymous volumes, the last one created first; then
    empty the list, so that nothing is removed twice."""
    import docker.errors  # type: ignore[import-untyped]

    for container in reversed(containers):
        try:
            container.stop(timeout=STOP_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - not running, or already gone: remove(force=True) settles it
            pass
        try:
            container.remove(v=True, force=True)
        except docker.errors.NotFound:
            pass  # gone already
        except Exception as error:  # noqa: BLE001 - report, and go on with the others
            say(f"harness up --docker: could not remove container {container.id}: {error}; "
                f"remove it with `docker rm -f -v {container.id}`")
    containers.clear()


def localstack_ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_localstack/health", timeout=2) as response:  # noqa: S310 (loopback)
            services = json.loads(response.read() or b"{}").get("services", {})
    except (urllib.error.URLError, OSError, ValueError, AttributeError):
        return False
    return services.get("lambda") in ("available", "running")


def postgres_ready(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


def _log_tail(container: Any, lines: int = 40) -> str:
    try:
        return container.logs(tail=lines).decode(errors="replace").rstrip("\n")
    except Exception as error:  # noqa: BLE001 - the log is a courtesy
        return f"(no log: {error})"


def _gone(containers: list[Any]) -> Any | None:
    """The first container that is no longer running, if any."""
    for container in containers:
        try:
            container.reload()
        except Exception:  # noqa: BLE001 - removed behind our back, or the engine went away
            return container
        if container.status in ("exited", "dead", "removing"):
            return container
    return None


def wait_ready(containers: list[Any], plan: ComposePlan, timeout_s: float = READY_TIMEOUT_S) -> None:
    probes = {"LocalStack": lambda: localstack_ready(plan.endpoint_url),
              "PostgreSQL": lambda: postgres_ready(plan.database_url)}
    pending = dict(probes)
    give_up = time.monotonic() + timeout_s
    while True:
        gone = _gone(containers)
        if gone is not None:
            raise DockerUpError(f"container {gone.name} ({gone.id}) stopped before it was ready "
                                f"(status {gone.status}):\n{_log_tail(gone)}")
        pending = {name: probe for name, probe in pending.items() if not probe()}
        if not pending:
            return
        if time.monotonic() > give_up:
            tails = "\n".join(f"--- {c.name}:\n{_log_tail(c)}" for c in containers)
            raise DockerUpError(f"{' and '.join(pending)} not ready within {timeout_s:g} s "
                                f"({plan.endpoint_url}, 127.0.0.1:{plan.service(POSTGRES).host_port(POSTGRES_PORT)})"
                                f":\n{tails}")
        time.sleep(0.5)


def describe_timing(url: str) -> str:
    from harness.model import platform

    try:
        return platform.attached(url).describe()
    except ValueError as error:  # a malformed HARNESS_RETRY_BASE_DELAY
        return str(error)


def cmd_up_docker(args: argparse.Namespace, *, client: Any = None, stop: threading.Event | None = None) -> int:
    """`harness up --docker`; `client` and `stop` replace the SDK's client and the signals in tests."""
    from harness.cli import _print_line

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    refusal = _refused(args)
    if refusal:
        say(refusal)
        return 2
    try:
        plan = load_compose(COMPOSE_FILE)
    except ComposeError as error:
        say(f"harness up --docker: {error}")
        return 2
    host, _ = _docker_host()
    remote = _remote(host) if host else None
    if remote:
        say(f"harness up --docker: DOCKER_HOST={host} is an engine on {remote}; the containers' ports would be "
            f"on that machine's 127.0.0.1, not this one's. Unset DOCKER_HOST to use this machine's engine, or run "
            "`harness up` without --docker (no Docker needed).")
        return 2
    if client is None:
        try:
            client = connect()
        except DockerUnavailable as error:
            say(no_engine_message(error, plan))
            return 2

    if stop is None:
        stop = threading.Event()
    starting = True

    def on_signal(signum: int, _frame: object) -> None:
        if starting:
            raise _Interrupted(signum)
        stop.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    created: list[Any] = []
    try:
        try:
            create_containers(client, plan.services, os.getpid(), created, say)
            wait_ready(created, plan)
        except _Interrupted:
            starting = False
            say("harness up --docker: interrupted while starting; removing what was started")
            return 0
        except Exception as error:  # noqa: BLE001 - any start failure ends `up` with its message
            starting = False
            say(f"harness up --docker: {error}")
            return 1
        starting = False
        say("harness up --docker: containers " + ", ".join(f"{c.name} ({c.id[:12]})" for c in created))
        say(f"harness: {describe_timing(plan.endpoint_url)}")
        _print_line("HARNESS_ENDPOINT", plan.endpoint_url)
        _print_line("DATABASE_URL", plan.database_url)
        say("harness up: ready; Ctrl-C (SIGINT) or SIGTERM stops everything started here")
        while not stop.wait(0.5):
            gone = _gone(created)
            if gone is not None:
                say(f"harness up --docker: container {gone.name} exited unexpectedly:\n{_log_tail(gone)}")
                return 1
    finally:
        starting = False
        remove_containers(created, say)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    say("harness up: stopped")
    return 0
