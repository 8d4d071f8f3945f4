"""The soak file, its plan of nights, and the on-call view, without a stack (tests/integration/test_soak.py runs
soaks on one)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest

from harness.records import Message
from harness.scenario import ScenarioError
from harness.soak.document import load_soak
from harness.soak.nights import DAY_SECONDS, plan_nights
from harness.soak.oncall import as_json, invariants, received
from harness.soak.run import NightResult, SoakRun

REPO = Path(__file__).resolve().parents[2]
MONTH = REPO / "examples" / "soak" / "month.yaml"
NOW = datetime.datetime(2026, 12, 7, 6, 0, tzinfo=datetime.UTC).timestamp()
SMALL = """\
name: small
description: four nights
nights: 4
seed: 3
schedule: {skip: [2]}
job: {files: 6, shard_size: 3}
faults:
  poison_file: {nights: [3]}
  error_handler_fails: {nights: [4]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "soak.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_soak(write(tmp_path, text))
    return str(caught.value)


@pytest.mark.parametrize(("change", "expected"), [
    (("nights: 4", "nigths: 4"), ":3:1: nigths: unknown key 'nigths'; did you mean 'nights'?"),
    (("schedule: {skip: [2]}", 'schedule: {at: "25:00"}'), ":5:16: schedule.at: expected a time of day as HH:MM"),
    (("schedule: {skip: [2]}", "schedule: {skip: [2, 9]}"),
     ":5:22: schedule.skip[1]: night 9 is not one of the soak's nights (1 to 4)"),
    (("poison_file: {nights: [3]}", "poison_file: {}"),
     ":8:3: faults.poison_file: give a probability, nights, or both"),
    (("poison_file:", "poisson_file:"), "unknown key 'poisson_file'; did you mean 'poison_file'?"),
])
def test_a_soak_file_s_mistakes_are_refused_at_their_line_and_column(
        tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    text = problems(tmp_path, SMALL.replace(*change))
    assert expected in text, text


def test_the_shipped_month_loads_and_its_plan_has_what_it_promises() -> None:
    soak = load_soak(MONTH)
    nights = plan_nights(soak, NOW)
    assert len(nights) == 30 and [n.number for n in nights if not n.runs] == [9, 10]
    drawn = {kind for night in nights for kind in night.kinds}
    assert {"poison_file", "big_shard_timeout", "error_handler_fails", "bad_table_name"} <= drawn
    assert all("bad_table_name" in nights[number - 1].kinds for number in (17, 18))
    # Each night at 02:00 UTC, a day apart, the first after NOW.
    assert datetime.datetime.fromtimestamp(nights[0].at, datetime.UTC) == datetime.datetime(
        2026, 12, 8, 2, 0, tzinfo=datetime.UTC)
    assert [b.at - a.at for a, b in zip(nights, nights[1:], strict=False)] == [DAY_SECONDS] * 29


def test_the_plan_is_the_seed_s(tmp_path: Path) -> None:
    soak = load_soak(write(tmp_path, SMALL.replace("poison_file: {nights: [3]}", "poison_file: {probability: 0.5}")))
    assert plan_nights(soak, NOW) == plan_nights(soak, NOW)
    reseeded = soak.model_copy(update={"seed": 4})
    draws = {tuple(tuple(n.kinds) for n in plan_nights(soak.model_copy(update={"seed": seed}), NOW))
             for seed in range(20)}
    assert len(draws) > 1, "every seed drew the same nights"
    assert plan_nights(reseeded, NOW)[0].file_ids == plan_nights(soak, NOW)[0].file_ids


def test_each_night_s_faults_target_its_own_run_and_alone_it_is_a_valid_scenario(tmp_path: Path) -> None:
    soak = load_soak(write(tmp_path, SMALL))
    nights = plan_nights(soak, NOW)
    skipped, poisoned, failing = nights[1], nights[2], nights[3]
    assert not skipped.runs and skipped.stack_faults() == []
    assert (poisoned.run, failing.run) == (2, 3)
    [poison] = poisoned.faults[0]["files"]
    assert poison in poisoned.file_ids
    assert poisoned.stack_faults() == [{"function": "worker", "kind": "timeout", "files": [poison], "runs": [2]}]
    # The error handler's failure alone would meet no dead letter: the night gets a poison file, and says so.
    assert failing.kinds == ["error_handler_fails", "poison_file"]
    assert {fault["function"] for fault in failing.stack_faults()} == {"error_handler", "worker"}
    scenario = poisoned.scenario(soak)
    assert scenario.job is not None and scenario.job.file_ids == poisoned.file_ids
    assert scenario.job.job_id == "small-n003" and "runs" not in scenario.faults[0].model_dump(exclude_none=True)
    # Alone, the night expects what the model of the pipeline predicts: the poison file quarantined, the rest loaded.
    expected = poisoned.scenario_document(soak)["expect"]
    assert {"reshard": {"quarantined": [poison]}} in expected
    assert {"database": {"loaded_exactly_once": [f for f in poisoned.file_ids if f != poison]}} in expected


# -- the on-call view ---------------------------------------------------------------------------------------

ALARMS = {"job_not_run": "stack-JobNotRun", "job_failed": "stack-JobFailed"}


def alarm(name: str, old: str, new: str, at: float, reason: str, configured: float | None = None) -> Message:
    body = {"AlarmName": name, "OldStateValue": old, "NewStateValue": new, "NewStateReason": reason,
            "StateChangeTime": datetime.datetime.fromtimestamp(at, datetime.UTC).isoformat()}
    if configured is not None:
        stamp = datetime.datetime.fromtimestamp(configured, datetime.UTC)
        body["AlarmConfigurationUpdatedTimestamp"] = stamp.isoformat()
    return Message("alarms", "ALARM", json.dumps(body), received_at=at)


def failed(at: float, reason: str = "quarantined") -> Message:
    return Message("notifications", "JOB FAILED", json.dumps({"reason": reason}), received_at=at)


MISSING = ("Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as "
           "[Breaching].")
COUNTED = "Threshold Crossed: 1 datapoint [2.0 (07/12/26 02:10:00)] was greater than or equal to the threshold (1.0)."


def soak_run(tmp_path: Path, messages: dict[str, list[Message]], *, letters: tuple[int, int] = (1, 1)) -> SoakRun:
    soak = load_soak(write(tmp_path, SMALL))
    nights = plan_nights(soak, NOW)
    results = [NightResult(night, started_at=night.at, ran_until=night.at + 600) for night in nights]
    results[2].dead_letters, results[2].decisions = letters
    return SoakRun(soak, results, messages=messages, alarm_names=dict(ALARMS))


def night_at(run: SoakRun, number: int, hours: float) -> float:
    return run.nights[number - 1].night.at + hours * 3600


def test_every_message_is_on_its_night_and_marked_true_or_false(tmp_path: Path) -> None:
    run = soak_run(tmp_path, {})
    first = run.nights[0].night.at
    run.messages = {
        "notifications": [failed(night_at(run, 3, 2)), failed(night_at(run, 1, 2), reason="unexpected")],
        "alarms": [
            alarm("stack-JobNotRun", "INSUFFICIENT_DATA", "ALARM", first - 3600, MISSING, configured=first - 3600),
            alarm("stack-JobNotRun", "OK", "ALARM", night_at(run, 2, 12), MISSING),
            alarm("stack-JobFailed", "OK", "ALARM", night_at(run, 1, 0.05), MISSING),
            alarm("stack-JobFailed", "OK", "ALARM", night_at(run, 3, 0.2), COUNTED),
            alarm("stack-JobNotRun", "OK", "ALARM", night_at(run, 4, 5), MISSING),
        ],
    }
    marks = [(item.night, item.kind, item.true_alarm) for item in received(run, run.alarm_names)]
    assert marks == [
        (0, "job_not_run_alarm", False),  # at the deploy, before any night
        (1, "job_failed_alarm", False),   # missing data treated as breaching: the design's false alarm
        (1, "job_failed", False),         # a JOB FAILED on a night without a fault
        (2, "job_not_run_alarm", True),   # the skipped night
        (3, "job_failed_alarm", True),    # errors counted
        (3, "job_failed", True),
        (4, "job_not_run_alarm", False),  # the job ran that night
    ]
    deploy = received(run, run.alarm_names)[0]
    assert "first evaluation, at its creation (the deploy)" in deploy.why, deploy.why
    checks = {check.name: check for check in invariants(run, received(run, run.alarm_names))}
    not_run = checks["JOB NOT RUN exactly on skipped nights"]
    assert not not_run.held and not_run.nights == [4] and "night(s) 4, when the job ran" in not_run.detail
    outcome = as_json(run, received(run, run.alarm_names), list(checks.values()))
    assert outcome["totals"]["job_failed"] == {"total": 2, "true": 1, "false": 1}
    assert [item["kind"] for item in outcome["before_first_night"]] == ["job_not_run_alarm"]


def test_a_skipped_night_without_job_not_run_breaks_the_invariant_and_says_why(tmp_path: Path) -> None:
    run = soak_run(tmp_path, {"alarms": []})
    [_, _, not_run] = invariants(run, received(run, run.alarm_names))
    assert not not_run.held and not_run.nights == [2]
    assert "no JOB NOT RUN for the skipped night(s) 2" in not_run.detail and "evaluation range" in not_run.detail


def test_two_decisions_for_one_dead_letter_break_the_invariant(tmp_path: Path) -> None:
    run = soak_run(tmp_path, {"alarms": [alarm("stack-JobNotRun", "OK", "ALARM", 0.0, MISSING)]}, letters=(1, 2))
    run.messages["alarms"] = [alarm("stack-JobNotRun", "OK", "ALARM", night_at(run, 2, 12), MISSING)]
    checks = {check.name: check for check in invariants(run, received(run, run.alarm_names))}
    assert checks["JOB NOT RUN exactly on skipped nights"].held
    decisions = checks["one decision per dead letter"]
    assert not decisions.held and decisions.nights == [3] and "1 dead letter(s), 2 decision(s)" in decisions.detail


def test_a_night_the_engine_failed_breaks_the_first_invariant(tmp_path: Path) -> None:
    run = soak_run(tmp_path, {"alarms": [alarm("stack-JobNotRun", "OK", "ALARM", 0.0, MISSING)]})
    run.messages["alarms"] = [alarm("stack-JobNotRun", "OK", "ALARM", night_at(run, 2, 12), MISSING)]
    run.nights[3].error = "the orchestrator failed"
    [files, _, _] = invariants(run, received(run, run.alarm_names))
    assert not files.held and files.nights == [4]


def test_the_page_and_the_json_are_written(tmp_path: Path) -> None:
    from harness.soak.report import write_page

    run = soak_run(tmp_path, {"notifications": []})
    run.messages["alarms"] = [alarm("stack-JobNotRun", "OK", "ALARM", night_at(run, 2, 12), MISSING)]
    messages = received(run, run.alarm_names)
    outcome: dict[str, Any] = as_json(run, messages, invariants(run, messages))
    page = write_page(outcome, tmp_path / "report")
    html = page.read_text(encoding="utf-8")
    assert html.count("class='night") == 4 and "data-night='2'" in html and "true alarm: JOB NOT RUN alarm" in html
    assert json.loads(page.with_suffix(".json").read_text())["nights"][1]["ran"] is False


def test_a_skipped_first_night_is_paged_by_the_alarm_still_in_alarm_since_the_deploy(tmp_path: Path) -> None:
    soak = load_soak(write(tmp_path, SMALL.replace("schedule: {skip: [2]}", "schedule: {skip: [1]}")))
    nights = plan_nights(soak, NOW)
    run = SoakRun(soak, [NightResult(night, started_at=night.at) for night in nights], alarm_names=dict(ALARMS))
    first = nights[0].at
    run.messages = {"alarms": [
        alarm("stack-JobNotRun", "INSUFFICIENT_DATA", "ALARM", first - 3600, MISSING, configured=first - 3600)]}
    [deploy] = received(run, run.alarm_names)
    assert (deploy.night, deploy.true_alarm) == (0, True) and "still in ALARM on night 1" in deploy.why
    [_, _, not_run] = invariants(run, [deploy])
    assert not_run.held, not_run.detail


def test_a_silent_skipped_night_is_written_as_the_night_before_with_its_page_due_before_the_next(
        tmp_path: Path) -> None:
    from harness.scenario import load_scenario
    from harness.soak.oncall import silent_night_replays

    run = soak_run(tmp_path, {"alarms": []})  # night 2 skipped, and no JOB NOT RUN at all
    written = silent_night_replays(run, received(run, run.alarm_names), tmp_path / "replays")
    assert list(written) == [2] and run.nights[1].replay == written[2]
    scenario = load_scenario(written[2])
    assert scenario.name == "small-n002-not-run" and scenario.job is not None
    assert scenario.job.file_ids == run.nights[0].night.file_ids  # night 1, the last that ran before it
    [page] = [e for e in scenario.expect if e.kind == "alarm"]
    assert page.alarm == "job_not_run" and page.transitions == ["OK", "ALARM"]
    assert page.when[1] is not None and page.when[1].not_after == 2 * DAY_SECONDS  # before night 3
    # Paged on the skipped night: nothing to replay.
    run.messages["alarms"] = [alarm("stack-JobNotRun", "OK", "ALARM", night_at(run, 2, 12), MISSING)]
    assert silent_night_replays(run, received(run, run.alarm_names), tmp_path / "more") == {}


def test_a_soak_is_refused_on_a_localstack_that_keeps_real_time(tmp_path: Path) -> None:
    from harness.model.platform import Platform
    from harness.soak.run import run_soak

    class RealTime:
        def platform(self) -> Platform:
            return Platform("LocalStack at http://127.0.0.1:4566, without the harness's launcher", virtual_clock=False)

        def endpoint(self) -> Any:
            raise AssertionError("nothing is deployed")

    outcome = run_soak(load_soak(write(tmp_path, SMALL)), RealTime())  # type: ignore[arg-type]
    assert outcome.nights == [] and outcome.error is not None
    assert "keeps real time, and 4 nights would take 4 days" in outcome.error
