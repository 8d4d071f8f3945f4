"""What LocalStack recomputes for every request, computed once; what it copies for no reader, not copied.

LocalStack 2026.3's gateway builds a new request parser for every request it parses
(`ServiceRequestParser.parse_and_enrich` calls `create_parser`). For a REST service (Lambda, whose every
invoke is a request) that compiles the service's whole werkzeug routing map each time: 9% of LocalStack's
CPU in `make run`, measured with py-spy (`--gil`), on a process that the GIL keeps to one core. A parser holds
only its service model and that map, both read-only once built, so one parser per service model and protocol
serves every request. Runs inside the LocalStack process; installed by `harness.localstack.patches`.
"""

from __future__ import annotations

import threading
from typing import Any

_PARSERS: dict[tuple[int, str | None], tuple[Any, Any]] = {}
"""(id of the service model, protocol) -> (the service model, kept so that its id is not reused; its parser)."""
_LOCK = threading.Lock()


def parser_for(service: Any, protocol: str | None) -> Any:
    """The one parser of `service` for `protocol`, made the first time it is asked for."""
    from localstack.aws.protocol.parser import create_parser

    key = (id(service), protocol)
    found = _PARSERS.get(key)
    if found is None:
        with _LOCK:
            found = _PARSERS.get(key)
            if found is None:
                found = _PARSERS[key] = (service, create_parser(service, protocol))
    return found[1]


def parse_and_enrich(original: Any, self: Any, context: Any) -> None:
    """`ServiceRequestParser.parse_and_enrich` with the service's one parser (the body is LocalStack's)."""
    operation, instance = parser_for(context.service, context.protocol).parse(context.request)
    context.operation = operation
    context.service_request = instance


def save_runtime_cache(original: Any, self: Any) -> None:
    """`ChangeSetModelPreproc._save_runtime_cache` with shallow copies of the visitor's caches.

    LocalStack saves each visitor's resolved values on the change set's update model, keyed by the visitor's
    class, and deep-copies them to do it: 7% of LocalStack's CPU in `make run` (py-spy, `--gil`), three
    copies per deploy. The next change set of the stack (an update, the delete) starts from the executor's
    saved values; the visitor that saved them has ended, so nothing changes them in between, and a new dict
    keeps the saved entries apart from any the next pass adds."""
    key = type(self).__name__
    model = self._change_set.update_model
    model.before_runtime_cache[key] = dict(self._before_cache)
    model.after_runtime_cache[key] = dict(self._after_cache)


class LambdaLogClients:
    """`connect_to` as Lambda's log handler sees it (`localstack.services.lambda_.invocation.logs`): one
    CloudWatch Logs client per account and region, shared by every function's handler.

    LocalStack starts a log handler per function version, and each assumed the function's role (an STS
    request) and made a new client with those credentials: a fifth of LocalStack's CPU in a run of deploys
    (py-spy, `--gil`), three per stack. The logs go to the role's account and the function's region, as
    before; LocalStack checks no IAM policy, so whose credentials write them changes nothing it does."""

    def __init__(self) -> None:
        self._made: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    def with_assumed_role(self, *, role_arn: str, region_name: str | None = None, **_: Any) -> Any:
        from localstack.aws.connect import connect_to

        key = (role_arn.split(":")[4], region_name)
        with self._lock:
            if key not in self._made:
                self._made[key] = connect_to(region_name=region_name, aws_access_key_id=key[0],
                                             aws_secret_access_key="test")
            return self._made[key]


class ValidRegions:
    """`get_valid_regions_for_service` with one endpoint resolver for every service.

    LocalStack asks it once per service (a service's first store, in any account). It made a new boto3
    session each time, which parsed botocore's endpoints data again, and the service's whole model for its
    endpoint prefix: 50-230 ms per service, 41% of LocalStack's CPU in a first deploy (py-spy, `--gil`). Here
    the endpoints data is parsed once, and the prefix is read from the model LocalStack's gateway has loaded
    for the service anyway (`localstack.aws.spec.load_service`, cached). The regions are the same."""

    def __init__(self) -> None:
        self._regions: dict[str, list[str]] = {}
        self._resolver: Any = None
        self._lock = threading.Lock()

    def __call__(self, service_name: str) -> list[str]:
        with self._lock:
            if service_name not in self._regions:
                self._regions[service_name] = self._lookup(service_name)
            return list(self._regions[service_name])

    def _lookup(self, service_name: str) -> list[str]:
        from botocore.exceptions import UnknownServiceError
        from botocore.loaders import create_loader
        from botocore.regions import EndpointResolver
        from localstack.aws.spec import load_service

        if self._resolver is None:
            self._resolver = EndpointResolver(create_loader().load_data("endpoints"))

        def regions_of(service: str, partition: str) -> list[str]:
            try:
                prefix = load_service(service).metadata.get("endpointPrefix", service)
            except UnknownServiceError:
                return []
            return list(self._resolver.get_available_endpoints(prefix, partition, False))

        regions = regions_of(service_name, "aws")
        for partition in self._resolver.get_available_partitions():
            if partition != "aws":  # LocalStack's rule: another partition's regions are CloudWatch's there
                regions.extend(regions_of("cloudwatch", partition))
        return regions


def patches() -> list[Any]:
    """This module's patches, for `harness.localstack.patches.patch_list`."""
    from localstack.aws.handlers.service import ServiceRequestParser
    from localstack.services import stores
    from localstack.services.cloudformation.engine.v2.change_set_model_preproc import ChangeSetModelPreproc
    from localstack.services.lambda_.invocation import logs
    from localstack.services.s3 import provider as s3_provider
    from localstack.utils.aws import aws_stack
    from localstack.utils.patch import Patch

    regions = ValidRegions()
    return [Patch.function(ServiceRequestParser.parse_and_enrich, parse_and_enrich),
            Patch.function(ChangeSetModelPreproc._save_runtime_cache, save_runtime_cache),
            Patch(logs, "connect_to", LambdaLogClients()),
            *(Patch(module, "get_valid_regions_for_service", regions) for module in (aws_stack, stores, s3_provider))]
