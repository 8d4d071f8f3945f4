"""`harness run -j N`: scenarios on N threads in one LocalStack and one PostgreSQL, their output in list order.

The stack is faked (no LocalStack starts): `run_scenario` sleeps a random short while, so that scenarios
finish out of order, and records how many run at once. The output must still come in the scenario list's
order, one contiguous block per scenario, and the summary table too.
"""

from __future__ import annotations

import io
import os
import random
import re
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from rich.console import Console

from harness import packaging, runner
from harness.cli import main
from harness.cli import run as run_command
from harness.model.platform import Platform, embedded
from harness.scenario import Scenario
from harness.stack import resources

NAMES = [f"s{index}-{word}" for index, word in enumerate(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"])]
FAILING = {"s1-bravo", "s4-echo"}


@dataclass
class Stage:
    """What the fake run_scenario saw: how many ran at once, and the order they finished in."""

    delays: dict[str, float]
    started: set[str] = field(default_factory=set)
    second_done: threading.Event = field(default_factory=threading.Event)
    running: int = 0
    most: int = 0
    finished: list[str] = field(default_factory=list)
    threads: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeResources:
    attached = False
    made: list[FakeResources] = []

    def __init__(self, **_settings: object) -> None:
        self.closed = False
        FakeResources.made.append(self)

    def spawn(self) -> None:
        pass

    def endpoint(self) -> None:
        return None

    def database_url(self) -> None:
        return None

    def platform(self) -> Platform:  # the order scenarios start in comes from their delays on it
        return embedded()

    def close(self) -> None:
        self.closed = True


def _scenario_files(folder: Path) -> list[str]:
    paths = []
    for name in NAMES:
        path = folder / f"{name}.yaml"
        path.write_text(f"name: {name}\ndescription: a fake one\njob: {{files: 1}}\n"
                        "expect:\n  - database: {loaded_exactly_once: all}\n")
        paths.append(str(path))
    return paths


@pytest.fixture
def stage(monkeypatch: pytest.MonkeyPatch) -> Stage:
    # Later scenarios are quicker, with some jitter: with 2 or more threads they finish out of list order.
    rng = random.Random(8)
    stage = Stage({name: 0.02 + 0.03 * (len(NAMES) - index) + rng.uniform(0, 0.02) for index, name in enumerate(NAMES)})

    def fake_run_scenario(scenario: Scenario, _resources: object, progress, keep_stack: bool = False, template=None):
        with stage.lock:
            stage.running += 1
            stage.most = max(stage.most, stage.running)
            stage.threads.add(threading.current_thread().name)
            stage.started.add(scenario.name)
        try:
            progress("deploying")
            time.sleep(stage.delays[scenario.name] / 2)
            progress("running the job")
            time.sleep(stage.delays[scenario.name] / 2)
            if scenario.name == NAMES[0] and NAMES[1] in stage.started:
                # Running beside the second, the first finishes after it: out of list order for sure, not
                # only when the sleeps above are not stretched by a busy machine.
                stage.second_done.wait(timeout=10)
            if scenario.name == "s5-foxtrot":
                raise RuntimeError("LocalStack said no")  # an infrastructure error fails this scenario only
            if scenario.name in FAILING:
                return runner.ScenarioResult(scenario, None, 0.5,
                                             error=f"{scenario.name} went wrong\n  line two of {scenario.name}")
            return _passed(scenario)
        finally:
            with stage.lock:
                stage.running -= 1
                stage.finished.append(scenario.name)
            if scenario.name == NAMES[1]:
                stage.second_done.set()

    FakeResources.made = []
    monkeypatch.setattr(resources, "Resources", FakeResources)
    monkeypatch.setattr(runner, "run_scenario", fake_run_scenario)
    return stage


class _PassedReport:
    passed = True
    elapsed = 3600.0  # an hour on the stack's clock


def _passed(scenario: Scenario) -> runner.ScenarioResult:
    return runner.ScenarioResult(scenario, _PassedReport(), 0.5)  # type: ignore[arg-type]


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], paths: list[str],
         jobs: int | None) -> tuple[int, list[str], str]:
    log = io.StringIO()
    monkeypatch.setattr(run_command, "console", Console(file=log, soft_wrap=True, width=10_000))
    code = run_command.cmd_run(paths, None, None, None, False, False, jobs=jobs)
    return code, log.getvalue().splitlines(), capsys.readouterr().out


def _blocks(lines: list[str]) -> list[tuple[str, list[str]]]:
    """(scenario name, its lines) per PASS/FAIL block, in the order printed; the table ends the blocks."""
    blocks: list[tuple[str, list[str]]] = []
    for line in lines:
        if (verdict := re.match(r"(PASS|FAIL) (\S+) \(", line)) is not None:
            blocks.append((verdict.group(2), [line]))
        elif line.strip().startswith("scenarios") or "┏" in line:
            break  # the summary table's title
        elif blocks:
            blocks[-1][1].append(line)
    return blocks


def _table_order(lines: list[str]) -> list[str]:
    return [name for line in lines for name in NAMES if re.search(rf"│ {re.escape(name)} +│", line)]


@pytest.mark.parametrize("jobs", [2, 3])
def test_blocks_and_table_come_in_list_order_whatever_order_scenarios_finish(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stage: Stage,
        jobs: int) -> None:
    code, lines, out = _run(monkeypatch, capsys, _scenario_files(tmp_path), jobs)
    assert stage.finished != NAMES, "the fake should finish scenarios out of order"
    assert stage.most == jobs  # never more than -j at once, and -j at once when there are enough
    blocks = _blocks(lines)
    assert [name for name, _ in blocks] == NAMES, "\n".join(lines)
    for name, block in blocks:
        if name in FAILING:
            # Its failure text right under its FAIL line, and nobody else's lines in between.
            assert block == [block[0], f"{name} went wrong", f"  line two of {name}"], block
            assert block[0].startswith(f"FAIL {name} (")
        elif name == "s5-foxtrot":
            assert block == [block[0], "RuntimeError: LocalStack said no"], block
        else:
            assert block == [f"PASS {name} (0.5 s)"], block
    assert _table_order(lines) == NAMES
    # Each passed scenario's row says how much of the stack's clock it covered, beside its wall time.
    assert any(re.search(r"│ s0-alpha +│ passed +│ 0\.5 +│ 60 min 0\.0 s +│", line) for line in lines), lines
    assert code == 1
    assert "3 passed, 3 failed" in out
    assert FakeResources.made[0].closed


def test_one_job_runs_one_at_a_time_in_this_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str], stage: Stage) -> None:
    code, lines, _ = _run(monkeypatch, capsys, _scenario_files(tmp_path), 1)
    assert stage.most == 1
    assert stage.finished == NAMES
    assert stage.threads == {threading.main_thread().name}
    assert [name for name, _ in _blocks(lines)] == NAMES
    assert code == 1


def test_all_passing_exits_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                             stage: Stage) -> None:
    paths = [p for p in _scenario_files(tmp_path) if Path(p).stem not in (*FAILING, "s5-foxtrot")]
    code, lines, out = _run(monkeypatch, capsys, paths, 2)
    assert code == 0 and "3 passed, 0 failed" in out
    assert [name for name, _ in _blocks(lines)] == ["s0-alpha", "s2-charlie", "s3-delta"]
    assert stage.most == 2


def test_the_default_is_the_number_of_cores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str], stage: Stage) -> None:
    assert 1 <= run_command.default_jobs() <= (os.cpu_count() or 1)
    monkeypatch.setattr(run_command, "default_jobs", lambda: 4)
    _run(monkeypatch, capsys, _scenario_files(tmp_path), None)
    assert stage.most == 4


def test_fewer_than_one_job_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str], stage: Stage) -> None:
    code, lines, _ = _run(monkeypatch, capsys, _scenario_files(tmp_path), 0)
    assert code == 2 and lines == ["harness run: -j must be at least 1, not 0"]
    assert stage.finished == [] and FakeResources.made == []


def test_status_line_names_what_is_running() -> None:
    running = run_command._Running(37)
    running.begin(0, "a")
    running.step(0, "deploying")
    assert running.text() == "[1/37] a: deploying"
    running.begin(1, "b")
    running.step(1, "checking expectations")
    assert running.text() == "[2/37 running: a, b] b: checking expectations"
    running.end(0)
    assert running.text() == "[2/37] b: checking expectations"


def test_ctrl_c_starts_nothing_new_and_waits_for_running_scenarios_to_tear_down(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    torn_down: list[str] = []
    started: list[str] = []
    stopped_by: list[str] = []
    both_running = threading.Barrier(3)

    def fake_run_scenario(scenario: Scenario, _resources: object, progress, keep_stack: bool = False, template=None):
        started.append(scenario.name)
        try:
            progress("deploying")
            both_running.wait(5)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # a long job; stops at its next step after Ctrl-C
                progress("running the job")
                time.sleep(0.01)
            raise AssertionError("never stopped")
        except BaseException as stopped:
            stopped_by.append(type(stopped).__name__)
            raise
        finally:
            torn_down.append(scenario.name)  # run_scenario's finally: the stack's teardown

    real_wait = run_command.wait

    def interrupted_wait(futures, timeout=None, return_when=None):
        if return_when is not None:  # the main loop's wait: Ctrl-C once both scenarios are running
            both_running.wait(5)
            raise KeyboardInterrupt
        return real_wait(futures)

    FakeResources.made = []
    monkeypatch.setattr(resources, "Resources", FakeResources)
    monkeypatch.setattr(runner, "run_scenario", fake_run_scenario)
    monkeypatch.setattr(run_command, "wait", interrupted_wait)
    log = io.StringIO()
    monkeypatch.setattr(run_command, "console", Console(file=log, soft_wrap=True, width=10_000))
    with pytest.raises(KeyboardInterrupt):
        run_command.cmd_run(_scenario_files(tmp_path), None, None, None, False, False, jobs=2)
    assert sorted(started) == ["s0-alpha", "s1-bravo"]  # the other four never started
    assert sorted(torn_down) == ["s0-alpha", "s1-bravo"]  # both torn down before cmd_run gave up
    assert stopped_by == ["_Interrupted", "_Interrupted"]  # at their next step, not at their end
    assert FakeResources.made[0].closed
    assert "stopping; waiting for 2 running scenario(s) to stop and tear down their stacks" in log.getvalue()


# -- what the threads share --------------------------------------------------------------------------------


def test_one_endpoint_gives_clients_to_many_threads_at_once() -> None:
    from harness.services.endpoint import Endpoint

    endpoint = Endpoint("http://127.0.0.1:4566")
    start = threading.Barrier(8)
    clients: list[object] = []
    errors: list[BaseException] = []

    def make() -> None:
        try:
            start.wait(5)
            for service in ("lambda", "sns", "sqs", "cloudwatch", "logs"):
                clients.append(endpoint.client(service))
        except BaseException as error:  # noqa: BLE001 - collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=make) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(clients) == 40
    assert all(client.meta.endpoint_url == "http://127.0.0.1:4566" for client in clients)  # type: ignore[attr-defined]


def test_a_zip_two_threads_need_at_once_is_built_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vendored = tmp_path / "vendor"
    (vendored / "dep").mkdir(parents=True)
    (vendored / "dep" / "__init__.py").write_text("")
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(packaging, "vendor_dir", lambda: vendored)
    real = packaging.zip_bytes
    built: list[int] = []

    def slow_zip_bytes(entries):  # slow enough that both threads find no zip in the cache
        built.append(1)
        time.sleep(0.2)
        return real(entries)

    monkeypatch.setattr(packaging, "zip_bytes", slow_zip_bytes)
    start = threading.Barrier(2)
    paths: list[Path] = []

    def build() -> None:
        start.wait(5)
        paths.append(packaging.build_function_zip_path("worker", {"extra.py": b"x = 1\n"}))

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 1 and len(set(paths)) == 1
    assert zipfile.ZipFile(paths[0]).read("extra.py") == b"x = 1\n"
    assert [p.name for p in paths[0].parent.iterdir()] == [paths[0].name]  # no temporary file left over


# -- the command line --------------------------------------------------------------------------------------


def test_harness_run_j_reaches_cmd_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str], stage: Stage) -> None:
    monkeypatch.setattr(run_command, "console", Console(file=io.StringIO(), soft_wrap=True, width=10_000))
    assert main(["run", "-j", "3", *_scenario_files(tmp_path)]) == 1
    assert stage.most == 3


def test_a_folder_runs_its_valid_scenarios_skips_a_template_and_reports_a_broken_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stage: Stage) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    good = [p for p in _scenario_files(folder) if Path(p).stem not in (*FAILING, "s5-foxtrot")]
    for path in set(_scenario_files(folder)) - set(good):
        Path(path).unlink()
    (folder / "sub").mkdir()
    (folder / "sub" / "template.yaml").write_text("Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n"
                                                  "    Type: AWS::Serverless::Function\n"
                                                  "    Properties: {Handler: !Ref Handler}\n")
    (folder / "broken.yaml").write_text("name: broken\ndescription: d\njob: {files: 1}\nexpect:\n  - dlq: {cont: 1}\n")
    code, lines, out = _run(monkeypatch, capsys, [str(folder)], 2)
    assert code == 1  # the valid ones passed, but a file did not run
    assert [name for name, _ in _blocks(lines)] == ["s0-alpha", "s2-charlie", "s3-delta"]
    assert f"{folder / 'sub' / 'template.yaml'}: skipped, a CloudFormation or SAM template" in out
    assert f"{folder / 'broken.yaml'}:5:11: expect[0].dlq.cont: unknown key 'cont'; did you mean 'count'?" in out
    assert "3 passed, 0 failed" in out and "1 problem(s) in files that did not run" in out


def test_a_folder_of_nothing_valid_runs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str], stage: Stage) -> None:
    (tmp_path / "broken.yaml").write_text("name: broken\n")
    code, _, out = _run(monkeypatch, capsys, [str(tmp_path)], 2)
    assert code == 2 and "broken.yaml" in out and stage.started == set()
