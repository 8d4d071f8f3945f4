"""Mutation testing of the scenario suite: `make mutants`.

Each mutant in `tests/mutants/catalog.yaml` (written by hand) and `tests/mutants/template_catalog.yaml`
(one per behaviour-changing property of `lambdas/template.yaml`, written by `scripts/template_mutants.py`)
plants one bug in the pipeline (`lambdas/`) or the stack (`lambdas/template.yaml`): in a fresh copy of the
project, `old` (which must occur exactly once in `file`) is replaced by `new`, and `harness run` runs the
scenario suite of that copy. A mutant is killed when at least
one scenario fails that passes on an unmutated copy (the baseline, run first unless --no-baseline); one
that no scenario kills is a hole in the suite. A mutant's run stops at its first failing scenario
(`harness run -x`); --full-matrix runs them all. The kill matrix (mutant -> the scenarios that failed) is
printed as a Markdown table at the end.

    .venv/bin/python scripts/mutants.py [--only ID ...] [--list] [--json FILE] [--scenarios PATH ...] [--full-matrix]

Exit status: 0 when every mutant was killed, 1 when at least one survived, 2 when none survived but a
run could not be judged (an error before any scenario ran) or the catalog is invalid, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from types import ModuleType

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
CATALOG = REPO_ROOT / "tests" / "mutants" / "catalog.yaml"
TEMPLATE_CATALOG = REPO_ROOT / "tests" / "mutants" / "template_catalog.yaml"
CATALOGS = (CATALOG, TEMPLATE_CATALOG)
"""Read in this order: the hand-written mutants, then the generated ones (`scripts/template_mutants.py`)."""
# What a copy holds: enough to run `harness run` from it, and nothing a mutant would not need.
COPIED = ("harness", "lambdas", "scenarios", "constraints", "pyproject.toml")
FIELDS = ("id", "bug", "file", "old", "new")
LOG_NAME = "harness-run.log"
JUNIT_NAME = "junit.xml"
# After Ctrl-C the harness run (same process group, so it got the SIGINT too) stops its own LocalStack
# and PostgreSQL; it gets this long before it is sent SIGTERM, then as long again before SIGKILL.
STOP_GRACE_S = 10.0


class CatalogError(Exception):
    """The catalog is malformed, or a mutant's anchor does not occur exactly once in its file."""


@dataclass(frozen=True)
class Mutant:
    id: str
    bug: str
    file: str
    old: str
    new: str
    catalog: Path = field(default=CATALOG, compare=False, repr=False)
    """The catalog the mutant comes from, named when its anchor needs updating."""

    def check_anchor(self, root: Path) -> str:
        """The text of `file` under `root`; raises CatalogError unless `old` occurs in it exactly once."""
        path = root / self.file
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CatalogError(f"mutant {self.id}: {self.file} does not exist under {root}") from None
        count = text.count(self.old)
        if count != 1:
            where = "does not occur" if count == 0 else f"occurs {count} times"
            raise CatalogError(
                f"mutant {self.id}: its `old` text {where} in {self.file} (it must occur exactly once; "
                f"{self._update_hint()}):\n{_indent(self.old)}"
            )
        return text

    def _update_hint(self) -> str:
        if self.catalog == TEMPLATE_CATALOG:
            return (f"regenerate {_relative(self.catalog)} with .venv/bin/python scripts/template_mutants.py")
        return f"update the anchor in {_relative(self.catalog)}"

    def apply(self, root: Path) -> Path:
        """Plant the bug in the copy at `root`; returns the changed file."""
        text = self.check_anchor(root)
        path = root / self.file
        path.write_text(text.replace(self.old, self.new, 1), encoding="utf-8")
        return path


def load_catalog(path: Path = CATALOG) -> list[Mutant]:
    """The mutants of `path`, in order; raises CatalogError naming every structural problem at once."""
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CatalogError(f"{path}: cannot be read as YAML: {error}") from error
    if not isinstance(entries, list) or not entries:
        raise CatalogError(f"{path}: must be a non-empty list of mutants")
    problems: list[str] = []
    mutants: list[Mutant] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        label = entry.get("id") if isinstance(entry, dict) and isinstance(entry.get("id"), str) else f"#{index}"
        if not isinstance(entry, dict):
            problems.append(f"mutant {label}: must be a mapping with keys {', '.join(FIELDS)}")
            continue
        missing = [name for name in FIELDS if not isinstance(entry.get(name), str) or not entry[name].strip()]
        unknown = sorted(set(entry) - set(FIELDS))
        if missing:
            problems.append(f"mutant {label}: missing or empty (must be text): {', '.join(missing)}")
        if unknown:
            problems.append(f"mutant {label}: unknown keys: {', '.join(map(str, unknown))}")
        if missing or unknown:
            continue
        mutant = Mutant(**{name: entry[name] for name in FIELDS}, catalog=path)
        if mutant.id in seen:
            problems.append(f"mutant {mutant.id}: the id is used more than once")
        seen.add(mutant.id)
        file_problem = _file_problem(mutant.file)
        if file_problem:
            problems.append(f"mutant {mutant.id}: file {mutant.file!r} {file_problem}")
        if mutant.old == mutant.new:
            problems.append(f"mutant {mutant.id}: `new` is the same as `old`, so it plants no bug")
        mutants.append(mutant)
    if problems:
        raise CatalogError(f"{path}:\n" + "\n".join(f"  {problem}" for problem in problems))
    return mutants


def load_catalogs(paths: tuple[Path, ...] | list[Path] = CATALOGS) -> list[Mutant]:
    """The mutants of every catalog, in order; an id may be used once across all of them. A catalog that
    does not exist is skipped (the generated one, before its first generation), unless it is the only one."""
    present = [path for path in paths if path.exists()] or list(paths[:1])
    problems: list[str] = []
    mutants: list[Mutant] = []
    for path in present:
        try:
            mutants += load_catalog(path)
        except CatalogError as error:
            problems.append(str(error))
    seen: dict[str, Path] = {}
    for mutant in mutants:
        if mutant.id in seen and seen[mutant.id] != mutant.catalog:
            problems.append(f"mutant {mutant.id}: the id is used in {_relative(seen[mutant.id])} and in "
                            f"{_relative(mutant.catalog)}")
        seen.setdefault(mutant.id, mutant.catalog)
    if problems:
        raise CatalogError("\n".join(problems))
    return mutants


def stale_template_catalog() -> str | None:
    """Why tests/mutants/template_catalog.yaml is not what scripts/template_mutants.py writes now, or None."""
    if not TEMPLATE_CATALOG.exists():
        return None
    module = template_mutants_script()
    try:
        wanted = module.render(module.generate(module.TEMPLATE.read_text(encoding="utf-8")))
    except module.GeneratorError as error:
        return f"scripts/template_mutants.py cannot generate it: {error}"
    if TEMPLATE_CATALOG.read_text(encoding="utf-8") != wanted:
        return (f"{_relative(TEMPLATE_CATALOG)} is out of date with lambdas/template.yaml "
                "(run .venv/bin/python scripts/template_mutants.py)")
    return None


def template_mutants_script() -> ModuleType:
    """scripts/template_mutants.py as a module (scripts/ is not a package), loaded once."""
    name = "harness_template_mutants_script"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / "template_mutants.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # registered before it runs, so that its dataclasses find it
        spec.loader.exec_module(module)
    return sys.modules[name]


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def _file_problem(file: str) -> str | None:
    posix = PurePosixPath(file)
    if posix.is_absolute() or ".." in posix.parts or "\\" in file:
        return "must be a relative path inside the repository, with '/' and no '..'"
    if posix.parts[0] not in COPIED:
        return f"is not in what a mutant copy holds ({', '.join(COPIED)})"
    return None


def check_anchors(mutants: list[Mutant], root: Path = REPO_ROOT) -> None:
    problems = []
    for mutant in mutants:
        try:
            mutant.check_anchor(root)
        except CatalogError as error:
            problems.append(str(error))
    if problems:
        raise CatalogError("\n".join(problems))


def make_copy(source: Path = REPO_ROOT, parent: Path | None = None, label: str = "copy") -> Path:
    """A fresh copy of what `harness run` needs, with `.harness` (the zip cache) linked, not copied.

    Zips are cached by content hash, so a mutated function gets its own zip and unchanged ones are reused.
    """
    root = Path(tempfile.mkdtemp(prefix=f"harness-mutant-{label}-", dir=parent))
    try:
        for name in COPIED:
            origin = source / name
            if origin.is_dir():
                shutil.copytree(origin, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(origin, root / name)
        (REPO_ROOT / ".harness").mkdir(exist_ok=True)
        (root / ".harness").symlink_to(REPO_ROOT / ".harness", target_is_directory=True)
    except BaseException:
        remove_copy(root)
        raise
    return root


def remove_copy(root: Path) -> None:
    link = root / ".harness"
    if link.is_symlink():
        link.unlink()  # never descend into the shared cache
    shutil.rmtree(root, ignore_errors=True)


def copy_environment(root: Path) -> dict[str, str]:
    """The environment that makes Python import `harness` from the copy, ahead of the editable install."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    env.setdefault("NO_COLOR", "1")
    return env


def check_copy_is_used(root: Path, python: str) -> str | None:
    """None if `harness` and the `lambdas/` it packages come from the copy at `root`, else why not.

    The harness is installed editable; its finder is appended to `sys.meta_path`, so PYTHONPATH wins. A
    future install mode that put the repository first would make every mutant survive: this says so.
    """
    probe = ("import harness, harness.packaging as p, harness.stack as s; "
             "print(harness.__file__); print(p.LAMBDAS_DIR); print(s.__file__)")
    result = subprocess.run([python, "-c", probe], cwd=root, env=copy_environment(root),
                            capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        return f"importing harness from the copy failed:\n{_tail(result.stderr)}"
    resolved = root.resolve()
    for line in result.stdout.splitlines():
        if not Path(line).resolve().is_relative_to(resolved):
            return f"{line} is outside the copy {root}: the mutated code would not be what runs"
    return None


@dataclass
class JunitReport:
    tests: int
    failed: dict[str, str] = field(default_factory=dict)  # scenario name -> what failed (the report's text)


def parse_junit(path: Path) -> JunitReport:
    """Failed or errored test cases of a JUnit XML file, by name (`harness run` names them by scenario)."""
    root = ET.parse(path).getroot()
    cases = list(root.iter("testcase"))
    failed: dict[str, str] = {}
    for case in cases:
        for tag in ("failure", "error"):
            problem = case.find(tag)
            if problem is not None:
                name = case.get("name") or case.get("file") or "?"
                # The text is the harness's full report (expected, observed, where); the message is cut short.
                failed.setdefault(name, (problem.text or problem.get("message") or tag).strip())
                break
    return JunitReport(tests=len(cases), failed=failed)


@dataclass
class Outcome:
    id: str
    bug: str
    file: str
    status: str  # "killed", "survived" or "error"; the baseline: "survived" (all pass), "failing" or "error"
    killed_by: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    detail: str = ""
    returncode: int | None = None
    seconds: float = 0.0

    def verdict(self) -> str:
        if self.status == "killed":
            return "killed by: " + ", ".join(self.killed_by)
        if self.status == "survived":
            return "all scenarios passed" if self.id == "baseline" else "SURVIVED"
        if self.status == "failing":
            return "failing without any mutant: " + ", ".join(self.failures)
        return f"error: {self.detail}"


def judge(mutant: Mutant, returncode: int | None, junit: Path, log_tail: str, seconds: float,
          baseline_failed: frozenset[str] = frozenset(), refused: list[str] | None = None) -> Outcome:
    """Killed only by a scenario that fails with the mutant and not on the baseline; a run that never got
    to its scenarios, or failed only where the baseline fails too, cannot be judged: an error."""
    outcome = Outcome(mutant.id, mutant.bug, mutant.file, "error", returncode=returncode, seconds=seconds)
    report = None
    if junit.exists():
        try:
            report = parse_junit(junit)
        except ET.ParseError as error:
            outcome.detail = f"unreadable JUnit report ({error})\n{log_tail}"
            return outcome
    if refused is None:  # `harness run` reports a refused file and runs the rest: exit 1, or 2 when none ran
        refused = refused_files(log_tail) if returncode in (1, 2) else []
    new_failures = set(report.failed) - baseline_failed if report is not None else set()
    if refused and not new_failures:
        # The validator walks the model of the pipeline, which runs the pipeline's own re-shard code: with
        # a mutant there, a scenario's stated outcome contradicts the code before anything is deployed.
        # The files it names (which the baseline ran) are what caught the mutant.
        outcome.status = "killed"
        outcome.killed_by = [f"{name} (refused before deploy)" for name in refused]
        outcome.detail = log_tail
    elif report is None or report.tests == 0:
        outcome.detail = f"no scenario ran (exit status {returncode})\n{log_tail}"
    elif new_failures:
        outcome.status, outcome.failures = "killed", report.failed
        outcome.killed_by = [name for name in report.failed if name not in baseline_failed]
    elif report.failed:
        outcome.failures = report.failed
        outcome.detail = f"only scenarios that fail on the baseline too failed: {', '.join(report.failed)}"
    elif returncode == 0:
        outcome.status = "survived"
    else:
        outcome.detail = f"exit status {returncode} although every scenario passed\n{log_tail}"
    return outcome


_PROBLEM_LINE = re.compile(r"^(?P<path>\S+?\.ya?ml):\d+:\d+: ", re.MULTILINE)


def refused_files(log_tail: str) -> list[str]:
    """The scenario files (by stem, which names the shipped scenarios) that `harness run` refused to load."""
    return sorted({Path(match["path"]).stem for match in _PROBLEM_LINE.finditer(log_tail)})


def run_child(command: list[str], cwd: Path, env: dict[str, str], log: Path, timeout_s: float) -> int | None:
    """Run the harness, output to `log`; its exit status, or None if it ran out of time and was stopped."""
    with open(log, "wb") as output:
        child = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                 stderr=subprocess.STDOUT)
        try:
            return child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop_child(child, own_cleanup_s=0)
            return None
        except BaseException:  # Ctrl-C or SIGTERM: stop our child, and only it, then let the caller clean up
            stop_child(child, own_cleanup_s=STOP_GRACE_S if _interrupted_by_terminal else 0)
            raise


def stop_child(child: subprocess.Popen, own_cleanup_s: float) -> None:
    """Give the child `own_cleanup_s` to stop by itself, then SIGTERM, then SIGKILL: by its pid only."""
    steps = ((None, own_cleanup_s), (signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, STOP_GRACE_S))
    for signum, wait_s in steps:
        if child.poll() is not None:
            return
        try:
            if signum is not None:
                child.send_signal(signum)
            child.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:  # impatient second Ctrl-C: go on to the next, harsher step
            continue
        return


_interrupted_by_terminal = False


def _on_sigint(signum: int, frame: object) -> None:
    global _interrupted_by_terminal
    _interrupted_by_terminal = True  # Ctrl-C reaches the whole foreground process group, child included
    raise KeyboardInterrupt


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # only we were told; the child is stopped by pid


def scenario_arguments(paths: list[str], copy: Path) -> list[str]:
    """`--scenarios` paths, as paths inside the copy (a path outside the repository is used as given)."""
    mapped = []
    for given in paths:
        path = resolve_scenario_path(given)
        try:
            mapped.append(str(copy / path.relative_to(REPO_ROOT)))
        except ValueError:
            mapped.append(str(path))
    return mapped


def resolve_scenario_path(given: str) -> Path:
    path = Path(given)
    if not path.is_absolute():
        path = Path.cwd() / path if (Path.cwd() / path).exists() else REPO_ROOT / path
    return path.resolve()


@dataclass
class SuiteRun:
    returncode: int | None  # None: ran out of time and was stopped
    junit: Path
    log_tail: str
    seconds: float
    refused: list[str] = field(default_factory=list)
    """Files `harness run` refused before deploy, from its whole output (they are printed first)."""


# What every copy is made from: a snapshot of the project taken when the run starts, so that edits made
# to the working tree during an hour-long run do not leak into some mutants and not others.
_source = REPO_ROOT


def run_copy(mutant: Mutant | None, scenarios: list[str], python: str, timeout_s: float, keep: bool,
             judge_run: Callable[[SuiteRun], Outcome]) -> Outcome:
    """Copy the project, plant `mutant` (None: the baseline), run the scenarios there, judge the run."""
    started = time.monotonic()
    ident = mutant.id if mutant else "baseline"
    copy = make_copy(_source, label=ident)

    def error(detail: str) -> Outcome:
        bug, file = (mutant.bug, mutant.file) if mutant else ("none (the unmutated project)", "")
        return Outcome(ident, bug, file, "error", detail=detail, seconds=time.monotonic() - started)

    try:
        try:
            if mutant:
                mutant.apply(copy)  # the tree may have changed since the anchors were checked
        except CatalogError as problem:
            return error(str(problem))
        misused = check_copy_is_used(copy, python)
        if misused:
            return error(misused)
        junit, log = copy / JUNIT_NAME, copy / LOG_NAME
        command = [python, "-m", "harness.cli", "run", *scenario_arguments(scenarios, copy),
                   "--junit-xml", str(junit), *([] if mutant is None or _full_matrix else ["-x"])]
        returncode = run_child(command, copy, copy_environment(copy), log, timeout_s)
        text = log.read_text(encoding="utf-8", errors="replace")
        tail = _tail(text)
        if returncode is None:
            return error(f"timed out after {timeout_s:.0f} s and was stopped\n{tail}")
        refused = refused_files(text) if returncode in (1, 2) else []
        return judge_run(SuiteRun(returncode, junit, tail, time.monotonic() - started, refused))
    finally:
        if keep:
            _say(f"  kept the copy {copy} (its output: {copy / LOG_NAME})")
        else:
            remove_copy(copy)


_full_matrix = False
"""--full-matrix: every scenario runs against every mutant (each mutant's every killer in the matrix); else a
mutant's run stops at its first failing scenario (`harness run -x`), which is all that killing it needs."""


def run_baseline(scenarios: list[str], python: str, timeout_s: float, keep: bool) -> Outcome:
    """The suite on an unmutated copy: "killed" means failing with the mutant and passing here."""
    plain = Mutant("baseline", "none (the unmutated project)", "", "", "")

    def judge_baseline(run: SuiteRun) -> Outcome:
        outcome = judge(plain, run.returncode, run.junit, run.log_tail, run.seconds, refused=run.refused)
        if outcome.status == "killed":  # scenarios that fail without any bug: not evidence against a mutant
            outcome.status, outcome.killed_by = "failing", []
        return outcome

    return run_copy(None, scenarios, python, timeout_s, keep, judge_baseline)


def run_mutant(mutant: Mutant, scenarios: list[str], python: str, timeout_s: float, keep: bool,
               baseline_failed: frozenset[str] = frozenset()) -> Outcome:
    return run_copy(mutant, scenarios, python, timeout_s, keep, lambda run: judge(
        mutant, run.returncode, run.junit, run.log_tail, run.seconds, baseline_failed, run.refused))


def kill_matrix(outcomes: list[Outcome]) -> str:
    lines = ["| mutant | bug | killed by |", "|---|---|---|"]
    for outcome in outcomes:
        if outcome.status == "killed":
            verdict = ", ".join(f"`{name}`" for name in outcome.killed_by)
        elif outcome.status == "survived":
            verdict = "**SURVIVED**"
        else:
            said = outcome.detail.strip().splitlines() or ["?"]
            # What went wrong, and the last line of output (usually the exception), in one cell.
            verdict = "error: " + (said[0] if len(said) == 1 else f"{said[0]}: {said[-1]}")
        lines.append(f"| `{outcome.id}` | {_cell(outcome.bug)} | {_cell(verdict)} |")
    return "\n".join(lines)


def exit_status(outcomes: list[Outcome]) -> int:
    if any(o.status == "survived" for o in outcomes):
        return 1
    return 2 if any(o.status == "error" for o in outcomes) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mutants.py",
        description="Run the scenario suite against each mutant of tests/mutants/catalog.yaml and "
                    "tests/mutants/template_catalog.yaml; print the kill matrix. Exit 0: all killed; 1: some "
                    "survived; 2: an error or an invalid catalog.",
    )
    parser.add_argument("--only", nargs="+", metavar="ID", help="run only these mutants")
    parser.add_argument("--list", action="store_true", help="list the mutants (after checking them) and exit")
    parser.add_argument("--json", metavar="FILE", help="also write the outcomes as JSON to FILE")
    parser.add_argument("--scenarios", nargs="+", metavar="PATH", default=["scenarios"],
                        help="scenario files or directories of the repository to run in each copy "
                             "(default: scenarios)")
    parser.add_argument("--catalog", type=Path, nargs="+", default=list(CATALOGS), help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per mutant (default 1800)")
    parser.add_argument("--keep-copies", action="store_true", help="keep each mutant's copy, to debug it")
    parser.add_argument("--full-matrix", action="store_true",
                        help="run every scenario against every mutant, so that the matrix lists all its killers "
                             "(default: stop at the first failing scenario, which kills it)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the run on an unmutated copy (then any failing scenario counts as a kill)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    global _full_matrix
    _full_matrix = args.full_matrix
    try:
        mutants = load_catalogs(args.catalog)
        if args.only:
            known = {m.id for m in mutants}
            unknown = [i for i in args.only if i not in known]
            if unknown:
                raise CatalogError(f"unknown mutant id(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
            mutants = [m for m in mutants if m.id in args.only]
        check_anchors(mutants)
    except CatalogError as error:
        print(f"mutants: {error}", file=sys.stderr)
        return 2
    stale = stale_template_catalog() if TEMPLATE_CATALOG in args.catalog else None
    if stale:
        _say(f"mutants: warning: {stale}")
    if args.list:
        for mutant in mutants:
            print(f"{mutant.id}\t{mutant.file}\t{mutant.bug}")
        return 0
    missing = [p for p in args.scenarios if not resolve_scenario_path(p).exists()]
    if missing:
        print(f"mutants: no such scenario file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    venv_python = REPO_ROOT / ".venv" / "bin" / "python"
    python = str(venv_python) if venv_python.exists() else sys.executable
    signal.signal(signal.SIGINT, _on_sigint)
    signal.signal(signal.SIGTERM, _on_sigterm)
    global _source
    _source = make_copy(REPO_ROOT, label="snapshot")
    baseline: Outcome | None = None
    outcomes: list[Outcome] = []
    interrupted = False
    scenarios = " ".join(args.scenarios)
    try:
        if not args.no_baseline:
            _say(f"mutants: [baseline] no mutant: running {scenarios} ...")
            baseline = run_baseline(args.scenarios, python, args.timeout, args.keep_copies)
            _say(f"mutants: [baseline]: {baseline.verdict()} ({baseline.seconds:.1f} s)")
            if baseline.status == "error":
                _say("mutants: the suite cannot run on the unmutated project, so no mutant can be judged")
                return 2
        baseline_failed = frozenset(baseline.failures if baseline else ())
        for index, mutant in enumerate(mutants, 1):
            label = f"[{index}/{len(mutants)}] {mutant.id}"
            _say(f"mutants: {label} ({mutant.file}): running {scenarios} ...")
            outcome = run_mutant(mutant, args.scenarios, python, args.timeout, args.keep_copies, baseline_failed)
            outcomes.append(outcome)
            _say(f"mutants: {label}: {outcome.verdict()} ({outcome.seconds:.1f} s)")
    except KeyboardInterrupt:
        interrupted = True
        _say("mutants: interrupted; the kill matrix below covers the mutants that finished")
    finally:
        remove_copy(_source)
        _source = REPO_ROOT
    if baseline is not None and baseline.failures:
        print(f"Baseline: {', '.join(baseline.failures)} fail without any mutant, so they kill nothing here.\n")
    print(kill_matrix(outcomes))
    if args.json:
        report = {"baseline": asdict(baseline) if baseline else None, "mutants": [asdict(o) for o in outcomes]}
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 130 if interrupted else exit_status(outcomes)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


if __name__ == "__main__":
    sys.exit(main())
