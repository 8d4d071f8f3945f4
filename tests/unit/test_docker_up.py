"""`harness up --docker` (harness/cli/docker_up.py) without a Docker engine: our machines have none.

What is checked here: the message where no engine answers (in a subprocess, as a user meets it), the
reading of docker-compose.yml, and, with a fake client in place of the Docker SDK's, the arguments the
containers are created with and that exactly the containers created are removed, also when starting fails
half-way. Whether a real engine accepts those arguments is not verified.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import requests
import urllib3
import yaml

from harness.cli import build_parser, docker_up

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"


def test_without_an_engine_up_docker_fails_at_once_with_one_paragraph(tmp_path: Path) -> None:
    socket = tmp_path / "no-engine" / "docker.sock"  # never exists, engine or not on this machine
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = f"unix://{socket}"
    started = time.monotonic()
    completed = subprocess.run([sys.executable, "-m", "harness.cli", "up", "--docker"], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=60, check=False)
    elapsed = time.monotonic() - started
    err = completed.stderr
    assert completed.returncode == 2, err
    assert elapsed < 10, f"took {elapsed:.1f} s"
    # One paragraph, and nothing else: no traceback, no half-printed endpoint on stdout.
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert completed.stdout == ""
    assert err.startswith(f"harness up --docker: no Docker engine answered at unix://{socket} (DOCKER_HOST): "
                          "No such file or directory.")
    # What to do instead: the embedded mode, or attach to a docker-compose.yml started by hand.
    assert "run `harness up` without --docker: it embeds LocalStack and PostgreSQL and needs no Docker" in err
    plan = docker_up.load_compose(COMPOSE)
    assert f"HARNESS_ENDPOINT={plan.endpoint_url} DATABASE_URL={plan.database_url}" in err
    assert "docker-compose.yml yourself" in err


def test_without_docker_host_the_message_names_the_default_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)

    def no_engine(**_kwargs: Any) -> None:
        # What docker.from_env raises where the socket is missing (docker 7.1.0 over requests and urllib3).
        aborted = urllib3.exceptions.ProtocolError("Connection aborted.",
                                                   FileNotFoundError(2, "No such file or directory"))
        try:
            raise requests.exceptions.ConnectionError(aborted)
        except requests.exceptions.ConnectionError as error:
            raise docker.errors.DockerException(f"Error while fetching server API version: {error}") from error

    monkeypatch.setattr(docker, "from_env", no_engine)
    with pytest.raises(docker_up.DockerUnavailable) as caught:
        docker_up.connect()
    assert caught.value.where == "/var/run/docker.sock (the default socket; DOCKER_HOST is not set)"
    assert caught.value.reason == "No such file or directory"


def test_an_engine_on_another_machine_is_refused_before_connecting(monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.1.2.3:2375")
    client = FakeClient()
    assert docker_up.cmd_up_docker(up_args(), client=client, stop=set_event()) == 2
    assert "is an engine on 10.1.2.3" in capsys.readouterr().err
    assert client.created == []
    for local in ("unix:///run/user/1000/docker.sock", "tcp://127.0.0.1:2375", "tcp://localhost:2375"):
        assert docker_up._remote(local) is None


@pytest.mark.parametrize("extra", [["--deploy"], ["--scenario", "scenarios/success-path.yaml"], ["--port", "1"],
                                   ["--retry-base-delay", "2"], ["--keepalive-ms", "5"]])
def test_options_of_the_embedded_mode_are_refused(extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient()
    assert docker_up.cmd_up_docker(up_args(*extra), client=client, stop=set_event()) == 2
    assert f"{extra[0]} cannot be combined with --docker" in capsys.readouterr().err
    assert client.created == []


# --- docker-compose.yml, read ----------------------------------------------------------------------------


def test_the_repository_compose_file_is_read_as_written() -> None:
    written = yaml.safe_load(COMPOSE.read_text())["services"]
    plan = docker_up.load_compose(COMPOSE)
    assert [service.name for service in plan.services] == list(written)
    for service in plan.services:
        spec = written[service.name]
        assert service.image == spec["image"]
        assert service.environment == {key: str(value) for key, value in spec["environment"].items()}
        assert service.volumes == spec.get("volumes", [])
        # Every published port, on 127.0.0.1 only.
        assert sorted(f"127.0.0.1:{host}:{port.split('/')[0]}" for port, (_ip, host) in service.ports.items()) \
            == sorted(spec["ports"])
        assert {ip for ip, _host in service.ports.values()} == {"127.0.0.1"}
    password = written["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert plan.endpoint_url == "http://127.0.0.1:4566"
    assert plan.database_url == f"postgresql://postgres:{password}@127.0.0.1:5432/postgres"


def write_compose(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "docker-compose.yml"
    path.write_text(text)
    return path


def test_list_environment_and_ports_without_an_address_bind_to_loopback(tmp_path: Path) -> None:
    plan = docker_up.load_compose(write_compose(tmp_path, """
services:
  localstack:
    image: example/localstack:1
    ports: ["14566:4566", "127.0.0.1:1053:53/udp"]
    environment: ["SERVICES=lambda", "DEBUG=1"]
  postgres:
    image: example/postgres:1
    ports: ["15432:5432"]
    environment: {POSTGRES_USER: me, POSTGRES_PASSWORD: "p@ss word", POSTGRES_DB: db}
"""))
    localstack = plan.service("localstack")
    assert localstack.ports == {"4566/tcp": ("127.0.0.1", 14566), "53/udp": ("127.0.0.1", 1053)}
    assert localstack.environment == {"SERVICES": "lambda", "DEBUG": "1"}
    assert plan.endpoint_url == "http://127.0.0.1:14566"
    assert plan.database_url == "postgresql://me:p%40ss%20word@127.0.0.1:15432/db"


@pytest.mark.parametrize(("service", "complaint"), [
    ("    image: x\n    ports: ['0.0.0.0:4566:4566']\n", "binds 0.0.0.0; the harness binds to 127.0.0.1 only"),
    ("    image: x\n    ports: ['4566']\n", "names no host port"),
    ("    image: x\n    ports: ['4566:4566']\n    command: start\n", "does not understand command"),
    ("    image: x\n    ports: ['4566:4566']\n    volumes: ['data:/var/lib/localstack']\n", "only bind mounts"),
    ("    image: x\n    ports: ['4566:4566']\n    environment: {DEBUG: yes}\n", "quote the value"),
    ("    image: x\n", "does not publish port 4566"),
])
def test_what_cannot_be_run_as_written_is_an_error(tmp_path: Path, service: str, complaint: str) -> None:
    text = f"services:\n  localstack:\n{service}  postgres:\n    image: y\n    ports: ['5432:5432']\n"
    with pytest.raises(docker_up.ComposeError, match=complaint):
        docker_up.load_compose(write_compose(tmp_path, text))


# --- the Docker SDK, faked ---------------------------------------------------------------------------------


class FakeContainer:
    def __init__(self, client: FakeClient, arguments: dict[str, Any]):
        self.client, self.arguments = client, arguments
        self.id = f"{len(client.created) + 1:x}" * 64
        self.name = arguments["name"]
        self.status = "created"

    def start(self) -> None:
        self.client.calls.append(("start", self.id))
        if any(self.name.endswith(f"-{service}") for service in self.client.fail_start):
            raise docker.errors.APIError("port is already allocated")
        self.status = "running"

    def reload(self) -> None:
        if any(self.name.endswith(f"-{service}") for service in self.client.exits):
            self.status = "exited"

    def logs(self, tail: int) -> bytes:
        return b"the container's own last words\n"

    def stop(self, timeout: int) -> None:
        self.client.calls.append(("stop", self.id))
        self.status = "exited"

    def remove(self, **kwargs: Any) -> None:
        self.client.calls.append(("remove", self.id))
        self.client.removed.append((self.id, kwargs))


class FakeClient:
    """The parts of `docker.DockerClient` that `harness up --docker` uses: containers.create, images.pull."""

    def __init__(self, fail_create: tuple[str, ...] = (), fail_start: tuple[str, ...] = (),
                 missing_images: tuple[str, ...] = (), exits: tuple[str, ...] = (),
                 on_start: Any = None):
        self.fail_create, self.fail_start, self.exits = fail_create, fail_start, exits
        self.missing_images = set(missing_images)
        self.on_start = on_start
        self.created: list[FakeContainer] = []
        self.arguments: list[dict[str, Any]] = []
        self.removed: list[tuple[str, dict[str, Any]]] = []
        self.pulled: list[str] = []
        self.calls: list[tuple[str, str]] = []
        self.containers = self
        self.images = self

    def create(self, **arguments: Any) -> FakeContainer:
        self.arguments.append(arguments)
        if arguments["image"] in self.missing_images:
            raise docker.errors.ImageNotFound(f"No such image: {arguments['image']}")
        if any(arguments["name"].endswith(f"-{service}") for service in self.fail_create):
            raise docker.errors.APIError("Conflict: the container name is already in use")
        container = FakeContainer(self, arguments)
        self.created.append(container)
        if self.on_start is not None:
            container.start = self.on_start  # type: ignore[method-assign]
        return container

    def pull(self, image: str) -> None:
        self.pulled.append(image)
        self.missing_images.discard(image)

    def created_ids(self) -> list[str]:
        return [container.id for container in self.created]

    def removed_ids(self) -> list[str]:
        return [container_id for container_id, _kwargs in self.removed]


def up_args(*extra: str) -> Any:
    return build_parser().parse_args(["up", "--docker", *extra])


def set_event() -> threading.Event:
    event = threading.Event()
    event.set()  # `up` stops as soon as it is ready, as after Ctrl-C
    return event


@pytest.fixture
def services_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """LocalStack's health and PostgreSQL's connections answer at once; the timing is not asked for."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(docker_up, "localstack_ready", lambda url: True)
    monkeypatch.setattr(docker_up, "postgres_ready", lambda url: True)
    monkeypatch.setattr(docker_up, "describe_timing", lambda url: "time as the fake says")


@pytest.mark.usefixtures("services_answer")
def test_containers_are_created_from_the_compose_file_and_removed_by_id(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient()
    assert docker_up.cmd_up_docker(up_args(), client=client, stop=set_event()) == 0
    out, err = capsys.readouterr()
    plan = docker_up.load_compose(COMPOSE)
    written = yaml.safe_load(COMPOSE.read_text())["services"]
    pid = os.getpid()
    assert [arguments["name"] for arguments in client.arguments] == [f"harness-{pid}-{name}" for name in written]
    for arguments, (name, spec) in zip(client.arguments, written.items(), strict=True):
        assert arguments["image"] == spec["image"]
        assert arguments["labels"] == {"harness.owner": "harness up --docker", "harness.pid": str(pid),
                                       "harness.service": name}
        assert arguments["environment"] == {key: str(value) for key, value in spec["environment"].items()}
        assert arguments["volumes"] == spec.get("volumes", [])
        assert arguments["detach"] is True
        # Bound to 127.0.0.1 only, on the host ports the file names.
        assert all(host_ip == "127.0.0.1" for host_ip, _port in arguments["ports"].values())
        assert {f"{host_ip}:{host}:{port.split('/')[0]}" for port, (host_ip, host) in arguments["ports"].items()} \
            == set(spec["ports"])
    # Printed as `harness up` prints the embedded mode's.
    assert out == f"HARNESS_ENDPOINT={plan.endpoint_url}\nDATABASE_URL={plan.database_url}\n"
    assert "harness up: ready" in err and err.rstrip().endswith("harness up: stopped")
    # Each container started, then stopped and removed, by id and with its anonymous volumes, last first.
    ids = client.created_ids()
    assert client.calls == [("start", ids[0]), ("start", ids[1]),
                            ("stop", ids[1]), ("remove", ids[1]), ("stop", ids[0]), ("remove", ids[0])]
    assert all(kwargs == {"v": True, "force": True} for _id, kwargs in client.removed)


def test_the_real_sdk_turns_the_arguments_into_a_loopback_only_create_request(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """docker 7.1.0 itself, stopped at the HTTP request: the body an engine would get for each container."""
    client = docker.DockerClient(base_url=f"unix://{tmp_path / 'no-engine.sock'}", version="1.44")  # no call yet
    sent: list[tuple[dict[str, Any], dict[str, Any]]] = []

    class Sent(Exception):
        pass

    def post_json(_url: str, data: dict[str, Any], params: dict[str, Any]) -> None:
        sent.append((data, params))
        raise Sent

    monkeypatch.setattr(client.api, "_post_json", post_json)
    plan = docker_up.load_compose(COMPOSE)
    for service in plan.services:
        with pytest.raises(Sent):
            client.containers.create(**docker_up.container_arguments(service, 4242))
    for service, (body, params) in zip(plan.services, sent, strict=True):
        assert params == {"name": f"harness-4242-{service.name}"}
        assert body["Image"] == service.image
        assert body["Labels"] == {"harness.owner": "harness up --docker", "harness.pid": "4242",
                                  "harness.service": service.name}
        assert sorted(body["Env"]) == sorted(f"{key}={value}" for key, value in service.environment.items())
        bindings = body["HostConfig"]["PortBindings"]
        assert bindings == {port: [{"HostIp": "127.0.0.1", "HostPort": str(host)}]
                            for port, (_ip, host) in service.ports.items()}
        assert set(body["ExposedPorts"]) == set(service.ports)
        assert body["HostConfig"].get("Binds", []) == service.volumes


@pytest.mark.usefixtures("services_answer")
@pytest.mark.parametrize("failing", ["create", "start"])
def test_when_the_second_container_fails_exactly_what_was_created_is_removed(
        failing: str, capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient(**{f"fail_{failing}": ("postgres",)})
    assert docker_up.cmd_up_docker(up_args(), client=client, stop=set_event()) == 1
    out, err = capsys.readouterr()
    assert out == ""  # nothing is said to be up
    assert f"harness up --docker: cannot start postgres (postgres:17.6) as harness-{os.getpid()}-postgres" in err
    assert "Traceback" not in err
    assert len(client.created) == (1 if failing == "create" else 2)
    # Removed: every container created (the one whose start failed included), each once, nothing else.
    assert sorted(client.removed_ids()) == sorted(client.created_ids())


@pytest.mark.usefixtures("services_answer")
def test_a_missing_image_is_pulled_then_created(capsys: pytest.CaptureFixture[str]) -> None:
    image = yaml.safe_load(COMPOSE.read_text())["services"]["localstack"]["image"]
    client = FakeClient(missing_images=(image,))
    assert docker_up.cmd_up_docker(up_args(), client=client, stop=set_event()) == 0
    assert client.pulled == [image]
    assert f"pulling {image}" in capsys.readouterr().err
    assert sorted(client.removed_ids()) == sorted(client.created_ids())


@pytest.mark.usefixtures("services_answer")
def test_a_container_that_exits_before_it_is_ready_ends_up_with_its_log(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient(exits=("localstack",))
    assert docker_up.cmd_up_docker(up_args(), client=client, stop=threading.Event()) == 1
    err = capsys.readouterr().err
    assert "stopped before it was ready (status exited)" in err and "the container's own last words" in err
    assert sorted(client.removed_ids()) == sorted(client.created_ids())


@pytest.mark.usefixtures("services_answer")
def test_sigterm_while_starting_removes_what_was_started(capsys: pytest.CaptureFixture[str]) -> None:
    before = signal.getsignal(signal.SIGTERM)

    def start_then_terminated() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)  # the handler interrupts this

    client = FakeClient(on_start=start_then_terminated)
    assert docker_up.cmd_up_docker(up_args(), client=client, stop=threading.Event()) == 0
    assert "interrupted while starting" in capsys.readouterr().err
    assert len(client.created) == 1 and client.removed_ids() == client.created_ids()
    assert signal.getsignal(signal.SIGTERM) is before
