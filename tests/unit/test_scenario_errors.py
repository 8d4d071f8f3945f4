"""Bad scenario files are rejected before anything is deployed, with file, line, column and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.scenario import Problem, ScenarioError, load_scenario


def write(directory: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problems(path: Path) -> list[Problem]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return list(caught.value.problems)


def only(path: Path) -> Problem:
    found = problems(path)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def test_unknown_key_names_file_line_field_and_suggests(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: typo
        description: a misspelt key
        job:
          files: 10
          shard_sise: 5
        expect:
          - database: {loaded_exactly_once: all}
        """,
    )
    problem = only(path)
    assert (problem.file, problem.line, problem.column) == (str(path), 5, 3)
    assert problem.field == "job.shard_sise"
    assert "did you mean 'shard_size'?" in problem.message
    assert str(problem) == (
        f"{path}:5:3: job.shard_sise: unknown key 'shard_sise'; did you mean 'shard_size'?"
    )


def test_wrong_type_points_at_the_value(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: wrong-type
        description: a count written as text
        job: {files: 10}
        faults:
          - {function: worker, kind: exception}
        expect:
          - attempts:
              function: worker
              count: "3"
        """,
    )
    problem = only(path)
    assert (problem.line, problem.column, problem.field) == (9, 14, "expect[0].attempts.count")
    assert problem.message == "expected a whole number, got '3'"


def test_unknown_function_and_topic_suggest_the_right_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: unknown-names
        description: misspelt function and topic
        job: {files: 10}
        faults:
          - function: wroker
            kind: timeout
        expect:
          - sns: {topic: notification, count: 1}
        """,
    )
    first, second = problems(path)
    assert (first.line, first.column, first.field) == (5, 15, "faults[0].function")
    assert first.message == ("'wroker' is not a function of the stack; did you mean 'worker'? (its functions: "
                             "orchestrator, worker, error_handler)")
    assert (second.line, second.field) == (8, "expect[0].sns.topic")
    assert "did you mean 'notifications'?" in second.message


def test_unknown_fault_kind(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: unknown-kind
        description: misspelt fault kind
        job: {files: 10}
        faults:
          - function: worker
            kind: timout
        expect:
          - dlq: {count: 1}
        """,
    )
    problem = only(path)
    assert (problem.line, problem.column, problem.field) == (6, 11, "faults[0].kind")
    assert problem.message == (
        "unknown fault kind 'timout'; expected one of: timeout, latency, exception, out_of_memory, crash, "
        "bad_input, import_error, missing_handler, fail_after_commit, bad_table, bad_field, db_unreachable; "
        "did you mean 'timeout'?"
    )


def test_misspelt_kind_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: misspelt-kind-key
        description: kindd instead of kind, as in README's example
        job: {files: 10}
        faults:
          - function: worker
            kindd: timeout
        expect:
          - dlq: {count: 1}
        """,
    )
    problem = only(path)
    assert (problem.line, problem.column, problem.field) == (6, 5, "faults[0].kindd")
    assert problem.message == "unknown key 'kindd'; did you mean 'kind'?"


def test_missing_kind_without_a_look_alike_key_still_says_kind_is_missing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: missing-kind
        description: no kind at all
        job: {files: 10}
        faults:
          - function: worker
        expect:
          - dlq: {count: 1}
        """,
    )
    problem = only(path)
    assert problem.field == "faults[0].kind"
    assert problem.message.startswith("missing required key 'kind' (one of: timeout, ")


def test_unknown_expectation_kind_points_at_its_key(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: unknown-expectation
        description: misspelt expectation
        job: {files: 10}
        expect:
          - database: {loaded_exactly_once: all}
          - atempts: {function: worker, count: 1}
        """,
    )
    problem = only(path)
    assert (problem.line, problem.column, problem.field) == (6, 5, "expect[1].atempts")
    assert "did you mean 'attempts'?" in problem.message


def test_four_attempts_are_impossible(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: four-attempts
        description: more attempts than Lambda makes
        job: {files: 10}
        faults:
          - {function: worker, kind: exception, exception: {type: ConnectionError}}
        expect:
          - dlq: {count: 1}
          - database: {loaded_exactly_once: none}
          - attempts: {function: worker, count: 4}
        """,
    )
    problem = only(path)
    assert str(problem) == (
        f"{path}:9:41: expect[2].attempts.count: "
        "at most 3 attempts can happen (1 + max_retry_attempts=2), got 4"
    )


def test_attempt_limit_follows_max_retry_attempts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: fewer-retries
        description: one retry only
        stack:
          worker: {max_retry_attempts: 1}
        job: {files: 10}
        faults:
          - function: worker
            kind: exception
            attempts: [1, 3]
        expect:
          - attempts: {function: worker, count: 3}
        """,
    )
    fault, expectation = problems(path)
    assert (fault.line, fault.column, fault.field) == (9, 19, "faults[0].attempts[1]")
    assert fault.message == "attempt 3 never happens: worker gets at most 2 (1 + max_retry_attempts=1)"
    assert (expectation.line, expectation.field) == (11, "expect[0].attempts.count")
    assert "(1 + max_retry_attempts=1), got 3" in expectation.message


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: broken
        description: a list that never closes
        job: {files: [f-1, f-2}
        expect: []
        """,
    )
    problem = only(path)
    assert (problem.line, problem.field) == (3, "")
    assert problem.message.startswith("invalid YAML: ")
    assert str(problem).startswith(f"{path}:3:")


def test_yaml_indentation_error(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\ndescription: y\n  expect: z\n")
    problem = only(path)
    assert problem.line == 3
    assert "mapping values are not allowed here" in problem.message


def test_every_problem_of_a_file_is_reported_in_line_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: Not A Slug
        descripton: typo
        stack:
          alarm_period_seconds: 45
          worker: {timeout_seconds: 0, max_retry_attempts: 3}
        job: {files: 10}
        faults:
          - {function: worker, kind: timeout, exception: {type: ValueError}}
          - {function: worker, kind: exception, probability: 1.5}
        expect:
          - dlq: {count: 1, subject: JOB FAILED}
          - {dlq: {count: 1}, sns: {topic: dlq, count: 1}}
          - alarm: {alarm: job_failed, transitions: [ALARM, ALARM]}
        """,
    )
    found = problems(path)
    assert [(problem.line, problem.field) for problem in found] == [
        (1, "description"),
        (1, "name"),
        (2, "descripton"),
        (4, "stack.alarm_period_seconds"),
        (5, "stack.worker.timeout_seconds"),
        (5, "stack.worker.max_retry_attempts"),
        (8, "faults[0].exception"),
        (9, "faults[1].probability"),
        (11, "expect[0].dlq.subject"),
        (12, "expect[1]"),
        (13, "expect[2].alarm.transitions[1]"),
    ]
    messages = {problem.field: problem.message for problem in found}
    assert messages["description"] == "missing required key 'description'"
    assert messages["descripton"] == "unknown key 'descripton'; did you mean 'description'?"
    assert "10, 30 or a multiple of 60 seconds, got 45" in messages["stack.alarm_period_seconds"]
    assert messages["stack.worker.max_retry_attempts"] == "must be <= 2, got 3"
    assert messages["faults[0].exception"] == (
        "unknown key 'exception': it only applies to kind: exception / fail_after_commit (this is kind: timeout)"
    )
    assert messages["faults[1].probability"] == "must be <= 1, got 1.5"
    assert (
        messages["expect[0].dlq.subject"]
        == "unknown key 'subject': it belongs to the sns expectation, not dlq"
    )
    assert "exactly one key naming its kind, got 2: dlq, sns" in messages["expect[1]"]
    assert str(ScenarioError(found)).count("\n") == len(found) - 1


def test_consistency_problems_are_all_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: inconsistent
        description: each part is fine, together they cannot happen
        job: {files: 10}
        faults:
          - function: worker
            kind: exception
            attempts: [1, 2]
            files: [f-0099]
          - {function: orchestrator, kind: bad_table}
          - {function: worker, kind: timeout, files: [f-0002], probability: 0.5}
        expect:
          - reshard: {quarantined: [f-0001]}
          - database: {loaded_exactly_once: [f-0000, f-0010]}
        """,
    )
    found = problems(path)
    assert [(problem.line, problem.field) for problem in found] == [(10, "faults[2].probability")]
    assert found[0].message == "a probability needs a seed, so that a run can be repeated"

    path.write_text(path.read_text().replace("probability: 0.5}", "probability: 0.5, seed: 3}"))
    found = problems(path)
    assert [(problem.line, problem.field) for problem in found] == [
        (8, "faults[0].files[0]"),
        (9, "faults[1].function"),
        (12, "expect[0].reshard.quarantined[0]"),
        (13, "expect[1].database.loaded_exactly_once[1]"),
    ]
    assert "file 'f-0099' is not in the job (10 files: f-0000..f-0009)" == found[0].message
    assert found[1].message == "orchestrator does not use the database (only error_handler and worker do)"
    assert "file 'f-0001' cannot be quarantined" in found[2].message


def test_dlq_needs_a_fault_that_fails_the_last_attempt(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: recovers
        description: the last attempt succeeds, so nothing can be dead-lettered
        job: {files: 10}
        faults:
          - {function: worker, kind: exception, exception: {type: ConnectionError}, attempts: [1, 2]}
        expect:
          - dlq: {count: 1}
        """,
    )
    problem = only(path)
    assert (problem.line, problem.field) == (7, "expect[0].dlq.count")
    assert "no fault can fail the last attempt" in problem.message


def test_no_dead_letter_is_impossible_when_every_attempt_fails(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: always-fails
        description: every attempt fails, yet no dead letter is expected
        job: {files: 10}
        faults:
          - {function: worker, kind: exception, attempts: [1, 2]}
          - {function: worker, kind: out_of_memory}
        expect:
          - dlq: {count: 0}
        """,
    )
    problem = only(path)
    assert (problem.line, problem.column, problem.field) == (8, 18, "expect[0].dlq.count")
    assert problem.message == (
        "faults[1] fails every attempt of every worker invocation, so each one is dead-lettered"
    )


def test_no_job_means_no_faults_and_nothing_loaded(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: no-job
        description: nothing runs
        faults:
          - {function: worker, kind: timeout}
        expect:
          - database: {loaded_exactly_once: all}
        """,
    )
    found = problems(path)
    assert [(problem.line, problem.field) for problem in found] == [
        (3, "faults"),
        (6, "expect[0].database.loaded_exactly_once"),
    ]


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: twice
        description: a key given twice
        job: {files: 10}
        expect:
          - database: {loaded_exactly_once: all}
        job: {files: 20}
        """,
    )
    problem = only(path)
    assert (problem.line, problem.column, problem.field) == (6, 1, "job")
    assert "given twice (first at line 3)" in problem.message


def test_empty_file_and_wrong_top_level(tmp_path: Path) -> None:
    empty = write(tmp_path, "# nothing\n", "empty.yaml")
    assert str(only(empty)) == f"{empty}:1:1: the file is empty; a scenario is a mapping"
    listed = write(tmp_path, "- name: x\n", "list.yaml")
    assert str(only(listed)) == f"{listed}:1:1: expected a mapping, got a list"


def test_a_dead_letter_for_an_error_the_worker_reports_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: reported-not-dead-lettered
        description: a wrong table name is a logical error, reported by default, so never dead-lettered
        job: {files: 4}
        faults:
          - {function: worker, kind: bad_table}
        expect:
          - dlq: {count: 1}
        """,
    )
    problem = only(path)
    assert (problem.line, problem.field) == (7, "expect[0].dlq.count")
    assert "reports a logical error (bad_table) as JOB FAILED" in problem.message
    assert "on_error.logical: raise" in problem.message
    # Under "when in doubt, throw" the same file is valid.
    policy = "\nstack: {worker: {on_error: {logical: raise}}}"
    raised = path.read_text().replace("job: {files: 4}", "job: {files: 4}" + policy)
    path.write_text(raised)
    assert load_scenario(path).stack.worker.on_error.logical == "raise"


def test_a_deployment_error_cannot_target_files_or_attempts(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: targeted-deploy
        description: a broken deployment breaks every invocation
        job: {files: 4}
        faults:
          - {function: worker, kind: import_error, files: [f-0001], attempts: [1]}
        expect:
          - database: {loaded_exactly_once: none}
        """,
    )
    found = problems(path)
    assert [problem.field for problem in found] == ["faults[0].files", "faults[0].attempts"]
    assert "a deployment error strikes every invocation" in found[0].message


def test_a_depth_limited_quarantine_is_accepted_but_not_a_file_loaded_before_the_timeout(tmp_path: Path) -> None:
    text = """
        name: depth-limit
        description: f-0005 times out; max_reshard_depth 1 quarantines the rest of its half, not f-0004
        stack: {worker: {timeout_seconds: 1}, max_reshard_depth: 1}
        job: {files: 8, shard_size: 8}
        faults:
          - {function: worker, kind: timeout, files: [f-0005]}
        expect:
          - reshard: {quarantined: [QUARANTINED]}
        """
    accepted = write(tmp_path, text.replace("QUARANTINED", "f-0005, f-0006, f-0007"))
    assert load_scenario(accepted).expect[0].quarantined == ["f-0005", "f-0006", "f-0007"]
    loaded = write(tmp_path, text.replace("QUARANTINED", "f-0004, f-0005"), name="loaded.yaml")
    problem = only(loaded)
    assert problem.field == "expect[0].reshard.quarantined[0]"
    assert problem.message.startswith(
        "file 'f-0004' cannot be quarantined: the error handler quarantines f-0005, f-0006"
    )


def test_a_job_the_orchestrator_cannot_shard_in_its_timeout_names_the_limit_and_the_setting(tmp_path: Path) -> None:
    text = """
        name: huge-job
        description: 100,000 shards for one orchestrator invocation
        {stack}
        job: {{files: 100000, shard_size: 1}}
        expect:
          - database: {{loaded_exactly_once: all}}
        """
    problem = only(write(tmp_path, text.format(stack="")))
    assert (problem.line, problem.field) == (4, "job.files")
    assert problem.message == (
        "100000 files in shards of 1 make 100000 worker invokes, more than the orchestrator can make in its 60 s "
        "timeout (at most about 1000 a second): raise stack.orchestrator.timeout_seconds (up to 900; at least "
        "100) or job.shard_size (up to stack.max_shard_size, 100), or use fewer files"
    )
    # The setting it names is the one that lifts the limit.
    load_scenario(write(tmp_path, text.format(stack="stack: {orchestrator: {timeout_seconds: 100}}"), "raised.yaml"))


def test_a_job_event_over_the_async_payload_limit_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: huge-async-job
        description: the orchestrator invoked asynchronously with 1.1 MB
        stack: {orchestrator: {timeout_seconds: 900}}
        job: {files: 100000, invocation: event}
        expect:
          - database: {loaded_exactly_once: all}
        """,
    )
    problem = only(path)
    assert (problem.line, problem.field) == (4, "job.files")
    assert problem.message.startswith("the job event of 100000 files is 1,100,")
    assert "bytes, over the 783,360 bytes an async invoke carries on LocalStack (AWS: 1 MB)" in problem.message
    assert "no setting raises it: use job.invocation: sync" in problem.message


def test_a_worker_event_over_the_async_payload_limit_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: huge-shard
        description: one shard of 90,000 files is one asynchronous worker invoke of almost 1 MB
        stack: {max_shard_size: 100000}
        job: {files: 90000, shard_size: 90000}
        expect:
          - database: {loaded_exactly_once: all}
        """,
    )
    problem = only(path)
    assert (problem.line, problem.field) == (4, "job.shard_size")
    assert problem.message.startswith("a shard of 90000 files is a worker event of 990,")
    assert "bytes, over the 783,360 bytes an async invoke carries" in problem.message


def test_bad_field_on_the_error_handler_is_refused_for_it_has_no_column_setting(tmp_path: Path) -> None:
    from harness.format.faults import KINDS

    # A "wrong field" fault changes a column setting, never a table name.
    assert all(variable.endswith("_COLUMN") for variable in (KINDS["bad_field"].overrides or {}).values())
    path = write(
        tmp_path,
        """
        name: bad-field-error-handler
        description: the error handler writes no configurable column
        job: {files: 4}
        faults:
          - {function: error_handler, kind: bad_field}
        expect:
          - database: {loaded_exactly_once: all}
        """,
    )
    problem = only(path)
    assert (problem.line, problem.column, problem.field) == (5, 16, "faults[0].function")
    assert problem.message == (
        "error_handler has no setting for a column it writes (its SQL spells its columns), so bad_field has "
        "nothing to break there; kind: bad_table gives it a wrong table name"
    )


def test_a_file_that_is_not_utf8_points_at_the_first_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    # Line 3 holds a UTF-8 "ï" (two bytes, one column), then a Latin-1 "é" (0xe9) that UTF-8 cannot decode.
    path.write_bytes(b"name: latin\r\njob: {files: 2}\r\ndescription: na\xc3\xafve caf\xe9\r\n")
    problem = only(path)
    assert (problem.line, problem.column) == (3, 23)
    assert problem.message == (
        "not UTF-8: byte 0xe9 cannot be decoded (invalid continuation byte); save the file as UTF-8"
    )
