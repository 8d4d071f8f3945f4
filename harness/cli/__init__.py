"""The ``harness`` command line.

Each subcommand imports what it needs (LocalStack, boto3, the scenario model) when it runs, so that
`harness --help` and a mistyped command answer at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading


def _print_line(name: str, value: str) -> None:
    # One NAME=value line per fact, on stdout, so a script can `eval` or grep it.
    print(f"{name}={value}", flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    from harness.localstack.embedded import EmbeddedLocalStack

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
    database = None
    try:
        try:
            endpoint = localstack.start()
            if args.deploy or args.database:
                from harness.stack.database import start_database

                database = start_database()
        except Exception as error:  # noqa: BLE001 - any start failure ends `up` with its message
            print(f"harness up: {error}", file=sys.stderr)
            return 1
        _print_line("HARNESS_ENDPOINT", endpoint.url)
        if database is not None:
            _print_line("DATABASE_URL", database.url)
        if args.deploy:
            from harness.stack.pipeline import PipelineStack, StackConfig

            assert database is not None  # started above for --deploy
            stack = PipelineStack(endpoint, database.url, StackConfig(prefix=args.prefix,
                                                                      alarm_period_seconds=args.alarm_period))
            stack.deploy()
            for name, value in stack.outputs().items():
                _print_line(name, value)
        print("harness up: ready; Ctrl-C (SIGINT) or SIGTERM stops everything started here", file=sys.stderr,
              flush=True)
        while not stop.wait(0.5):
            if localstack.process is None or localstack.process.poll() is not None:
                print(f"harness up: LocalStack exited unexpectedly:\n{localstack.log_tail()}", file=sys.stderr)
                return 1
    finally:
        if database is not None:
            database.stop()
        localstack.stop()
    print("harness up: stopped", file=sys.stderr, flush=True)
    return 0


def cmd_setup_runtimes(_args: argparse.Namespace) -> int:
    from harness.localstack.embedded import ensure_runtimes

    served = ensure_runtimes(lambda message: print(message, file=sys.stderr, flush=True))
    for runtime in served:
        print(f"{runtime}: ready")
    return 0 if served else 1


def _run_command():
    from harness.cli import run

    return run


def cmd_schema(args: argparse.Namespace) -> int:
    from pathlib import Path

    from harness.scenario import render_json_schema, write_json_schema

    path = args.path
    if path is None:
        # In a project with a scenarios/ folder the schema goes next to the scenarios (their `$schema`
        # points there); anywhere else there is no such place, so it is printed.
        path = _DEFAULT_SCHEMA if Path(_DEFAULT_SCHEMA).parent.is_dir() else "-"
    if path == "-":
        sys.stdout.write(render_json_schema())
        return 0
    try:
        write_json_schema(Path(path))
    except OSError as error:
        print(f"harness schema: cannot write {path}: {error.strerror or error} "
              "(give a path in an existing folder, or - to print the schema)", file=sys.stderr)
        return 1
    print(f"wrote {path}", file=sys.stderr)
    return 0


_DEFAULT_SCHEMA = "scenarios/scenario.schema.json"


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
    up.add_argument("--database", action="store_true",
                    help="also start PostgreSQL (embedded, or DATABASE_URL) and print DATABASE_URL")
    up.add_argument("--deploy", action="store_true",
                    help="also start PostgreSQL and deploy the seed pipeline; print every name and ARN")
    up.add_argument("--prefix", default="pipeline", help="name prefix of the deployed stack (default: pipeline)")
    up.add_argument("--alarm-period", type=int, default=60, help="period of both alarms in seconds")
    up.set_defaults(func=cmd_up)

    run = sub.add_parser("run", help="run scenario files on the embedded LocalStack and PostgreSQL")
    run.add_argument("paths", nargs="*", help="scenario files or directories (default: scenarios/)")
    run.add_argument("-k", dest="keyword", default=None, help="only scenarios whose name matches (pytest -k syntax)")
    run.add_argument("--junit-xml", default=None, help="write a JUnit XML report to this file")
    run.add_argument("--endpoint", default=None, help="use this LocalStack instead of an embedded one")
    run.add_argument("--allow-remote-endpoint", action="store_true", help="allow a non-loopback --endpoint")
    run.add_argument("--keep-stacks", action="store_true",
                     help="leave each scenario's stack deployed (useful with --endpoint pointing at `harness up`)")
    run.set_defaults(func=lambda a: _run_command().cmd_run(a.paths, a.keyword, a.junit_xml, a.endpoint,
                                                           a.allow_remote_endpoint, a.keep_stacks))

    validate = sub.add_parser("validate", help="check scenario files without running them")
    validate.add_argument("paths", nargs="+")
    validate.set_defaults(func=lambda a: _run_command().cmd_validate(a.paths))

    schema = sub.add_parser("schema", help="write the scenario JSON Schema for editors")
    schema.add_argument("path", nargs="?", default=None,
                        help=f"where to write it, - for stdout (default: {_DEFAULT_SCHEMA} if scenarios/ "
                             "is a folder here, else stdout)")
    schema.set_defaults(func=cmd_schema)

    setup = sub.add_parser("setup-runtimes", help="install awslambdaric and boto3 for each local Python runtime")
    setup.set_defaults(func=cmd_setup_runtimes)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
