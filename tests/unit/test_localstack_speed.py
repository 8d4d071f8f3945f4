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


def test_a_saved_runtime_cache_keeps_its_entries_apart_from_the_visitors() -> None:
    from types import SimpleNamespace

    model = SimpleNamespace(before_runtime_cache={}, after_runtime_cache={})

    class ChangeSetModelExecutor:  # the name LocalStack keys the saved values by
        _change_set = SimpleNamespace(update_model=model)
        _before_cache = {"Resources/Worker": "before"}
        _after_cache = {"Resources/Worker": "after"}

    visitor = ChangeSetModelExecutor()
    speed.save_runtime_cache(None, visitor)
    assert model.before_runtime_cache == {"ChangeSetModelExecutor": {"Resources/Worker": "before"}}
    assert model.after_runtime_cache == {"ChangeSetModelExecutor": {"Resources/Worker": "after"}}
    visitor._after_cache["Resources/Orchestrator"] = "later"  # a later pass adds to its own, not to the saved
    assert model.after_runtime_cache["ChangeSetModelExecutor"] == {"Resources/Worker": "after"}


def test_lambda_log_handlers_share_one_client_factory_per_account_and_region(monkeypatch) -> None:
    from localstack.aws import connect

    made: list[dict] = []
    monkeypatch.setattr(connect, "connect_to", lambda **params: made.append(params) or object())
    clients = speed.LambdaLogClients()
    role = "arn:aws:iam::{}:role/{}"
    first = clients.with_assumed_role(role_arn=role.format("000000000000", "a"), region_name="us-east-1",
                                      service_principal="lambda")
    again = clients.with_assumed_role(role_arn=role.format("000000000000", "b"), region_name="us-east-1")
    other = clients.with_assumed_role(role_arn=role.format("111111111111", "a"), region_name="us-east-1")
    assert first is again and other is not first
    assert [(p["aws_access_key_id"], p["region_name"]) for p in made] == [("000000000000", "us-east-1"),
                                                                          ("111111111111", "us-east-1")]


def test_valid_regions_are_localstacks_own_and_botocore_endpoints_are_parsed_once(monkeypatch) -> None:
    from botocore import loaders
    from localstack.utils.aws.aws_stack import get_valid_regions_for_service as localstacks

    parsed: list[str] = []
    original = loaders.Loader.load_data

    def counting(self, name: str):
        parsed.append(name)
        return original(self, name)

    monkeypatch.setattr(loaders.Loader, "load_data", counting)
    regions = speed.ValidRegions()
    services = ("s3", "iam", "lambda", "sns", "sqs", "cloudwatch", "logs", "sts", "cloudformation", "no-such")
    ours = {service: regions(service) for service in services}
    # The endpoints data parsed once; each model at most once (LocalStack's cached spec, which its gateway
    # has loaded for the service anyway), where a session per service parsed both for every service.
    assert parsed.count("endpoints") == 1 and len(parsed) == len(set(parsed))
    for service in services:
        regions(service)
    assert parsed.count("endpoints") == 1 and len(parsed) == len(set(parsed))
    monkeypatch.setattr(loaders.Loader, "load_data", original)
    for service in services:
        assert ours[service] == localstacks(service), service
    assert "us-east-1" in ours["lambda"] and "cn-north-1" in ours["lambda"] and ours["no-such"][:1] != ["us-east-1"]
    ours["sqs"].append("mine")  # a caller's list is its own
    assert "mine" not in regions("sqs")
