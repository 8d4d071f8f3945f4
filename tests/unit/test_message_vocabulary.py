"""The seed pipeline's messages have one vocabulary, `lambdas/common/pipeline_common/messages.py`: the
functions build their messages with it, and a scenario that expects a subject or a field outside it (a
selection that could never match anything) is refused before deploy, with line, column and did-you-mean."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness import paths
from harness.format import catalog
from harness.scenario import load_scenario

from .test_scenario_errors import only, problems, write

messages = paths.pipeline_common("messages")
notify = paths.pipeline_common("notify")

ORDER_HANDLER = Path(__file__).resolve().parents[2] / "examples" / "order-handler"


def test_a_subject_in_the_wrong_case_is_refused_with_the_real_one(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: subject-case
        description: the subject's case is wrong, so the selection matches nothing, ever
        job: {files: 4}
        faults:
          - {function: worker, kind: bad_table}
        expect:
          - sns: {topic: notifications, subject: Job Failed, count: 0}
        """,
    )
    problem = only(path)
    assert (problem.file, problem.line, problem.column) == (str(path), 7, 42)
    assert problem.field == "expect[0].sns.subject"
    assert problem.message == (
        "subject 'Job Failed' is never published on notifications; did you mean 'JOB FAILED'? "
        "(its subjects: JOB SUCCEEDED, JOB FAILED)"
    )


def test_a_misspelt_field_is_refused_with_the_real_one(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: field-typo
        description: the field is misspelt, so the selection matches nothing, ever
        job: {files: 4}
        faults:
          - {function: worker, kind: bad_table}
        expect:
          - sns: {topic: notifications, count: 0, fields: {failure_clas: logical}}
        """,
    )
    problem = only(path)
    assert (problem.line, problem.column) == (7, 66)
    assert problem.field == "expect[0].sns.fields.failure_clas"
    assert problem.message.startswith(
        "field 'failure_clas' is in no message on notifications; did you mean 'failure_class'? (its fields: status, "
    )


def test_field_patterns_and_totals_are_checked_against_their_subject(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: field-of-another-subject
        description: JOB SUCCEEDED has no failure_class; totals of a misspelt field
        job: {files: 4}
        expect:
          - sns:
              topic: notifications
              subject: JOB SUCCEEDED
              count: 1
              field_patterns: {failure_class: logical, summary.files: "4"}
              totals: {rows_insertd: 20}
        """,
    )
    found = problems(path)
    assert [(p.line, p.column, p.field) for p in found] == [
        (9, 39, "expect[0].sns.field_patterns.failure_class"),
        (9, 63, "expect[0].sns.field_patterns.summary.files"),
        (10, 30, "expect[0].sns.totals.rows_insertd"),
    ]
    assert found[0].message.startswith(
        "field 'failure_class' is in no JOB SUCCEEDED message on notifications; only JOB FAILED messages have it "
        "(its fields: status, job_id, "
    )
    assert found[1].message.startswith(
        "field 'summary' (of 'summary.files') is in no JOB SUCCEEDED message on notifications (its fields: "
    )
    assert "did you mean 'rows_inserted'?" in found[2].message


def test_alarm_notifications_and_the_orchestrator_s_answer_have_their_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: alarm-and-answer-typos
        description: CloudWatch's notification and the orchestrator's answer, misspelt
        job: {files: 4}
        expect:
          - sns: {topic: alarms, min_count: 1, fields: {NewStateValu: ALARM}}
          - result: {fields: {shard_cont: 1}, field_patterns: {errorMesage: boom}}
        """,
    )
    found = problems(path)
    assert [(p.line, p.field) for p in found] == [
        (5, "expect[0].sns.fields.NewStateValu"),
        (6, "expect[1].result.fields.shard_cont"),
        (6, "expect[1].result.field_patterns.errorMesage"),
    ]
    assert found[0].message.startswith(
        "field 'NewStateValu' is in no message on alarms; did you mean 'NewStateValue'? (its fields: AlarmName, "
    )
    assert found[1].message.startswith(
        "field 'shard_cont' is in no answer of the orchestrator; did you mean 'shard_count'? (its fields: job_id, "
    )
    assert "did you mean 'errorMessage'?" in found[2].message


def test_the_pipeline_s_own_subjects_and_fields_load(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: right-words
        description: every subject and field the pipeline's messages have
        job: {files: 4, shard_size: 2}
        faults:
          - {function: worker, kind: bad_table, files: [f-0000]}
        expect:
          - sns: {topic: notifications, subject: JOB FAILED, count: 1, fields: {failure_class: logical, status: x}}
          - sns:
              topic: notifications
              subject: JOB FAILED
              count: 0
              fields: {reason: quarantined}
              field_patterns: {loaded_file_ids: x}
          - sns:
              topic: notifications
              subject: JOB SUCCEEDED
              count: 1
              fields: {file_stats.0.rows_inserted: 7}
              totals: {files: 2}
          - sns: {topic: notifications, min_count: 1, field_patterns: {error_message: relation}}
          - sns: {topic: alarms, count: 0, fields: {NewStateValue: ALARM, Trigger.MetricName: Errors}}
          - sns: {topic: dlq, count: 0, fields: {anything: 1}}
          - result: {succeeded: true, fields: {shard_count: 2, errorType: KeyError}}
        """,
    )
    assert load_scenario(path).name == "right-words"


def test_a_template_s_topics_keep_any_subject_and_field(tmp_path: Path) -> None:
    # The example project, its alerts topic named like the seed pipeline's: its own words are not checked.
    project = tmp_path / "order-handler"
    shutil.copytree(ORDER_HANDLER, project, ignore=shutil.ignore_patterns("scenarios"))
    template = project / "template.yaml"
    template.write_text(template.read_text().replace("AlertsTopic", "alarms"))
    path = write(
        tmp_path,
        f"""
        name: template-words
        description: a template's own topic and function answer whatever they answer
        template: {template}
        invoke:
          function: OrderHandlerFunction
          event: {{order_id: o-1, sku: SKU-1, quantity: 1}}
        expect:
          - sns: {{topic: alarms, subject: Job Failed, count: 0, fields: {{failure_clas: logical}}}}
          - result: {{fields: {{shard_cont: 1}}}}
        """,
    )
    assert load_scenario(path).name == "template-words"


def test_the_harness_reads_the_vocabulary_the_functions_publish_with() -> None:
    assert catalog.NOTIFICATION_SUBJECTS == messages.SUBJECTS == (notify.JOB_SUCCEEDED, notify.JOB_FAILED)
    vocabulary = catalog.TOPIC_MESSAGES["notifications"]
    assert vocabulary.fields_of(messages.JOB_SUCCEEDED) == (messages.STATUS, *messages.SHARD_LOADED)
    assert set(messages.SHARD_FAILED) | set(messages.DEAD_LETTER_REPORT) < set(vocabulary.fields_of("JOB FAILED"))
    assert set(messages.JOB_SHARDED) < set(catalog.ORCHESTRATOR_ANSWER_FIELDS)


def test_a_message_is_built_only_from_its_kind_s_fields_in_its_order() -> None:
    assert list(messages.message(messages.FILE_LOADED, rows=3, file_id="f", file_inserted=True, rows_inserted=0)) == [
        "file_id", "rows", "rows_inserted", "file_inserted"
    ]
    with pytest.raises(ValueError, match="not a field of this message: row_count"):
        messages.message(messages.FILE_LOADED, file_id="f", row_count=3)


def test_only_the_pipeline_s_subjects_are_published() -> None:
    with pytest.raises(ValueError, match="not a subject of the pipeline: 'JOB DONE'"):
        notify.publish("arn:aws:sns:us-east-1:000000000000:t", "JOB DONE", {})
