"""The ``harness`` command line."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from harness.localstack import EmbeddedLocalStack, LocalStackError, ensure_runtimes


def _print_line(name: str, value: str) -> None:
    # One NAME=value line per fact, on stdout, so a script can `eval` or grep it.
    print(f"{name}={value}", flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    localstack = EmbeddedLocalStack(
        retry_base_delay_s=args.retry_base_delay,
        keepalive_ms=args.keepalive_ms,
        port=args.port or 0,
    )
    try:
        endpoint = localstack.start()
    except LocalStackError as error:
        print(f"harness up: {error}", file=sys.stderr)
        return 1
    try:
        _print_line("HARNESS_ENDPOINT", endpoint.url)
        print("harness up: ready; Ctrl-C (SIGINT) or SIGTERM stops everything started here", file=sys.stderr,
              flush=True)
        while not stop.wait(0.5):
            if localstack.process is None or localstack.process.poll() is not None:
                print(f"harness up: LocalStack exited unexpectedly:\n{localstack.log_tail()}", file=sys.stderr)
                return 1
    finally:
        localstack.stop()
    print("harness up: stopped", file=sys.stderr, flush=True)
    return 0


def cmd_setup_runtimes(_args: argparse.Namespace) -> int:
    served = ensure_runtimes(lambda message: print(message, file=sys.stderr, flush=True))
    for runtime in served:
        print(f"{runtime}: ready")
    return 0 if served else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Prove that a Lambda pipeline's failure paths work, on an embedded LocalStack.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the embedded LocalStack in the foreground and print its endpoint")
    up.add_argument("--port", type=int, default=None, help="gateway port on 127.0.0.1 (default: a free one)")
    up.add_argument(
        "--retry-base-delay",
        type=int,
        default=int(os.environ.get("HARNESS_RETRY_BASE_DELAY", "1")),
        help="seconds before Lambda's first async retry (AWS: 60); the second waits twice as long",
    )
    up.add_argument("--keepalive-ms", type=int, default=None,
                    help="idle execution environments are stopped after this long (LocalStack default 600000)")
    up.set_defaults(func=cmd_up)

    setup = sub.add_parser("setup-runtimes", help="install awslambdaric and boto3 for each local Python runtime")
    setup.set_defaults(func=cmd_setup_runtimes)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
