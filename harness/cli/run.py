"""`harness run` and `harness validate`: scenario files outside pytest, with progress and a summary."""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from harness.scenario import Loaded, Scenario, ScenarioError, TemplateScenario, load_found
from harness.text import duration_text

if TYPE_CHECKING:
    from harness.model.platform import Platform
    from harness.runner import ScenarioResult

# Wide enough that no report line or table row is wrapped; a table still takes only the width it needs.
_LOG_WIDTH = 10_000


def _console() -> Console:
    """Progress and reports on stderr. In a log (not a terminal) each line is written whole: rich would
    wrap it at 80 columns, splitting the paths and `file:line` places a reader or a script looks for."""
    if sys.stderr.isatty():
        return Console(stderr=True)
    return Console(stderr=True, soft_wrap=True, width=_LOG_WIDTH)


console = _console()


def select[S: Scenario | TemplateScenario](scenarios: list[S], expression: str | None) -> list[S]:
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
    loaded = _loaded([Path(p) for p in paths])
    if loaded.problems:
        console.print(f"[red]{len(loaded.problems)} problem(s)[/red]")
        return 1
    console.print(f"[green]{len(loaded.scenarios)} scenario file(s) valid[/green]")
    return 0


def write_junit(path: Path, results: list, total_seconds: float, report_files: dict[str, Path] | None = None) -> None:
    suite = ET.Element("testsuite", name="harness", tests=str(len(results)),
                       failures=str(sum(1 for r in results if not r.passed)), time=f"{total_seconds:.3f}")
    for result in results:
        case = ET.SubElement(suite, "testcase", classname="scenarios", name=result.scenario.name,
                             file=str(result.scenario.source_file or ""), time=f"{result.seconds:.3f}")
        report_file = (report_files or {}).get(result.scenario.name)
        properties = ET.SubElement(case, "properties")
        # Where the wall time went, how much of the stack's clock it covered, and the CPU it took.
        stack_seconds = result.report.elapsed if getattr(result, "report", None) is not None else 0.0
        for name, value in (("deploy_seconds", getattr(result, "deploy_seconds", 0.0)),
                            ("verdict_seconds", getattr(result, "verdict_seconds", 0.0)),
                            ("stack_seconds", stack_seconds), ("cpu_seconds", getattr(result, "cpu_seconds", 0.0))):
            ET.SubElement(properties, "property", name=name, value=f"{float(value):.3f}")
        if report_file is not None:
            # The HTML report of this scenario (`harness run --report DIR`), for a CI to link.
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


def default_jobs() -> int:
    """How many scenarios `harness run` runs at once by default: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no sched_getaffinity (macOS, Windows)
        return max(1, os.cpu_count() or 1)


class _Interrupted(Exception):
    """Raised by a scenario's progress callback after Ctrl-C: the scenario stops at its next step, and
    run_scenario's `finally` tears its stack down."""


class _Running:
    """What each running scenario is doing, for the status line. Worker threads write it, the main thread
    reads it; the stop flag (set on Ctrl-C) makes every running scenario stop at its next step."""

    def __init__(self, total: int, exitfirst: bool = False) -> None:
        self.total = total
        self.exitfirst = exitfirst
        """Stop at the first failure (`harness run -x`)."""
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._started = 0
        self._steps: dict[int, tuple[str, str]] = {}  # scenario index -> (name, current step)
        self._latest: int | None = None

    def begin(self, index: int, name: str) -> None:
        with self._lock:
            self._started += 1
            self._steps[index] = (name, "starting")
            self._latest = index

    def step(self, index: int, step: str) -> None:
        if self.stop.is_set():
            raise _Interrupted("stopped (-x: a scenario failed)" if self.exitfirst else "interrupted (Ctrl-C)")
        with self._lock:
            self._steps[index] = (self._steps[index][0], step)
            self._latest = index

    def end(self, index: int) -> None:
        with self._lock:
            self._steps.pop(index, None)

    def text(self) -> str:
        """`[3/37] a: deploying` with one scenario running; `[3/37 running: a, b] b: deploying` with more."""
        with self._lock:
            running = [self._steps[index] for index in sorted(self._steps)]
            latest = self._steps.get(self._latest) if self._latest is not None else None
            started = self._started
        if not running:
            return f"[{started}/{self.total}]"
        if len(running) == 1:
            name, step = running[0]
            return f"[{started}/{self.total}] {name}: {step}"
        names = ", ".join(name for name, _ in running)
        return f"[{started}/{self.total} running: {names}]" + (f" {latest[0]}: {latest[1]}" if latest else "")


def _print_result(result: ScenarioResult) -> None:
    """A scenario's verdict line and, when it failed, why: one block, printed by the main thread only."""
    mark = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
    console.print(f"{mark} {result.scenario.name} ({result.seconds:.1f} s)")
    for warning in result.warnings:
        console.print(f"  warning: {warning}", markup=False, highlight=False)
    if not result.passed:
        console.print(result.failure_text(), markup=False, highlight=False)


def cmd_run(paths: list[str], keyword: str | None, junit_xml: str | None, endpoint: str | None,
            allow_remote: bool, keep_stacks: bool, report_dir: str | None = None, jobs: int | None = None,
            template: str | None = None, exitfirst: bool = False) -> int:
    from harness.stack.resources import Resources

    jobs = default_jobs() if jobs is None else jobs
    refused = _refused_options(jobs, template)
    if refused:
        console.print(f"harness run: {refused}", markup=False, highlight=False)
        return 2
    loaded = _loaded([Path(p) for p in paths or ["scenarios"]])
    scenarios = select(loaded.scenarios, keyword)
    if not scenarios:
        console.print("[yellow]no scenario selected[/yellow]")
        return 2 if loaded.problems else 5
    started = time.monotonic()
    resources = Resources(endpoint_url=endpoint, allow_remote=allow_remote or None, quiet=False,
                          localstacks=min(jobs, default_jobs(), len(scenarios)))
    try:
        results = _run_all(scenarios, resources, jobs, keep_stacks, Path(template) if template else None,
                           exitfirst)
    finally:
        resources.close()
    status = _summary(results, time.monotonic() - started, report_dir, junit_xml)
    if len(results) < len(scenarios):
        print(f"{len(scenarios) - len(results)} not run: stopped at the first failure (-x)")
    if loaded.problems:
        print(f"{len(loaded.problems)} problem(s) in files that did not run: see above")
    return 1 if loaded.problems else status


def _loaded(paths: list[Path]) -> Loaded:
    """The valid scenarios under `paths`; a template found in a folder is skipped and an invalid file reported,
    each saying so, while the valid ones go on to run."""
    loaded = load_found(paths)
    for template in loaded.templates:
        print(f"{template}: skipped, a CloudFormation or SAM template (a scenario names it with `template:`)")
    for problem in loaded.problems:
        print(str(ScenarioError([problem])))
    return loaded


def _refused_options(jobs: int, template: str | None) -> str | None:
    if jobs < 1:
        return f"-j must be at least 1, not {jobs}"
    if template and not Path(template).is_file():
        return f"--template {template}: no such file"
    return None


def _run_all(scenarios: list[Scenario | TemplateScenario], resources: Any, jobs: int, keep_stacks: bool,
             template: Path | None, exitfirst: bool = False) -> list[ScenarioResult]:
    """Every scenario, on `jobs` threads, its block printed as soon as it and every one before it are done;
    with `exitfirst`, none starts after the first failure, and those running stop at their next step."""
    resources.spawn()  # LocalStack starts in its own processes while this one imports what runs a scenario
    from harness.runner import ScenarioResult, run_scenario

    slots: list[ScenarioResult | None] = [None] * len(scenarios)
    printed = 0
    running = _Running(len(scenarios), exitfirst)

    def run_one(index: int, scenario: Scenario | TemplateScenario,
                progress: Callable[[str], None]) -> ScenarioResult:
        running.begin(index, scenario.name)
        scenario_started = time.monotonic()
        try:
            return run_scenario(scenario, resources, progress, keep_stack=keep_stacks, template=template)
        except _Interrupted:
            raise
        except Exception as error:  # an infrastructure error fails this scenario only
            return ScenarioResult(scenario, None, time.monotonic() - scenario_started,
                                  error=f"{type(error).__name__}: {error}")
        finally:
            running.end(index)

    def print_finished() -> None:
        nonlocal printed
        while printed < len(slots) and (result := slots[printed]) is not None:
            _print_result(result)
            printed += 1

    with console.status("starting LocalStack and PostgreSQL") as status:
        # First use here, in the main thread, before any worker: each is started once, and a child
        # process dies with the thread that started it (the parent-death signal), so not in a worker.
        resources.endpoint()
        resources.database_url()
        if resources.attached:
            console.print(f"harness: {resources.platform().describe()}", markup=False, highlight=False)
        if jobs == 1 or len(scenarios) == 1:
            # One at a time, in this thread: Ctrl-C interrupts the scenario at once, and its stack is torn
            # down by run_scenario's `finally`.
            for index, scenario in enumerate(scenarios):

                def progress(step: str, index: int = index) -> None:
                    running.step(index, step)
                    status.update(running.text())

                slots[index] = run_one(index, scenario, progress)
                print_finished()
                if exitfirst and not slots[index].passed:  # type: ignore[union-attr]
                    break
        else:
            _run_in_threads(scenarios, _longest_first(scenarios, resources.platform()), min(jobs, len(scenarios)),
                            run_one, running, slots, print_finished, status.update)
    for result in slots[printed:]:  # after a gap that -x left: what finished beyond it
        if result is not None:
            _print_result(result)
    return [result for result in slots if result is not None]


def _summary(results: list[ScenarioResult], total: float, report_dir: str | None, junit_xml: str | None) -> int:
    """The table (wall time, and the stack time each scenario covered), the reports; the exit status."""
    table = Table(title="scenarios")
    for column in ("scenario", "result", "seconds", "stack time", "file"):
        table.add_column(column)
    for result in results:
        covered = duration_text(result.report.elapsed) if result.report is not None else ""
        table.add_row(result.scenario.name, "passed" if result.passed else "FAILED", f"{result.seconds:.1f}",
                      covered, str(result.scenario.source_file or ""))
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


def _longest_first(scenarios: list[Scenario | TemplateScenario], platform: Platform) -> list[int]:
    """The order to start the scenarios in: the most real work first, so that the last to start are short
    ones and no thread sits out the tail alone. On the stack's clock, waiting costs nothing; what costs wall
    time is code that runs: each attempt (`real_work`). Output keeps the list's order."""
    work = [real_work(scenario, platform) for scenario in scenarios]
    return sorted(range(len(scenarios)), key=lambda index: -work[index])


def real_work(scenario: Scenario | TemplateScenario, platform: Platform) -> int:
    """The attempts the scenario's runs make (the floor's walk): what its wall time grows with."""
    from harness.model.walk import OPTIMISTIC, walk_runs

    return sum(sum(timing.attempts.values()) for timing in walk_runs(scenario, platform, OPTIMISTIC))


def _finished(future: Future[ScenarioResult], running: _Running) -> ScenarioResult | None:
    """A finished scenario's result; None for one that -x stopped or never started."""
    if future.cancelled():
        return None
    try:
        return future.result()
    except _Interrupted:
        if running.exitfirst:
            return None
        raise


def _run_in_threads(scenarios: list[Scenario | TemplateScenario], order: list[int], jobs: int,
                    run_one: Callable[[int, Scenario | TemplateScenario, Callable[[str], None]], ScenarioResult],
                    running: _Running,
                    slots: list[ScenarioResult | None], print_finished: Callable[[], None],
                    show: Callable[[str], None]) -> None:
    """Run the scenarios on `jobs` threads, on the run's LocalStacks and its PostgreSQL (each stack has its
    own prefix and schema, and leases its LocalStack from `resources`). Only this (the main) thread prints;
    the workers report their steps to `running`.

    On Ctrl-C nothing new starts, every running scenario stops at its next step, and this waits until they
    have torn their stacks down before it lets KeyboardInterrupt go on (a second Ctrl-C stops waiting)."""
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="harness-run")
    futures: dict[Future[ScenarioResult], int] = {}

    def guarded(index: int, scenario: Scenario | TemplateScenario, progress: Callable[[str], None]) -> ScenarioResult:
        # -x: the worker that saw the failure stops the others itself, before it takes the next scenario.
        if running.stop.is_set():
            raise _Interrupted("stopped before it started")
        result = run_one(index, scenario, progress)
        if running.exitfirst and not result.passed:
            running.stop.set()
        return result

    try:
        for index in order:
            futures[pool.submit(guarded, index, scenarios[index], functools.partial(running.step, index))] = index
        pending = set(futures)
        shown = ""
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                result = _finished(future, running)
                slots[futures[future]] = result
                if running.exitfirst and result is not None and not result.passed and not running.stop.is_set():
                    running.stop.set()  # -x: the running ones stop at their next step, the rest never start
                    for waiting in pending:
                        waiting.cancel()
            print_finished()
            if (text := running.text()) != shown:
                show(text)
                shown = text
    except BaseException:
        running.stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        still = [future for future in futures if not future.done()]
        if still:
            console.print(f"harness run: stopping; waiting for {len(still)} running scenario(s) to stop and "
                          "tear down their stacks (Ctrl-C again to stop waiting)", markup=False, highlight=False)
            wait(still)
        raise
    pool.shutdown(wait=True)
