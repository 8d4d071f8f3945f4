"""The HTML report (harness/expect/html_report.py): a shipped scenario with a timeout and a re-shard, run on
the scripted stand-in, drawn as a self-contained page whose timeline and expectations can be read back."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.expect import Report, evaluate
from harness.expect.html_report import write_reports
from harness.scenario import Scenario, load_scenario
from tests.support.fakes import FakeClock, FakeObservations
from tests.support.simulated import PLATFORM, simulate_pipeline

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def simulated(name: str) -> tuple[Scenario, Report]:
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    clock = FakeClock()
    observations = FakeObservations(clock, started_at=clock.now, platform=PLATFORM)
    simulate_pipeline(scenario, observations, PLATFORM)
    return scenario, evaluate(scenario, observations, wall_clock=clock, sleep=clock.sleep,
                              poll_interval=0.1)


class Elements(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {key: value or "" for key, value in attrs}))


def parse(text: str) -> list[tuple[str, dict[str, str]]]:
    parser = Elements()
    parser.feed(text)
    return parser.elements


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    scenario, report = simulated("worker-timeout-reshards")
    directory = tmp_path_factory.mktemp("report")
    pages = write_reports(directory, [SimpleNamespace(scenario=scenario, report=report, seconds=1.0, error=None)])
    return pages["worker-timeout-reshards"].read_text(encoding="utf-8"), directory


def classes(attrs: dict[str, str]) -> set[str]:
    return set(attrs.get("class", "").split())


def test_attempts_are_bars_on_their_lanes_in_time_order_with_the_timeouts_marked(page: tuple[str, Path]) -> None:
    elements = parse(page[0])
    bars = [a for tag, a in elements if tag == "rect" and "attempt" in classes(a)]
    lanes = {lane: [a for a in bars if a["data-lane"] == lane] for lane in ("orchestrator", "worker", "error_handler")}
    assert [len(lanes[lane]) for lane in lanes] == [1, 1 + 3 + 2, 1]
    worker = lanes["worker"]
    starts = [float(a["data-t"]) for a in worker]
    assert starts == sorted(starts)
    # The shard of 10 times out three times: each bar runs to its 900 s Timeout, which is marked.
    timed_out = [a for a in worker if "status-timeout" in classes(a)]
    assert len(timed_out) == 3
    for bar in timed_out:
        assert float(bar["data-end"]) == pytest.approx(float(bar["data-t"]) + 900.0, abs=0.01)
        assert float(bar["width"]) > 2
    marks = [a for tag, a in elements if tag == "line" and "timeout-mark" in classes(a)]
    assert [m["data-of"] for m in marks] == [bar["id"] for bar in timed_out]
    assert [a for a in worker if "status-ok" in classes(a)] == [a for a in worker if a not in timed_out]
    ids = [a.get("id") for _, a in elements]
    # Dead letter after the last timeout; the children's attempts after the dead letter.
    [dead_letter] = [a for tag, a in elements if "dead-letter" in classes(a) and a["data-lane"] == "dlq"]
    assert float(timed_out[-1]["data-end"]) <= float(dead_letter["data-t"]) < starts[-1]
    assert ids.index(timed_out[-1]["id"]) < ids.index(dead_letter["id"])


def test_the_reshard_fans_out_as_arrows_from_the_decision_to_the_children(page: tuple[str, Path]) -> None:
    elements = parse(page[0])
    by_id = {a["id"]: a for _, a in elements if "id" in a}
    [decision] = [a for tag, a in elements if "decision" in classes(a)]
    arrows = [a for tag, a in elements if tag == "line" and "reshard-arrow" in classes(a)]
    assert [a["data-from"] for a in arrows] == [decision["id"]] * 2
    children = [by_id[a["data-to"]] for a in arrows]
    assert all("attempt" in classes(child) and child["data-lane"] == "worker" for child in children)
    data = json.loads((page[1] / "worker-timeout-reshards.json").read_text(encoding="utf-8"))
    shards = {event["id"]: event.get("shard_id") for event in data["events"]}
    assert shards[decision["id"]] == "0000"
    assert sorted(shards[child["id"]] for child in children) == ["0000.0", "0000.1"]
    assert all(float(child["data-t"]) >= float(decision["data-t"]) for child in children)


def test_the_expectations_pass_each_linked_to_its_deadline_and_events(page: tuple[str, Path]) -> None:
    text, _ = page
    elements = parse(text)
    rows = [a for tag, a in elements if tag == "tr" and "expectation" in classes(a)]
    assert [row["data-verdict"] for row in rows] == ["pass"] * 7
    ids = {a["id"] for _, a in elements if "id" in a}
    links = [a["href"] for tag, a in elements if tag == "a" and a.get("href", "").startswith("#")]
    assert all(link[1:] in ids for link in links)
    assert [f"#deadline-{index}" for index in range(7)] == [link for link in links if link.startswith("#deadline")]
    assert "worker-timeout-reshards.yaml:21:5" in text  # the dlq expectation's place
    data = json.loads((page[1] / "worker-timeout-reshards.json").read_text(encoding="utf-8"))
    [dlq] = [item for item in data["expectations"] if item["kind"] == "dlq"]
    assert [e["lane"] for e in data["events"] if e["id"] in dlq["events"]] == ["dlq"]


def test_the_page_is_self_contained_and_its_timeline_is_well_formed_svg(page: tuple[str, Path]) -> None:
    text, directory = page
    assert "http://" not in text and "https://" not in text and "<script" not in text
    for tag, attrs in parse(text):
        for key in ("src", "href", "xlink:href"):
            value = attrs.get(key, "")
            assert not value or value.startswith("#") or (directory / value).exists(), (tag, key, value)
    svg = text[text.index("<svg"):text.index("</svg>") + len("</svg>")]
    root = ET.fromstring(svg)
    lanes = [g.get("data-lane") for g in root.iter("g")]
    # The pipeline's lanes in its order, those with events only (nothing reached error_handler_dlq).
    assert lanes[:7] == ["job", "orchestrator", "worker", "error_handler", "notifications", "dlq", "alarms"]
    assert "error_handler_dlq" not in lanes
    assert {"alarm:job_not_run", "alarm:job_failed"} <= set(lanes)
    alarms = [e for e in root.iter("path") if "alarm" in (e.get("class") or "").split()]
    assert alarms and all("->" in (e.findtext("title") or "") for e in alarms)


def test_harness_run_report_writes_an_index_a_page_and_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness import runner
    from harness.cli import main
    from harness.stack import resources

    class FakeResources:
        attached = False

        def __init__(self, **_settings: object) -> None:
            pass

        def spawn(self) -> None:
            pass

        def endpoint(self) -> None:
            return None

        def database_url(self) -> None:
            return None

        def close(self) -> None:
            pass

    def run(scenario: Scenario, _resources: object, _progress: object, keep_stack: bool = False,
            template: object = None) -> object:
        return runner.ScenarioResult(simulated(scenario.name)[0], simulated(scenario.name)[1], 0.5)

    monkeypatch.setattr(resources, "Resources", FakeResources)
    monkeypatch.setattr(runner, "run_scenario", run)
    out, junit = tmp_path / "report", tmp_path / "junit.xml"
    code = main(["run", str(SCENARIOS / "worker-timeout-reshards.yaml"), "--report", str(out),
                 "--junit-xml", str(junit)])
    assert code == 0
    index = (out / "index.html").read_text(encoding="utf-8")
    links = [a["href"] for tag, a in parse(index) if tag == "a"]
    assert links == ["worker-timeout-reshards.html", "worker-timeout-reshards.json"]
    assert "1 of 1 scenarios passed" in index
    assert "Scenario <code>worker-timeout-reshards</code>" in (out / "worker-timeout-reshards.html").read_text()
    data = json.loads((out / "worker-timeout-reshards.json").read_text(encoding="utf-8"))
    assert data["passed"] is True and len(data["expectations"]) == 7
    case = ET.parse(junit).getroot().find("testcase")
    assert case is not None
    properties = {prop.get("name"): prop.get("value") for prop in case.iter("property")}
    assert properties["report"] == str(out / "worker-timeout-reshards.html")
    # The stack time the scenario covered (its report's elapsed, on the stack's clock), beside its wall time.
    assert float(properties["stack_seconds"]) > 2880  # three 900 s timeouts and 3 minutes of retries
    assert set(properties) == {"report", "deploy_seconds", "verdict_seconds", "stack_seconds", "cpu_seconds"}


def test_each_attempt_bar_links_to_its_own_function_log_lines(page: tuple[str, Path]) -> None:
    text, directory = page
    elements = parse(text)
    bars = [a for tag, a in elements if tag == "rect" and "attempt" in classes(a)]
    links = [a["href"] for tag, a in elements if tag == "a" and a.get("href", "").startswith("#log-")]
    assert links == [f"#log-{bar['id']}" for bar in bars]
    logs = dict(re.findall(r'<details id="log-(ev-\d+)"[^>]*>(.*?)</details>', text, flags=re.S))
    assert sorted(logs) == sorted(bar["id"] for bar in bars)
    events = {e["id"]: e for e in json.loads((directory / "worker-timeout-reshards.json").read_text())["events"]}
    for bar in bars:
        event, log = events[bar["id"]], html.unescape(logs[bar["id"]])
        assert f"START RequestId: {event['request_id']}" in log and f"END RequestId: {event['request_id']}" in log
        assert f"[harness] attempt {event['attempt']}, fault {event['fault']}" in log  # this attempt's, no other's
        assert ("Task timed out after" in log) == (bar["data-lane"] == "worker" and "status-timeout" in classes(bar))


def test_the_page_states_the_stack_clock_and_the_alarm_periods_in_aws_units(page: tuple[str, Path]) -> None:
    text, directory = page
    [timing] = re.findall(r'<p id="timing" class="note">Time: (.*?)</p>', text)
    timing = html.unescape(timing)
    assert timing.startswith("each stack runs on its own clock, which skips ahead whenever none of its code runs")
    assert timing.endswith("; alarm periods: job_not_run 1 day, job_failed 60 s")
    assert json.loads((directory / "worker-timeout-reshards.json").read_text())["timing"] == timing


def test_a_second_run_into_the_same_folder_keeps_the_first_runs_pages_in_the_index(tmp_path: Path) -> None:
    first, second = simulated("worker-timeout-reshards"), simulated("success-path")
    write_reports(tmp_path, [SimpleNamespace(scenario=first[0], report=first[1], seconds=1.0, error=None)])
    write_reports(tmp_path, [SimpleNamespace(scenario=second[0], report=second[1], seconds=1.0, error=None)])
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    links = [a["href"] for tag, a in parse(index) if tag == "a" and a.get("href", "").endswith(".html")]
    assert links == ["success-path.html", "worker-timeout-reshards.html"]  # this run's, then the kept one
    assert "1 of 1 scenarios passed" in index and "Earlier runs in this folder (1 pages, kept)" in index
