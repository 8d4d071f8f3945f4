"""The harness's routes on LocalStack's gateway (`harness.wire` states them and their JSON).

Runs inside the LocalStack process; added to LocalStack's router by `harness.localstack.patches.install`.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from typing import Any

from harness import wire
from harness.localstack import clock, control_plane, retries, taps
from harness.localstack.executor import injection


def _reply(body: Any, status: int = 200) -> Any:
    from rolo import Response

    return Response(json.dumps(body), status=status, mimetype="application/json")


def _empty() -> Any:
    from rolo import Response

    return Response(status=204)


def _where(request: Any) -> tuple[str, str]:
    return (request.args.get("account", wire.DEFAULT_ACCOUNT), request.args.get("region", wire.DEFAULT_REGION))


def faults(request: Any, function: str) -> Any:
    if request.method == "GET":
        found = injection.registration(function)
        return _reply(found) if found is not None else _reply({"error": f"no plan for {function}"}, 404)
    if request.method == "DELETE":
        injection.unregister(function)
        return _empty()
    try:
        injection.register(function, json.loads(request.get_data() or b"null"))
    except (ValueError, injection.RegistrationError) as error:
        return _reply({"error": str(error)}, 400)
    return _empty()


def stacks(request: Any, name: str) -> Any:
    name = urllib.parse.unquote(name)  # the router leaves an encoded slash (%2F) encoded
    if request.method == "PUT":
        clock.register(name)
        taps.register(name)
        return _empty()
    if request.method == "DELETE":
        taps.forget(name)
        clock.forget(name)
        if request.args.get("discard"):  # and its functions' environments: LocalStack ends with the run
            account, region = _where(request)
            if not control_plane.stop_functions(account, region, name):
                return _reply({"error": "an event source mapping feeds a function of the stack"}, 409)
            injection.unregister_stack(name)  # with its functions' fault plans
        return _empty()
    try:
        wait_s = min(float(request.args.get("wait", "0")), wire.STACK_WAIT_MAX_S)
    except ValueError:
        return _reply({"error": "wait: give seconds"}, 400)
    account, region = _where(request)
    deadline = time.monotonic() + wait_s
    while True:
        status = control_plane.stack_status(account, region, name)
        if status is None or not status.endswith("_IN_PROGRESS") or time.monotonic() >= deadline:
            break
        time.sleep(control_plane.STORE_POLL_S)
    return _reply({"status": status})


def stack_clock(request: Any, prefix: str) -> Any:
    account, region = _where(request)
    if request.method == "GET":
        if "idle_within" in request.args:
            try:
                clock.wait_idle(prefix, min(float(request.args["idle_within"]), wire.STACK_WAIT_MAX_S))
            except ValueError:
                return _reply({"error": "idle_within: give seconds"}, 400)
        # The count first, then the taps: a message delivered before the count said idle is in a tap.
        found: dict[str, Any] = clock.state(prefix)
        found["waiting"] = taps.waiting(prefix, account, region)
        found["retries"] = retries.released(prefix)
        return _reply(found)
    try:
        body = json.loads(request.get_data() or b"{}")
        until = float(body["until"]) if "until" in body else clock.now_of(prefix) + float(body["seconds"])
    except (ValueError, KeyError, TypeError) as error:
        return _reply({"error": f'give {{"until": <epoch seconds on the stack\'s clock>}}: {error}'}, 400)
    try:
        return _reply(clock.advance(prefix, until, stop_at_change=bool(body.get("stop_at_change"))))
    except clock.Busy as error:
        return _reply({"busy": error.reasons}, 409)
    except clock.UnknownStack:
        return _reply({"error": f"no stack {prefix} is registered (PUT {wire.STACKS}/{prefix} first)"}, 404)


def health(request: Any) -> Any:
    from harness.localstack import patches

    return _reply(patches.health())


def install() -> None:
    from localstack.services.edge import ROUTER

    ROUTER.add(f"{wire.FAULTS}/<function>", endpoint=faults, methods=["GET", "PUT", "DELETE"])
    ROUTER.add(f"{wire.STACKS}/<path:name>", endpoint=stacks, methods=["GET", "PUT", "DELETE"])
    ROUTER.add(f"{wire.CLOCK}/<prefix>", endpoint=stack_clock, methods=["GET", "POST"])
    ROUTER.add(wire.HEALTH, endpoint=health, methods=["GET"])
