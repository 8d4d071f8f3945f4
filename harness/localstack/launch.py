"""Entry point of the embedded LocalStack process: ``python -m harness.localstack.launch``.

LocalStack 2026.3.0's twisted gateway ignores the host of ``GATEWAY_LISTEN`` for IPv4 and listens on
every interface. We bind to loopback only, so the IPv4 endpoint is given the configured interface
before LocalStack starts, and Lambda's async retries are started when their delay runs out
(`harness.localstack.retries`).
"""

from __future__ import annotations

import os
import sys


def _bind_to_configured_interface() -> None:
    from twisted.internet import endpoints

    class LoopbackTCP4ServerEndpoint(endpoints.TCP4ServerEndpoint):
        def __init__(self, reactor, port, backlog=50, interface=""):
            if not interface:
                from localstack import config

                hosts = {listen.host for listen in config.GATEWAY_LISTEN if listen.port == port}
                interface = hosts.pop() if len(hosts) == 1 else "127.0.0.1"
            super().__init__(reactor, port, backlog, interface)

    endpoints.TCP4ServerEndpoint = LoopbackTCP4ServerEndpoint  # type: ignore[misc]  # patching twisted's class


def main() -> None:
    _bind_to_configured_interface()
    from harness.localstack import retries as timing
    from harness.model.platform import env_alarm_time_scale

    timing.install(env_alarm_time_scale())
    from harness.localstack import clock

    clock.install()  # each stack's alarms on its own clock, which the harness moves over idle time
    from harness.localstack import control_plane

    control_plane.install()  # deploys without idle waits
    from harness.localstack.executor import injection

    injection.install_route()  # where the harness registers fault plans for the executor
    from harness.localstack import taps as tapping

    tapping.install()  # topics tapped as they are created
    from localstack.runtime.main import main as localstack_main

    try:
        localstack_main()
    finally:
        # LocalStack has shut down ("Completed, bye!") but can leave non-daemon threads behind (the
        # CloudWatch alarm scheduler is started by a shutdown hook), which would keep the process
        # alive until our grace period runs out and it is killed. Its work is done: leave now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
