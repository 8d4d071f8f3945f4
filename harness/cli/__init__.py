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
from pathlib import Path
from typing import Any


def _print_line(name: str, value: str) -> None:
    # One NAME=value line per fact, on stdout, so a script can `eval` or grep it.
    print(f"{name}={value}", flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    if args.docker:
        from harness.cli.docker_up import cmd_up_docker

        return cmd_up_docker(args)
    scenario: Any = None  # a seed-pipeline Scenario once loaded
    if args.scenario:
        scenario = _scenario(args.scenario)
        if scenario is None:
            return 2
        args.deploy = True
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    from harness.services.embedded import EmbeddedLocalStack

    localstack = EmbeddedLocalStack(keepalive_ms=args.keepalive_ms, port=args.port or 0)
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
            assert database is not None  # started above for --deploy
            _deploy_for_up(args, scenario, endpoint, database.url)
        from harness.model.platform import embedded

        print(f"harness up: time: {embedded().describe()}", file=sys.stderr)
        print("harness up: ready; Ctrl-C (SIGINT) or SIGTERM stops everything started here", file=sys.stderr,
              flush=True)
        return _serve_until_stopped(localstack, stop)
    finally:
        if database is not None:
            database.stop()
        localstack.stop()


def _deploy_for_up(args: argparse.Namespace, scenario: Any, endpoint: Any, database_url: str) -> None:
    """Deploy the scenario's stack with its faults armed (the pipeline with its defaults when none) and print
    its names and how to trigger and check it."""
    from harness.runner import build_stack_at
    from harness.scenario import StackSettings
    from harness.stack.pipeline import PipelineStack

    stack: Any = PipelineStack(endpoint, database_url, args.prefix, StackSettings()) if scenario is None else \
        build_stack_at(scenario, endpoint, database_url, args.prefix)
    stack.deploy()
    for name, value in stack.outputs().items():
        _print_line(name, value)
    if scenario is not None:
        _print_trigger(args, scenario, stack, endpoint.url, database_url)


def _serve_until_stopped(localstack: Any, stop: threading.Event) -> int:
    while not stop.wait(0.5):
        if localstack.process is None or localstack.process.poll() is not None:
            print(f"harness up: LocalStack exited unexpectedly:\n{localstack.log_tail()}", file=sys.stderr)
            return 1
    print("harness up: stopped", file=sys.stderr, flush=True)
    return 0


def _scenario(path: str) -> Any:
    """The scenario in `path`, or None having said why not."""
    from harness.scenario import ScenarioError, load_scenario

    try:
        return load_scenario(path)
    except ScenarioError as error:
        print(str(error), file=sys.stderr)
        return None


def _print_trigger(args: argparse.Namespace, scenario: Any, stack: Any, endpoint: str, database_url: str) -> None:
    """The job's event and the exact commands that trigger it and check what followed, each a line that
    works pasted into a shell with only the harness's environment on PATH (its own programs, by full path)."""
    import json
    import shlex

    from harness.runner import trigger_call

    logical, event, how = trigger_call(scenario)
    function = stack.function_name(logical)
    invocation = "Event" if how == "event" else "RequestResponse"
    payload = json.dumps(event)
    programs = Path(sys.executable).parent
    credentials = "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_CONFIG_FILE=/dev/null " \
        "AWS_SHARED_CREDENTIALS_FILE=/dev/null"
    invoke = (f"lambda invoke --function-name {function} --invocation-type {invocation} "
              f"--payload {shlex.quote(payload)} /dev/stdout")
    _print_line("JOB_EVENT", payload)
    # The AWS CLI the harness's environment installs (1.x, with LocalStack's lock) takes the payload as text.
    # Every line printed here works as printed with only that environment's programs: no line for AWS CLI
    # version 2, which is not among them (a bare `aws` there is version 1, which refuses v2's options).
    _print_line("TRIGGER_AWS_CLI", f"{credentials} {programs / 'aws'} --endpoint-url {endpoint} --region us-east-1 "
                                   f"{invoke}")
    _print_line("CHECK", f"{programs / 'harness'} check {shlex.quote(str(Path(args.scenario).resolve()))} "
                         f"--endpoint {endpoint} --prefix {args.prefix} --database-url {shlex.quote(database_url)}")
    print("harness up: the scenario's faults are armed. Trigger it with TRIGGER_AWS_CLI (the AWS CLI 1 of the "
          "harness's environment; an AWS CLI 2 of your own also needs --cli-binary-format raw-in-base64-out), "
          "or in Python:\n"
          f"  import boto3\n"
          f"  boto3.client('lambda', endpoint_url='{endpoint}', region_name='us-east-1',\n"
          f"               aws_access_key_id='test', aws_secret_access_key='test').invoke(\n"
          f"      FunctionName='{function}', InvocationType='{invocation}', Payload={payload!r})\n"
          "then check what followed with the CHECK line. Each trigger is a run of the job: the check lists the "
          "runs it sees and judges them together, or run N alone with --job N.", file=sys.stderr, flush=True)


def cmd_check(args: argparse.Namespace) -> int:
    from harness.cli.check import cmd_check

    return cmd_check(args)


def cmd_logs(args: argparse.Namespace) -> int:
    """A function's log lines from CloudWatch Logs, as Lambda wrote them; with --follow, until Ctrl-C."""
    from harness.services import Endpoint

    url = args.endpoint or os.environ.get("HARNESS_ENDPOINT")
    if not url:
        print("harness logs: give --endpoint or HARNESS_ENDPOINT (harness up prints it)", file=sys.stderr)
        return 2
    name = f"{args.prefix}-{args.function.replace('_', '-')}" if args.prefix else args.function
    group = f"/aws/lambda/{name}"
    client = Endpoint(url, allow_remote=args.allow_remote_endpoint or None).client("logs")
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    seen: set[str] = set()
    start = 0
    while True:
        try:
            pages = client.get_paginator("filter_log_events").paginate(logGroupName=group, startTime=start)
            events = [event for page in pages for event in page.get("events", [])]
        except client.exceptions.ResourceNotFoundException:
            if not args.follow:
                print(f"harness logs: no log group {group} at {url} (has {name} run yet?)", file=sys.stderr)
                return 1
            events = []
        for event in sorted(events, key=lambda e: (e["timestamp"], e.get("ingestionTime", 0))):
            if event["eventId"] in seen:
                continue
            seen.add(event["eventId"])
            start = max(start, event["timestamp"])
            print(event["message"].rstrip("\n"), flush=True)
        if not args.follow or stop.wait(1.0):
            return 0


def cmd_setup_runtimes(_args: argparse.Namespace) -> int:
    from harness.services.embedded import ensure_runtimes

    served = ensure_runtimes(lambda message: print(message, file=sys.stderr, flush=True))
    for runtime in served:
        print(f"{runtime}: ready")
    return 0 if served else 1


def cmd_image_build(args: argparse.Namespace) -> int:
    from harness.docker.image import cmd_image_build

    return cmd_image_build(args)


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

    from harness.cli.soak import add_soak

    for add in (_add_up, _add_check_and_logs, _add_run, add_soak, _add_the_rest):
        add(sub)
    return parser


def _add_up(sub: Any) -> None:
    """`harness up`."""
    up = sub.add_parser("up", help="start the embedded LocalStack in the foreground and print its endpoint")
    up.add_argument("--port", type=int, default=None, help="gateway port on 127.0.0.1 (default: a free one)")
    up.add_argument("--keepalive-ms", type=int, default=None,
                    help="idle execution environments are stopped after this long (LocalStack default 600000)")
    up.add_argument("--database", action="store_true",
                    help="also start PostgreSQL (embedded, or DATABASE_URL) and print DATABASE_URL")
    up.add_argument("--deploy", action="store_true",
                    help="also start PostgreSQL and deploy the seed pipeline; print every name and ARN")
    up.add_argument("--prefix", default="pipeline", help="name prefix of the deployed stack (default: pipeline)")
    up.add_argument("--scenario", default=None,
                    help="deploy with this scenario file's stack settings and faults armed (implies --deploy), and "
                         "print the job's event and the commands that trigger it and check it")
    up.add_argument("--docker", action="store_true",
                    help="instead, run docker-compose.yml's LocalStack and PostgreSQL as containers on free ports "
                         "(needs a Docker engine and the images of `harness image build`)")
    up.set_defaults(func=cmd_up)


def _positive_run(text: str) -> int:
    from harness.cli.check import positive_run

    return positive_run(text)


def _add_check_and_logs(sub: Any) -> None:
    """`harness check` and `harness logs`: a stack that is already up."""
    check = sub.add_parser("check", help="evaluate a scenario's expectations on a stack that is already up")
    check.add_argument("path", help="the scenario file")
    check.add_argument("--endpoint", required=True, help="the LocalStack the stack is on (harness up prints it)")
    check.add_argument("--prefix", required=True, help="the stack's prefix (harness up --prefix)")
    check.add_argument("--database-url", default=None, help="the stack's database (default: DATABASE_URL)")
    check.add_argument("--job", type=_positive_run, default=None, metavar="N",
                       help="judge only run N of the job, of the runs triggered by hand that the check sees (it "
                            "lists them); default: all of them together")
    check.add_argument("--allow-remote-endpoint", action="store_true", help="allow a non-loopback --endpoint")
    check.set_defaults(func=cmd_check)

    logs = sub.add_parser("logs", help="print a function's log lines (CloudWatch Logs on the LocalStack)")
    logs.add_argument("function",
                      help="a function name, or with --prefix its role: orchestrator, worker, error_handler")
    logs.add_argument("--endpoint", default=None, help="the LocalStack (default: HARNESS_ENDPOINT)")
    logs.add_argument("--prefix", default=None, help="the stack's prefix; then FUNCTION is the function's role")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing new lines until Ctrl-C")
    logs.add_argument("--allow-remote-endpoint", action="store_true", help="allow a non-loopback --endpoint")
    logs.set_defaults(func=cmd_logs)


def _add_run(sub: Any) -> None:
    """`harness run`."""
    run = sub.add_parser("run", help="run scenario files on the embedded LocalStack and PostgreSQL")
    run.add_argument("paths", nargs="*", help="scenario files or directories (default: scenarios/)")
    run.add_argument("-k", dest="keyword", default=None, help="only scenarios whose name matches (pytest -k syntax)")
    run.add_argument("--junit-xml", default=None, help="write a JUnit XML report to this file")
    run.add_argument("--report", dest="report_dir", default=None, metavar="DIR",
                     help="write an HTML page and a JSON file of events per scenario, and index.html, to DIR")
    run.add_argument("--endpoint", default=None, help="use this LocalStack instead of an embedded one")
    run.add_argument("--allow-remote-endpoint", action="store_true", help="allow a non-loopback --endpoint")
    run.add_argument("--keep-stacks", action="store_true",
                     help="leave each scenario's stack deployed (useful with --endpoint pointing at `harness up`)")
    run.add_argument("-j", "--jobs", type=int, default=None, metavar="N",
                     help="run N scenarios at once, each on its own stack, over up to one embedded LocalStack per core "
                          "(default: the number of cores; 1: one after another)")
    run.add_argument("-x", "--exitfirst", action="store_true",
                     help="stop at the first failing scenario: none starts after it, and the running ones stop")
    run.add_argument("--template", default=None, metavar="PATH",
                     help="deploy the pipeline from this SAM/CloudFormation template instead of each scenario's "
                          "(default: lambdas/template.yaml); its outputs must be named as that one's")
    run.set_defaults(func=lambda a: _run_command().cmd_run(a.paths, a.keyword, a.junit_xml, a.endpoint,
                                                           a.allow_remote_endpoint, a.keep_stacks,
                                                           a.report_dir, jobs=a.jobs, template=a.template,
                                                           exitfirst=a.exitfirst))


def _add_the_rest(sub: Any) -> None:
    """`harness validate`, `schema`, `image build` and `setup-runtimes`."""
    validate = sub.add_parser("validate", help="check scenario files without running them")
    validate.add_argument("paths", nargs="+")
    validate.set_defaults(func=lambda a: _run_command().cmd_validate(a.paths))

    schema = sub.add_parser("schema", help="write the scenario JSON Schema for editors")
    schema.add_argument("path", nargs="?", default=None,
                        help=f"where to write it, - for stdout (default: {_DEFAULT_SCHEMA} if scenarios/ "
                             "is a folder here, else stdout)")
    schema.set_defaults(func=cmd_schema)

    image = sub.add_parser("image", help="Docker images of the harness's LocalStack and a PostgreSQL")
    image_build = image.add_subparsers(dest="image_command", required=True).add_parser(
        "build", help="build both from Debian's packages and the pinned Python packages (as root; needs mmdebstrap "
                      "and a Docker engine)")
    image_build.add_argument("--mirror", default="http://deb.debian.org/debian", help="the Debian mirror")
    image_build.add_argument("--no-cache", action="store_true", help="make every layer anew, even if cached")
    image_build.set_defaults(func=cmd_image_build)

    setup = sub.add_parser("setup-runtimes", help="install awslambdaric and boto3 for each local Python runtime")
    setup.set_defaults(func=cmd_setup_runtimes)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
