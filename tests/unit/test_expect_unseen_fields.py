"""`count: 0` on a source whose fields nothing states before deploy (a template's queues and topics, dead
letters) cannot hold by construction: a selection by a field that no message there carried fails, naming the
field at its line and column, with a did-you-mean from the fields the messages did carry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.expect import Report
from harness.kinds.unseen import absence_problems
from harness.records import Message
from tests.support.fakes import FakeObservations, evaluate_scripted, scenario_from_yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "order-handler" / "template.yaml"
FUNCTION = "OrderHandlerFunction"
ORDER = {"order_id": "o-1", "sku": "SKU-1", "quantity": 0, "customer": {"name": "Ada", "tier": "gold"}}
Script = Callable[[FakeObservations], object]


def evaluate(tmp_path: Path, expectation: str, script: Script) -> Report:
    """`expectation`, the scenario file's line 7, on an invalid order's invocation scripted by `script`."""
    scenario = scenario_from_yaml(
        f"""\
name: unseen-fields
description: An invalid order fails three attempts and is dead-lettered.
template: {TEMPLATE}
invoke: {{function: {FUNCTION}, event: {{order_id: o-1, sku: SKU-1, quantity: 0}}, invocation: event}}
expect:
  - attempts: {{function: {FUNCTION}, invocations: 1, attempts_each: 3}}
  - {expectation}
""",
        tmp_path,
    )
    report, _, _ = evaluate_scripted(scenario, script)
    return report


def dead_lettered(observations: FakeObservations) -> None:
    end = observations.add_invocation(FUNCTION, ORDER, ["error"] * 3, at=0.1, request_id="r1")
    observations.add_message("OrderDeadLetterQueue", ORDER, at=end + 0.1,
                             attributes={"RequestID": "r1", "ErrorCode": "200", "ErrorMessage": "InvalidOrder"})


def nothing_arrived(observations: FakeObservations) -> None:
    observations.add_invocation(FUNCTION, ORDER, ["error"] * 3, at=0.1, request_id="r1")


def outcome(report: Report) -> tuple[bool, str, str]:
    """The verdict on the expectation under test (the second): passed, where, what was observed."""
    verdict = report.outcomes[1]
    return verdict.passed, verdict.location, verdict.observed


def column_of(key: str, expectation: str) -> int:
    """The 1-based column of `key` in line 7 (`  - <expectation>`)."""
    return f"  - {expectation}".index(key) + 1


@pytest.mark.parametrize(
    ("expectation", "key", "complaint"),
    [
        ("sqs: {queue: OrderDeadLetterQueue, count: 0, fields: {order_idd: o-2}}", "order_idd",
         "no message on queue OrderDeadLetterQueue had field 'order_idd'; did you mean 'order_id'? "
         "(their fields: customer, order_id, quantity, sku); it selects nothing, so `count: 0` would hold "
         "whatever arrived"),
        ("sqs: {queue: OrderDeadLetterQueue, count: 0, field_patterns: {skuu: '^X'}}", "skuu",
         "had field 'skuu'; did you mean 'sku'?"),
        ("sqs: {queue: OrderDeadLetterQueue, count: 0, fields: {customer.nmae: Bob}}", "customer.nmae",
         "had field 'customer.nmae'; did you mean 'customer.name'? (their fields under customer: name, tier)"),
        ("dlq: {function: OrderHandlerFunction, count: 0, fields: {order_idd: o-2}}", "order_idd",
         "no message on the dead-letter target OrderDeadLetterQueue of OrderHandlerFunction had field "
         "'order_idd'; did you mean 'order_id'?"),
    ],
)
def test_a_field_no_message_carried_fails_at_its_line_with_a_did_you_mean(
        tmp_path: Path, expectation: str, key: str, complaint: str) -> None:
    passed, location, observed = outcome(evaluate(tmp_path, expectation, dead_lettered))
    assert not passed
    assert complaint in observed, observed
    assert location == f"{tmp_path / 'scenario.yaml'}:7:{column_of(key, expectation)}"


@pytest.mark.parametrize(
    "expectation",
    [
        "sqs: {queue: OrderDeadLetterQueue, count: 0, fields: {order_id: o-2}}",
        "sqs: {queue: OrderDeadLetterQueue, count: 0, field_patterns: {sku: '^X'}, fields: {customer.tier: silver}}",
        "dlq: {function: OrderHandlerFunction, count: 0, fields: {order_id: o-2}}",
        "sqs: {queue: AcceptedOrdersQueue, count: 0}",
    ],
)
def test_a_field_the_messages_carry_with_another_value_passes(tmp_path: Path, expectation: str) -> None:
    report = evaluate(tmp_path, expectation, dead_lettered)
    assert report.passed, report.render()


def test_a_field_that_one_message_of_several_carried_is_a_field_of_the_source(tmp_path: Path) -> None:
    def two_shapes(observations: FakeObservations) -> None:
        dead_lettered(observations)
        observations.add_message("OrderDeadLetterQueue", {"batch": ["o-7"]}, at=5.0)

    expectation = "sqs: {queue: OrderDeadLetterQueue, count: 0, fields: {batch.0: o-1, order_id: o-2}}"
    report = evaluate(tmp_path, expectation, two_shapes)
    assert report.passed, report.render()


def test_with_no_message_at_all_a_selection_fails_and_a_bare_count_0_passes(tmp_path: Path) -> None:
    expectation = "sqs: {queue: OrderDeadLetterQueue, count: 0, fields: {order_id: o-2}}"
    passed, location, observed = outcome(evaluate(tmp_path, expectation, nothing_arrived))
    assert not passed
    assert observed.startswith(
        "no message arrived on queue OrderDeadLetterQueue, so field 'order_id' cannot be told from a misspelling"
    ), observed
    assert "expect `count: 0` without fields (no message at all)" in observed
    assert location.endswith(f":7:{column_of('order_id', expectation)}")
    assert evaluate(tmp_path, "sqs: {queue: OrderDeadLetterQueue, count: 0}", nothing_arrived).passed


def test_an_exact_or_least_count_is_not_what_this_is_about(tmp_path: Path) -> None:
    # It fails already (nothing matches), and says so in its own words: no second complaint.
    report = evaluate(tmp_path, "sqs: {queue: OrderDeadLetterQueue, count: 1, fields: {order_idd: o-1}}",
                      dead_lettered)
    passed, _, observed = outcome(report)
    assert not passed and "0 matching, expected exactly 1" in observed and "did you mean" not in observed


def alerts(*subjects: str | None) -> Script:
    def script(observations: FakeObservations) -> None:
        dead_lettered(observations)
        for index, subject in enumerate(subjects):
            observations.add_message("AlertsTopic", {"note": "from the code"}, at=5.0 + index, subject=subject)

    return script


@pytest.mark.parametrize(
    ("subjects", "subject", "complaint"),
    [
        (("Order Failed",), "ORDER FAILED",
         "no message on topic AlertsTopic had subject 'ORDER FAILED'; did you mean 'Order Failed'?"),
        ((None,), "Order Failed", "no message on topic AlertsTopic had a subject, so subject 'Order Failed'"),
        ((), "Order Failed", "no message arrived on topic AlertsTopic, so subject 'Order Failed' cannot be told"),
        (("Order Failed",), "Order Retried", None),  # a subject is a value: another may be what must not come
    ],
)
def test_a_subject_no_message_could_carry_fails(
        tmp_path: Path, subjects: tuple[str | None, ...], subject: str, complaint: str | None) -> None:
    expectation = f"sns: {{topic: AlertsTopic, subject: {subject}, count: 0, within_seconds: 30}}"
    passed, location, observed = outcome(evaluate(tmp_path, expectation, alerts(*subjects)))
    assert passed is (complaint is None), observed
    if complaint:
        assert complaint in observed, observed
        assert location.endswith(f":7:{column_of('subject', expectation)}")


def test_several_unseen_fields_are_each_named(tmp_path: Path) -> None:
    expectation = "sqs: {queue: OrderDeadLetterQueue, count: 0, fields: {order_idd: o-2, qty: 1, sku: S}}"
    _, _, observed = outcome(evaluate(tmp_path, expectation, dead_lettered))
    assert "field 'order_idd'; did you mean 'order_id'?" in observed and "field 'qty'" in observed
    assert "field 'sku'" not in observed


def test_bodies_that_are_not_json_objects_have_no_fields() -> None:
    messages = [Message("Q", None, "plain text", {}, 1.0)]
    ((at, why),) = absence_problems("queue Q", messages, {"fields": ["order_id"]})
    assert at == ("fields", "order_id")
    assert why == "no message on queue Q had field 'order_id' (no message there is a JSON object); it selects " \
                  "nothing, so `count: 0` would hold whatever arrived"
