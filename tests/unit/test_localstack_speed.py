"""One request parser per service model and protocol (`harness.localstack.speed`), where LocalStack builds one
per request: the same parser answers every request, and it parses as a new one does."""

from __future__ import annotations

from localstack.aws.spec import load_service
from rolo import Request

from harness.localstack import speed


def test_a_service_gets_one_parser_and_it_parses_as_a_fresh_one() -> None:
    from localstack.aws.protocol.parser import create_parser

    lam = load_service("lambda")
    first, again = speed.parser_for(lam, None), speed.parser_for(lam, None)
    assert first is again
    assert speed.parser_for(load_service("sqs"), None) is not first
    request = Request("POST", "/2015-03-31/functions/f/invocations", body=b"{}",
                      headers={"X-Amz-Invocation-Type": "Event"})
    cached_operation, cached_params = first.parse(request)
    fresh_operation, fresh_params = create_parser(lam).parse(request)
    assert cached_operation.name == fresh_operation.name == "Invoke"
    assert cached_params == fresh_params and cached_params["InvocationType"] == "Event"
