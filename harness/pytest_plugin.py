"""pytest plugin (entry point ``pytest11``): scenario files as test items, and fixtures for a LocalStack
that runs real Lambdas and a real PostgreSQL.

Scopes: one LocalStack and one database per test session, and under pytest-xdist one per worker, so
parallel workers share nothing; each scenario deploys its own stack under its own prefix. Point the
session at a LocalStack you run yourself with ``--harness-endpoint`` or ``HARNESS_ENDPOINT`` (loopback
only unless ``--harness-allow-remote-endpoint``), and at your own database with ``DATABASE_URL``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness.paths import SCENARIO_SUFFIXES, is_template_file

# Every project with the harness installed loads this plugin, whether or not it uses the harness: what
# pulls in boto3, LocalStack, psycopg or the scenario model is imported inside the hook, fixture or item
# that needs it (tests/unit/test_plugin_imports.py checks `pytest --help`).
if TYPE_CHECKING:
    from _pytest._code.code import TerminalRepr

    from harness.services import Endpoint

_RESOURCES = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "Lambda failure-path harness")
    group.addoption(
        "--harness-endpoint",
        default=os.environ.get("HARNESS_ENDPOINT"),
        help="use the LocalStack at this URL instead of starting an embedded one (env: HARNESS_ENDPOINT)",
    )
    group.addoption(
        "--harness-allow-remote-endpoint",
        action="store_true",
        default=False,
        help="allow a non-loopback --harness-endpoint (the harness creates and deletes resources there)",
    )
    group.addoption(
        "--harness-keep-stacks",
        action="store_true",
        default=False,
        help="leave each scenario's stack deployed after it ran; useful with --harness-endpoint pointing at "
        "`harness up`, whose LocalStack outlives the test session",
    )
    group.addoption(
        "--harness-report",
        default=None,
        metavar="DIR",
        help="write an HTML report (timeline, expectations, log lines) and its events as JSON per scenario "
        "into DIR, and DIR/index.html; JUnit XML names each scenario's page (property `report`)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs LocalStack (embedded, or --harness-endpoint)")
    config.addinivalue_line("markers", "scenario: a scenario file run on a deployed seed pipeline")
    report_dir = config.getoption("--harness-report", None)
    if report_dir:
        config.pluginmanager.register(_ReportIndex(Path(report_dir)), "harness-report-index")


def pytest_report_header(config: pytest.Config) -> str:
    from harness.model import platform

    endpoint = config.getoption("--harness-endpoint")
    if endpoint:
        return f"harness: LocalStack at {endpoint}; {platform.attached(endpoint).describe()}"
    timing = platform.embedded().describe()
    return f"harness: an embedded LocalStack per worker, started on first use; {timing}"


def _resources(config: pytest.Config) -> Any:
    if _RESOURCES not in config.stash:
        from harness.stack.resources import Resources

        config.stash[_RESOURCES] = Resources(
            endpoint_url=config.getoption("--harness-endpoint"),
            allow_remote=config.getoption("--harness-allow-remote-endpoint") or None,
        )
    return config.stash[_RESOURCES]


class _ReportIndex:
    """With --harness-report: collects the pages scenario items wrote (under pytest-xdist their reports
    arrive from the workers) and writes DIR/index.html once, in the process that saw every report."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.pages: list[Path] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call":
            self.pages += [Path(str(value)) for name, value in report.user_properties if name == "report"]

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(session.config, "workerinput") or not self.pages:
            return
        from harness.expect.html_report import entry_of_page, write_index

        pages = sorted(set(self.pages))
        index = write_index(self.directory, [entry_of_page(page) for page in pages])
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"harness: report of {len(pages)} scenario(s): {index}")


def pytest_unconfigure(config: pytest.Config) -> None:
    resources = config.stash.get(_RESOURCES, None)
    if resources is not None:
        resources.close()


# -- scenario files ------------------------------------------------------------------------------------
def _is_scenario_file(path: Path) -> bool:
    if path.suffix not in SCENARIO_SUFFIXES:
        return False
    if not (path.name.startswith("scenario_") or "scenarios" in path.parts):
        return False
    return not is_template_file(path)  # a template beside the scenarios is no test


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if _is_scenario_file(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from harness.scenario import ScenarioError, load_scenario

        # A bad file fails collection with file, line and field of every problem, as plain text: that is
        # all it needs, and under pytest-xdist equal texts from several workers are reported once.
        try:
            scenario = load_scenario(self.path)
        except ScenarioError as error:
            raise self.CollectError(str(error)) from None
        yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)


class ScenarioFailed(AssertionError):
    pass


class TemplateWarning(UserWarning):
    """A template property that the platform does not carry out (the scenario ran without it)."""


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.add_marker(pytest.mark.scenario)
        self.add_marker(pytest.mark.integration)

    def runtest(self) -> None:
        from harness.runner import run_scenario

        result = run_scenario(self.scenario, _resources(self.config),
                              keep_stack=self.config.getoption("--harness-keep-stacks"))
        # Reported in JUnit XML, where bench/bench_scenarios.py compares them with the scenario's floor.
        self.user_properties.append(("deploy_seconds", f"{result.deploy_seconds:.3f}"))
        self.user_properties.append(("verdict_seconds", f"{result.verdict_seconds:.3f}"))
        for warning in result.warnings:
            warnings.warn(TemplateWarning(warning), stacklevel=1)
        report_dir = self.config.getoption("--harness-report")
        if report_dir:
            from harness.expect.html_report import write_scenario_report

            entry = write_scenario_report(Path(report_dir), result)
            self.user_properties.append(("report", str(entry["path"].resolve())))
        if not result.passed:
            raise ScenarioFailed(result.failure_text())

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, ScenarioFailed):
            return f"scenario {self.scenario.name} ({self.path}):\n{excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario: {self.scenario.name}"


# -- fixtures ------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def harness_resources(request: pytest.FixtureRequest) -> Any:
    """The session's LocalStack and PostgreSQL together (``harness.stack.resources.Resources``), as scenario
    items use them: pass it to ``harness.runner.run_scenario``."""
    return _resources(request.config)


@pytest.fixture(scope="session")
def harness_endpoint(request: pytest.FixtureRequest) -> Endpoint:
    """A LocalStack that runs Lambdas as local processes: embedded (default) or the given endpoint."""
    endpoint = _resources(request.config).endpoint()
    # Fail, never skip, when the LocalStack is not there: a green run must mean something.
    endpoint.client("sts").get_caller_identity()
    return endpoint


@pytest.fixture(scope="session")
def harness_database_url(request: pytest.FixtureRequest) -> str:
    """A real PostgreSQL: embedded (default) or DATABASE_URL."""
    return _resources(request.config).database_url()


@pytest.fixture
def pipeline_stack(request: pytest.FixtureRequest, harness_endpoint: Endpoint,
                   harness_database_url: str) -> Iterator[Callable[..., Any]]:
    """Deploy the seed pipeline under a fresh prefix: ``pipeline_stack("hint", faults=[...],
    alarm_period_seconds=60, worker={"timeout_seconds": 10})``: the keys of a scenario's `stack:` (omitted ones
    are the template's defaults) and its faults.

    Every stack made here is torn down after the test (discarded in an embedded LocalStack, which ends with the
    session: its environments stop, its clock and schema go).
    """
    from harness.scenario import StackSettings
    from harness.stack.pipeline import PipelineStack, unique_prefix

    stacks: list[PipelineStack] = []

    def deploy(hint: str = "test", faults: list[Any] | None = None, **settings: Any) -> PipelineStack:
        stack = PipelineStack(harness_endpoint, harness_database_url, unique_prefix(hint),
                              StackSettings.model_validate(settings, strict=False), faults or []).deploy()
        stacks.append(stack)
        return stack

    yield deploy
    discard = not _resources(request.config).attached
    for stack in stacks:
        stack.teardown(discard=discard)
