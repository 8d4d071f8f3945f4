"""`harness run` and `harness validate`: scenario files outside pytest, with progress and a summary."""

from __future__ import annotations

import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.scenario import Scenario, ScenarioError, load_scenarios, validate_paths

# Wide enough that no report line or table row is wrapped; a table still takes only the width it needs.
_LOG_WIDTH = 10_000


def _console() -> Console:
    """Progress and reports on stderr. In a log (not a terminal) each line is written whole: rich would
    wrap it at 80 columns, splitting the paths and `file:line` places a reader or a script looks for."""
    if sys.stderr.isatty():
        return Console(stderr=True)
    return Console(stderr=True, soft_wrap=True, width=_LOG_WIDTH)


console = _console()


def select(scenarios: list[Scenario], expression: str | None) -> list[Scenario]:
    """Scenarios whose name matches a pytest-style -k expression (substrings with and/or/not)."""
    if not expression:
        return scenarios
    from _pytest.mark.expression import Expression

    compiled = Expression.compile(expression)
    return [s for s in scenarios if compiled.evaluate(_name_matcher(s.name))]


def _name_matcher(name: str) -> Callable[..., bool]:
    def matches(word: str, /, **_: str | int | bool | None) -> bool:
        return word.lower() in name.lower()

    return matches


def cmd_validate(paths: list[str]) -> int:
    errors = validate_paths([Path(p) for p in paths])
    for error in errors:
        print(str(error))
    if errors:
        console.print(f"[red]{len(errors)} problem(s)[/red]")
        return 1
    count = len(load_scenarios([Path(p) for p in paths]))
    console.print(f"[green]{count} scenario file(s) valid[/green]")
    return 0


def write_junit(path: Path, results: list, total_seconds: float, report_files: dict[str, Path] | None = None) -> None:
    suite = ET.Element("testsuite", name="harness", tests=str(len(results)),
                       failures=str(sum(1 for r in results if not r.passed)), time=f"{total_seconds:.3f}")
    for result in results:
        case = ET.SubElement(suite, "testcase", classname="scenarios", name=result.scenario.name,
                             file=str(result.scenario.source_file or ""), time=f"{result.seconds:.3f}")
        report_file = (report_files or {}).get(result.scenario.name)
        if report_file is not None:
            # The HTML report of this scenario (`harness run --report DIR`), for a CI to link.
            properties = ET.SubElement(case, "properties")
            ET.SubElement(properties, "property", name="report", value=str(report_file))
        if not result.passed:
            # The first unmet expectation, so a CI summary that shows only the message still says what failed.
            report = getattr(result, "report", None)
            first = report.failures[0].summary() if report is not None and report.failures else None
            failure = ET.SubElement(case, "failure", message=(result.error or first or "expectations not met")[:500])
            failure.text = result.error or result.report.render()
        if report_file is not None:
            ET.SubElement(case, "system-out").text = f"report: {report_file}"
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def cmd_run(paths: list[str], keyword: str | None, junit_xml: str | None, endpoint: str | None,
            allow_remote: bool, keep_stacks: bool, report_dir: str | None = None) -> int:
    from harness.runner import run_scenario
    from harness.stack.resources import Resources

    try:
        scenarios = select(load_scenarios([Path(p) for p in paths or ["scenarios"]]), keyword)
    except ScenarioError as error:
        print(str(error))
        return 2
    if not scenarios:
        console.print("[yellow]no scenario selected[/yellow]")
        return 5
    resources = Resources(endpoint_url=endpoint, allow_remote=allow_remote or None, quiet=False)
    results = []
    started = time.monotonic()
    try:
        with console.status("starting LocalStack and PostgreSQL") as status:
            resources.endpoint()
            resources.database_url()
            if resources.attached:
                # Deadlines and floors follow this (the embedded LocalStack states its own when it starts).
                console.print(f"harness: {resources.platform().describe()}", markup=False, highlight=False)
            for index, scenario in enumerate(scenarios, 1):
                label = f"[{index}/{len(scenarios)}] {scenario.name}"

                def progress(step: str, label: str = label) -> None:
                    status.update(f"{label}: {step}")

                scenario_started = time.monotonic()
                try:
                    result = run_scenario(scenario, resources, progress, keep_stack=keep_stacks)
                except Exception as error:  # an infrastructure error fails this scenario only
                    from harness.runner import ScenarioResult

                    result = ScenarioResult(scenario, None, time.monotonic() - scenario_started,
                                            error=f"{type(error).__name__}: {error}")
                results.append(result)
                mark = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
                console.print(f"{mark} {scenario.name} ({result.seconds:.1f} s)")
                if not result.passed:
                    console.print(result.failure_text(), markup=False, highlight=False)
    finally:
        resources.close()
    total = time.monotonic() - started
    table = Table(title="scenarios")
    for column in ("scenario", "result", "seconds", "file"):
        table.add_column(column)
    for result in results:
        table.add_row(result.scenario.name, "passed" if result.passed else "FAILED", f"{result.seconds:.1f}",
                      str(result.scenario.source_file or ""))
    console.print(table)
    passed = sum(1 for r in results if r.passed)
    print(f"{passed} passed, {len(results) - passed} failed in {total:.1f}s")
    report_files: dict[str, Path] = {}
    if report_dir:
        from harness.expect.html_report import write_reports

        report_files = write_reports(Path(report_dir), results)
        print(f"report: {Path(report_dir) / 'index.html'}")
    if junit_xml:
        write_junit(Path(junit_xml), results, total, report_files)
    return 0 if passed == len(results) else 1
