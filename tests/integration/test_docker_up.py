"""`harness up --docker` on a real Docker engine, with the images `make images` built: a scenario runs against
its containers, they listen on 127.0.0.1 only, and none is left behind, after SIGTERM or SIGKILL, nor any
network or volume. Skipped, saying why, where no engine answers or the images are not built (`.ci/run`
installs and starts one and builds them)."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.waiting import wait_for
from tests.support.up import harness_up, read_lines_until_ready

REPO = Path(__file__).resolve().parents[2]
IMAGES = ("harness-localstack:latest", "harness-postgres:latest")

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def engine() -> Iterator[Any]:
    import docker

    try:
        client = docker.from_env(version="auto", timeout=30)
    except Exception as error:  # noqa: BLE001 - whatever the reason, the test cannot run
        pytest.skip(f"no Docker engine answered ({error}); as root: apt-get install docker.io, start dockerd "
                    "(.ci/run does both)")
    for image in IMAGES:
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            pytest.skip(f"no image {image} in the engine: build the images with `make images` (.ci/run does)")
    yield client
    client.close()


def ours(engine: Any, pid: int) -> list[Any]:
    """The containers this `harness up` made, inspected: for checks while they are known to exist."""
    return [engine.containers.get(found_id) for found_id in ids_of_ours(engine, pid)]


def ids_of_ours(engine: Any, pid: int) -> list[str]:
    """Their IDs from one listing request. `containers.list()` inspects each listed container in a second
    request, which raises NotFound when auto-remove deletes one in between: the very event a test waits for."""
    return [found["Id"] for found in engine.api.containers(all=True, filters={"label": f"harness.up.pid={pid}"})]


def listening(port: int) -> set[str]:
    return {c.laddr.ip for c in psutil.net_connections("inet") if c.status == "LISTEN" and c.laddr.port == port}


def test_a_scenario_runs_against_the_containers_and_sigterm_removes_them(engine: Any, tmp_path: Path) -> None:
    networks, volumes = {n.id for n in engine.networks.list()}, {v.id for v in engine.volumes.list()}
    with harness_up(tmp_path, "--docker") as (up, env):
        lines = read_lines_until_ready(up, "DATABASE_URL")
        containers = ours(engine, up.pid)
        assert sorted(c.labels["harness.service"] for c in containers) == ["localstack", "postgres"]
        assert {c.attrs["HostConfig"]["NetworkMode"] for c in containers} == {"host"}
        # Host networking, yet nothing listens beyond loopback: the ports LocalStack and PostgreSQL print.
        for url in (lines["HARNESS_ENDPOINT"], lines["DATABASE_URL"]):
            port = urllib.parse.urlsplit(url).port
            assert port is not None and listening(port) == {"127.0.0.1"}, url

        attached = {**env, **lines}
        scenarios = [str(REPO / "scenarios" / f"{name}.yaml") for name in ("success-path", "worker-exception-raised")]
        run = subprocess.run([sys.executable, "-m", "harness.cli", "run", *scenarios], cwd=tmp_path, env=attached,
                             capture_output=True, text=True, timeout=300, check=False)
        output = run.stdout + run.stderr
        assert run.returncode == 0, output[-4000:]
        assert "2 passed, 0 failed" in output
        # The container's LocalStack runs the harness's launcher: its stacks run on their own clocks.
        assert "each stack runs on its own clock" in output and "started by the harness" in output

        up.send_signal(signal.SIGTERM)
        assert up.wait(60) == 0
        err = up.stderr.read() if up.stderr else ""
        assert "Traceback" not in err and "Exception ignored" not in err, err
        # Removed by `harness up --docker` itself before it returned, not later by the engine's auto-remove.
        assert ids_of_ours(engine, up.pid) == []
    assert {n.id for n in engine.networks.list()} == networks
    assert {v.id for v in engine.volumes.list()} == volumes


def test_after_sigkill_no_container_is_left(engine: Any, tmp_path: Path) -> None:
    with harness_up(tmp_path, "--docker") as (up, _env):
        read_lines_until_ready(up, "DATABASE_URL")
        assert len(ours(engine, up.pid)) == 2
        up.send_signal(signal.SIGKILL)
        up.wait(10)
        # The engine closes the stdin it held; harness-watchdog stops each service; auto-remove does the rest.
        wait_for(lambda: ids_of_ours(engine, up.pid), lambda found: found == [], deadline_s=30,
                 what="containers of a `harness up --docker` killed with SIGKILL gone")
