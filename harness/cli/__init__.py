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
from typing import Any


def _print_line(name: str, value: str) -> None:
    # One NAME=value line per fact, on stdout, so a script can `eval` or grep it.
    print(f"{name}={value}", flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    if args.docker:
        from harness.cli.docker_up import cmd_up_docker

        return cmd_up_docker(args)
    from harness.localstack.embedded import EmbeddedLocalStack, default_retry_base_delay
    from harness.model.platform import ENV_ALARM_TIME_SCALE, ENV_RETRY_BASE_DELAY, time_scale

    if args.retry_base_delay is None:
        args.retry_base_delay = default_retry_base_delay()  # HARNESS_RETRY_BASE_DELAY, else 1 s

    scenario: Any = None  # a seed-pipeline Scenario once loaded
    if args.scenario:
        from harness.scenario import Scenario, ScenarioError, load_scenario

        try:
            loaded = load_scenario(args.scenario)
        except ScenarioError as error:
            print(str(error), file=sys.stderr)
            return 2
        if _template_scenario(loaded, "harness up --scenario") or not isinstance(loaded, Scenario):
            return 2
        scenario = loaded
        args.deploy = True
    if args.deploy:
        # Refused before anything starts: an alarm period the time scale cannot run.
        from harness.model.platform import embedded
        from harness.runner import alarm_period_problems

        timing = embedded(args.retry_base_delay)
        if scenario is not None:
            problems = alarm_period_problems(scenario, timing)
        else:
            problem = timing.alarm_period_problem(args.alarm_period)
            problems = [f"--alarm-period: {problem}"] if problem else []
        if problems:
            print("\n".join(f"harness up: {problem}" for problem in problems), file=sys.stderr)
            return 2

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
        # What an attached harness must know of this LocalStack's time scale (harness.model.platform.attached).
        _print_line(ENV_RETRY_BASE_DELAY, f"{args.retry_base_delay:g}")
        _print_line(ENV_ALARM_TIME_SCALE, f"{time_scale(args.retry_base_delay):g}")
        if database is not None:
            _print_line("DATABASE_URL", database.url)
        if args.deploy:
            from harness.stack.pipeline import PipelineStack, StackConfig

            assert database is not None  # started above for --deploy
            from harness.runner import stack_config

            if scenario is not None:
                config = stack_config(scenario, args.prefix)
            else:
                config = StackConfig(prefix=args.prefix, alarm_period_seconds=args.alarm_period)
            stack = PipelineStack(endpoint, database.url, config)
            stack.deploy()
            for name, value in stack.outputs().items():
                _print_line(name, value)
            if scenario is not None:
                _print_trigger(args, scenario, stack, endpoint.url, database.url)
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


def _template_scenario(scenario: Any, command: str) -> bool:
    """True (having said so) for a scenario on a template of one's own, which `command` does not serve."""
    from harness.scenario.template_scenario import TemplateScenario

    if isinstance(scenario, TemplateScenario):
        print(f"{command}: {scenario.source_file} is a scenario on a template of your own; {command} serves the "
              "seed pipeline's scenarios. Run it with `harness run`.", file=sys.stderr)
        return True
    return False


def _print_trigger(args: argparse.Namespace, scenario: Any, stack: Any, endpoint: str, database_url: str) -> None:
    """The job's event and the exact commands that trigger it and check what followed."""
    import json
    import shlex

    from harness.model.platform import ENV_ALARM_TIME_SCALE, ENV_RETRY_BASE_DELAY, time_scale

    event = json.dumps(scenario.job_event())
    function = stack.function_name("orchestrator")
    invocation = "Event" if scenario.job is not None and scenario.job.invocation == "event" else "RequestResponse"
    _print_line("JOB_EVENT", event)
    _print_line("TRIGGER_AWS_CLI", (
        f"AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test aws --endpoint-url {endpoint} --region us-east-1 "
        f"lambda invoke --function-name {function} --invocation-type {invocation} "
        f"--cli-binary-format raw-in-base64-out --payload {shlex.quote(event)} /dev/stdout"))
    _print_line("CHECK", (
        f"{ENV_RETRY_BASE_DELAY}={args.retry_base_delay:g} {ENV_ALARM_TIME_SCALE}="
        f"{time_scale(args.retry_base_delay):g} harness check {shlex.quote(str(args.scenario))} "
        f"--endpoint {endpoint} --prefix {args.prefix} --database-url {shlex.quote(database_url)}"))
    print("harness up: the scenario's faults are armed. Trigger the job with TRIGGER_AWS_CLI, or in Python:\n"
          f"  import boto3, json\n"
          f"  boto3.client('lambda', endpoint_url='{endpoint}', region_name='us-east-1',\n"
          f"               aws_access_key_id='test', aws_secret_access_key='test').invoke(\n"
          f"      FunctionName='{function}', InvocationType='{invocation}', Payload={event!r})\n"
          "then check what followed with the CHECK line.", file=sys.stderr, flush=True)


def cmd_check(args: argparse.Namespace) -> int:
    """Evaluate a scenario's expectations against what happened on a stack that is already up."""
    import time

    from harness.expect import evaluate
    from harness.localstack import Endpoint
    from harness.model import platform
    from harness.observe.live import StackObservations
    from harness.runner import stack_config
    from harness.scenario import Scenario, ScenarioError, load_scenario
    from harness.stack.pipeline import DeployError, PipelineStack

    try:
        scenario = load_scenario(args.path)
    except ScenarioError as error:
        print(str(error), file=sys.stderr)
        return 2
    if _template_scenario(scenario, "harness check") or not isinstance(scenario, Scenario):
        return 2
    database_url = args.database_url or os.environ.get("DATABASE_URL")
    if not database_url:
        print("harness check: give --database-url or DATABASE_URL (harness up --deploy prints it)", file=sys.stderr)
        return 2
    endpoint = Endpoint(args.endpoint, allow_remote=args.allow_remote_endpoint or None)
    stack = PipelineStack(endpoint, database_url, stack_config(scenario, args.prefix))
    try:
        stack.attach()
    except DeployError as error:
        print(f"harness check: {error}", file=sys.stderr)
        return 2
    timing = platform.attached(endpoint.url)
    print(f"harness: {timing.describe()}", file=sys.stderr)
    observations = StackObservations(stack, timing)
    # The job started when its first attempt did (the ledger has it), or now if it has not run yet.
    first = min((attempt.started_at for attempt in observations.attempts()), default=time.time())
    observations.started_at = first
    observations.run_started_at.append(first)
    try:
        report = evaluate(scenario, observations)
    finally:
        for tap in stack.taps.values():
            tap.release()  # the next check sees every message again
    print(report.render())
    return 0 if report.passed else 1


def cmd_logs(args: argparse.Namespace) -> int:
    """A function's log lines from CloudWatch Logs, as Lambda wrote them; with --follow, until Ctrl-C."""
    from harness.localstack import Endpoint

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
    from harness.localstack.embedded import ensure_runtimes

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

    up = sub.add_parser("up", help="start the embedded LocalStack in the foreground and print its endpoint")
    up.add_argument("--port", type=int, default=None, help="gateway port on 127.0.0.1 (default: a free one)")
    up.add_argument(
        "--retry-base-delay",
        type=int,
        default=None,
        help="seconds before Lambda's first async retry (default: HARNESS_RETRY_BASE_DELAY, else 1; AWS: 60); "
             "the second waits twice as long",
    )
    up.add_argument("--keepalive-ms", type=int, default=None,
                    help="idle execution environments are stopped after this long (LocalStack default 600000)")
    up.add_argument("--database", action="store_true",
                    help="also start PostgreSQL (embedded, or DATABASE_URL) and print DATABASE_URL")
    up.add_argument("--deploy", action="store_true",
                    help="also start PostgreSQL and deploy the seed pipeline; print every name and ARN")
    up.add_argument("--prefix", default="pipeline", help="name prefix of the deployed stack (default: pipeline)")
    up.add_argument("--alarm-period", type=int, default=60,
                    help="period of both alarms in AWS's seconds (a multiple of 60; runs at 1 min = 1 s)")
    up.add_argument("--scenario", default=None,
                    help="deploy with this scenario file's stack settings and faults armed (implies --deploy), and "
                         "print the job's event and the commands that trigger it and check it")
    up.add_argument("--docker", action="store_true",
                    help="instead, run docker-compose.yml's LocalStack and PostgreSQL as containers on free ports "
                         "(needs a Docker engine and the images of `harness image build`)")
    up.set_defaults(func=cmd_up)

    check = sub.add_parser("check", help="evaluate a scenario's expectations on a stack that is already up")
    check.add_argument("path", help="the scenario file")
    check.add_argument("--endpoint", required=True, help="the LocalStack the stack is on (harness up prints it)")
    check.add_argument("--prefix", required=True, help="the stack's prefix (harness up --prefix)")
    check.add_argument("--database-url", default=None, help="the stack's database (default: DATABASE_URL)")
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
                     help="run N scenarios at once, each on its own stack in the one LocalStack and PostgreSQL "
                          "(default: the number of cores; 1: one after another)")
    run.add_argument("--template", default=None, metavar="PATH",
                     help="deploy the pipeline from this SAM/CloudFormation template instead of each scenario's "
                          "(default: lambdas/template.yaml); its outputs must be named as that one's")
    run.set_defaults(func=lambda a: _run_command().cmd_run(a.paths, a.keyword, a.junit_xml, a.endpoint,
                                                           a.allow_remote_endpoint, a.keep_stacks,
                                                           a.report_dir, jobs=a.jobs, template=a.template))

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
