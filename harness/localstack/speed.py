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


def patches() -> list[Any]:
    """This module's patches, for `harness.localstack.patches.patch_list`."""
    from localstack.aws.handlers.service import ServiceRequestParser
    from localstack.services.cloudformation.engine.v2.change_set_model_preproc import ChangeSetModelPreproc
    from localstack.services.lambda_.invocation import logs
    from localstack.utils.patch import Patch

    return [Patch.function(ServiceRequestParser.parse_and_enrich, parse_and_enrich),
            Patch.function(ChangeSetModelPreproc._save_runtime_cache, save_runtime_cache),
            Patch(logs, "connect_to", LambdaLogClients())]
