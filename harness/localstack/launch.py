"""Entry point of the embedded LocalStack process: ``python -m harness.localstack.launch``.

It checks that the installed LocalStack is the one the harness pins, applies the harness's one list of
patches (`harness.localstack.patches`), and runs LocalStack. A mismatch stops it before LocalStack starts,
with one line on stderr and exit status 3.
"""

from __future__ import annotations

import os
import sys

MISMATCH_EXIT_STATUS = 3


def main() -> None:
    from harness.localstack import patches, routes

    try:
        patches.install()
    except patches.Mismatch as mismatch:
        print(str(mismatch), file=sys.stderr, flush=True)
        sys.exit(MISMATCH_EXIT_STATUS)
    routes.install()
    from harness.localstack.executor import zygote

    zygote.prewarm()
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
