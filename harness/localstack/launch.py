"""Entry point of the embedded LocalStack process: ``python -m harness.localstack.launch``.

It checks that the installed LocalStack is the one the harness pins, applies the harness's one list of
patches (`harness.localstack.patches`), and runs LocalStack. A mismatch stops it before LocalStack starts,
with one line on stderr and exit status 3.
"""

from __future__ import annotations

import os
import sys
from typing import Any

MISMATCH_EXIT_STATUS = 3


def loopback_endpoint_patch() -> Any:
    """LocalStack 2026.3.0's twisted gateway ignores the host of ``GATEWAY_LISTEN`` for IPv4 and listens on
    every interface: the IPv4 endpoint is given the configured interface (loopback) instead."""
    from localstack.utils.patch import Patch
    from twisted.internet import endpoints

    class LoopbackTCP4ServerEndpoint(endpoints.TCP4ServerEndpoint):
        def __init__(self, reactor: Any, port: int, backlog: int = 50, interface: str = "") -> None:
            if not interface:
                from localstack import config

                hosts = {listen.host for listen in config.GATEWAY_LISTEN if listen.port == port}
                interface = hosts.pop() if len(hosts) == 1 else "127.0.0.1"
            super().__init__(reactor, port, backlog, interface)

    return Patch(endpoints, "TCP4ServerEndpoint", LoopbackTCP4ServerEndpoint)


def main() -> None:
    from harness.localstack import patches

    try:
        patches.install()
    except patches.Mismatch as mismatch:
        print(str(mismatch), file=sys.stderr, flush=True)
        sys.exit(MISMATCH_EXIT_STATUS)
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
