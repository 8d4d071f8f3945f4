"""`harness up --docker` (harness/cli/docker_up.py) with a fake client in place of the Docker SDK's: what it
asks the engine for, what it prints, and that it removes exactly the containers it made. Against a real engine:
tests/integration/test_docker_up.py."""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from harness.cli import build_parser, docker_up

REPO = Path(__file__).resolve().parents[2]


def up_args(*extra: str) -> argparse.Namespace:
    return build_parser().parse_args(["up", "--docker", *extra])


def frame(stream: int, text: str) -> bytes:
    data = text.encode()
    return struct.pack(">BxxxL", stream, len(data)) + data


class FakeContainer:
    def __init__(self, client: FakeClient, image: str, command: Any, kwargs: dict[str, Any]):
        self.client, self.image, self.command, self.kwargs = client, image, command, kwargs
        self.id = f"{next(client.ids):064x}"
        self.name = kwargs["name"]

    def start(self) -> None:
        self.client.started.append(self.id)
        self.client.behaviour(self, self.client.peers[self.id])


class FakeAPI:
    def __init__(self, client: FakeClient):
        self.client = client

    def attach_socket(self, container_id: str, params: dict[str, int]) -> socket.socket:
        assert params["stdin"] == params["stream"] == 1
        ours, theirs = socket.socketpair()
        self.client.peers[container_id] = theirs
        return ours

    def stop(self, container_id: str, timeout: int) -> None:
        self.client.calls.append(("stop", container_id))

    def remove_container(self, container_id: str, force: bool) -> None:
        self.client.calls.append(("remove", container_id))
        self.client.live.pop(container_id, None)

    def containers(self, all: bool, filters: dict[str, str]) -> list[dict[str, str]]:
        return [{"Id": key} for key in self.client.live if key == filters["id"]]


class FakeContainers:
    def __init__(self, client: FakeClient):
        self.client = client

    def create(self, image: str, command: Any, **kwargs: Any) -> FakeContainer:
        if image in self.client.missing:
            raise docker.errors.ImageNotFound(f"No such image: {image}")
        container = FakeContainer(self.client, image, command, kwargs)
        self.client.live[container.id] = container
        return container


def ready_localstack(container: FakeContainer, peer: socket.socket) -> None:
    if "localstack" in container.name:
        port = container.command[container.command.index("--port") + 1]
        peer.sendall(frame(2, "harness up: time: each stack runs on its own clock\n")
                     + frame(1, f"HARNESS_ENDPOINT=http://127.0.0.1:{port}\n") + frame(1, "ALARM_TOPIC_ARN=arn:x\n")
                     + frame(2, "harness up: ready; Ctrl-C ...\n"))


class FakeClient:
    def __init__(self, behaviour: Any = ready_localstack, missing: tuple[str, ...] = ()):
        self.ids = itertools.count(1)
        self.behaviour, self.missing = behaviour, missing
        self.live: dict[str, Any] = {"f" * 64: "someone else's container"}
        self.peers: dict[str, socket.socket] = {}
        self.started: list[str] = []
        self.calls: list[tuple[str, str]] = []
        self.api, self.containers = FakeAPI(self), FakeContainers(self)


@pytest.fixture(autouse=True)
def postgres_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(docker_up, "postgres_answers", lambda url: True)


def run_until(client: FakeClient, capsys: pytest.CaptureFixture[str], wanted: str,
              *extra: str) -> tuple[int, str, str]:
    """Run `harness up --docker` in a thread until its stdout has `wanted` (then stop it), or it returns."""
    stop, result = threading.Event(), {}
    thread = threading.Thread(target=lambda: result.update(code=docker_up.cmd_up_docker(
        up_args(*extra), client=client, stop=stop)))
    thread.start()
    out = err = ""
    deadline = time.monotonic() + 20
    while thread.is_alive() and wanted not in out and time.monotonic() < deadline:
        captured = capsys.readouterr()
        out, err = out + captured.out, err + captured.err
        thread.join(0.02)
    stop.set()
    thread.join(20)
    captured = capsys.readouterr()
    return result["code"], out + captured.out, err + captured.err


def test_containers_are_made_on_the_host_network_and_only_they_are_removed(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient()
    code, out, err = run_until(client, capsys, "DATABASE_URL", "--port", "45666")
    assert code == 0, err
    postgres_id, localstack_id = client.started
    assert client.calls == [("stop", localstack_id), ("remove", localstack_id),
                            ("stop", postgres_id), ("remove", postgres_id)]
    assert list(client.live) == ["f" * 64]  # someone else's is untouched

    lines = out.splitlines()
    assert lines[:2] == ["HARNESS_ENDPOINT=http://127.0.0.1:45666", "ALARM_TOPIC_ARN=arn:x"]
    assert lines[2].startswith("DATABASE_URL=postgresql://postgres:harness@127.0.0.1:")
    assert "ready; Ctrl-C" in err


def test_the_arguments_each_container_is_made_with(capsys: pytest.CaptureFixture[str]) -> None:
    made: list[FakeContainer] = []

    def keep(container: FakeContainer, peer: socket.socket) -> None:
        made.append(container)
        ready_localstack(container, peer)

    client = FakeClient(keep)
    assert run_until(client, capsys, "DATABASE_URL")[0] == 0
    postgres, localstack = made
    for container, service in ((postgres, "postgres"), (localstack, "localstack")):
        kwargs = container.kwargs
        assert (kwargs["network_mode"], kwargs["init"], kwargs["auto_remove"]) == ("host", True, True)
        # stdin open and attached, detach=False: the SDK sets StdinOnce, the engine closes it when we go.
        assert (kwargs["stdin_open"], kwargs["detach"]) == (True, False)
        assert kwargs["environment"]["HARNESS_WATCH_STDIN"] == "1"
        assert kwargs["labels"] == {docker_up.LABEL: str(os.getpid()), "harness.service": service}
        assert kwargs["name"] == f"harness-{os.getpid()}-{service}"
    assert postgres.image == "harness-postgres:latest" and localstack.image == "harness-localstack:latest"
    assert localstack.command[:3] == ["harness", "up", "--port"]
    port = int(localstack.command[3])
    assert port != 4566 and 1024 < port < 65536  # a free port, not compose's default
    assert postgres.kwargs["environment"]["PGPORT"] != "5432"


def test_a_container_that_ends_before_it_is_ready_is_reported_and_both_removed(
        capsys: pytest.CaptureFixture[str]) -> None:
    def fail(container: FakeContainer, peer: socket.socket) -> None:
        if "localstack" in container.name:
            peer.sendall(frame(2, "harness up: LocalStack did not start: no such thing\n"))
            peer.close()

    client = FakeClient(fail)
    code, out, err = run_until(client, capsys, "never")
    assert code == 1 and out == ""
    assert "harness-" in err and "did not get ready (it ended)" in err and "no such thing" in err
    assert [call for call, _ in client.calls] == ["stop", "remove", "stop", "remove"]


def test_a_missing_image_says_how_to_build_it(capsys: pytest.CaptureFixture[str]) -> None:
    client = FakeClient(missing=("harness-localstack:latest",))
    code, _, err = run_until(client, capsys, "never")
    assert code == 1
    assert "no image harness-localstack:latest: `harness image build` (make images) makes it" in err
    assert client.calls == [("stop", client.started[0]), ("remove", client.started[0])]  # the postgres one


def test_compose_services_get_the_ports_and_must_use_the_host_network(tmp_path: Path) -> None:
    plan = docker_up.services({"HARNESS_LOCALSTACK_PORT": "4999", "HARNESS_POSTGRES_PORT": "5999"})
    assert list(plan) == ["postgres", "localstack"]
    assert plan["localstack"]["command"] == ["harness", "up", "--port", "4999"]
    assert plan["postgres"]["environment"]["PGPORT"] == "5999"
    bridged = tmp_path / "compose.yml"
    bridged.write_text("services:\n  localstack:\n    image: x\n    ports: ['4566:4566']\n")
    with pytest.raises(docker_up.DockerUpError, match="must use network_mode: host"):
        docker_up.services({}, bridged)


def test_options_that_need_the_embedded_stack_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert docker_up.cmd_up_docker(up_args("--deploy"), client=FakeClient(), stop=threading.Event()) == 2
    assert "need `harness up` without --docker" in capsys.readouterr().err


def test_without_an_engine_it_says_what_to_install_at_once(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_HOST"] = f"unix://{tmp_path}/no-engine.sock"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "harness.cli", "up", "--docker"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1 and done.stdout == ""
    assert time.monotonic() - started < 20
    assert f"no Docker engine answered at unix://{tmp_path}/no-engine.sock" in done.stderr
    assert "apt-get install docker.io" in done.stderr and "`harness up` without --docker" in done.stderr
    assert "Traceback" not in done.stderr
