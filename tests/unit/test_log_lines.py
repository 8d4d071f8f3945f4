"""Function log lines assigned to ledger attempts (harness.records.lines_by_attempt): an async
retry keeps its request ID, so the k-th invocation started with one request ID is its attempt k."""

from __future__ import annotations

from harness.localstack.executor import lambda_logs
from harness.records import LogLine, lines_by_attempt


def invocation(function: str, stream: str, request_id: str, at: float, body: list[str],
               init: bool = False) -> list[LogLine]:
    text = (lambda_logs.init_start("python3.13") + "module loaded\n" if init else "")
    text += lambda_logs.start_line(request_id) + "".join(f"{line}\n" for line in body)
    text += lambda_logs.end_and_report(request_id, 12.0, 128, 40, 5.0 if init else None)
    return [LogLine(function, stream, at + index * 0.001, line) for index, line in enumerate(text.splitlines())]


def test_retries_of_one_request_are_numbered_in_start_order_across_streams_with_init_lines_kept() -> None:
    lines = [
        *invocation("worker", "env-b", "req-1", 3.0, ["third"]),  # a later attempt, in another environment
        *invocation("worker", "env-a", "req-1", 0.0, ["first"], init=True),
        *invocation("worker", "env-a", "req-2", 0.5, ["other request"]),
        *invocation("worker", "env-a", "req-1", 1.5, ["second"]),
        *invocation("error_handler", "env-c", "req-1", 2.0, ["same id, other function"], init=True),
    ]
    by_attempt = lines_by_attempt(list(reversed(lines)))  # the order CloudWatch returns them in is not relied on
    assert sorted(by_attempt) == [("error_handler", "req-1", 1), ("worker", "req-1", 1), ("worker", "req-1", 2),
                                  ("worker", "req-1", 3), ("worker", "req-2", 1)]
    first = by_attempt[("worker", "req-1", 1)]
    assert first[0].startswith("INIT_START") and first[1] == "module loaded" and "first" in first
    assert first[-1].startswith("REPORT RequestId: req-1")
    assert [block[block.index(next(x for x in block if x.startswith("START"))) + 1]
            for block in (by_attempt[("worker", "req-1", n)] for n in (1, 2, 3))] == ["first", "second", "third"]
    assert "other request" in by_attempt[("worker", "req-2", 1)]
    assert "same id, other function" in by_attempt[("error_handler", "req-1", 1)]
    assert not any("INIT_START" in line for line in by_attempt[("worker", "req-1", 2)])


def test_an_attempt_whose_end_has_not_arrived_yet_keeps_the_lines_so_far() -> None:
    lines = invocation("worker", "env-a", "req-1", 0.0, ["working"])[:2]
    assert lines_by_attempt(lines) == {("worker", "req-1", 1): ["START RequestId: req-1 Version: $LATEST", "working"]}
