"""Fault-injection wrapper, packaged into a function's zip as ``harness_fault_wrapper.py``.

The function is deployed with ``harness_fault_wrapper.handler`` as its handler and its own handler in
``HARNESS_ORIGINAL_HANDLER``; its code is not edited. Each invocation:

1. counts its attempt (Lambda does not tell a function which attempt it is, and a retry may land in a
   fresh process, so the count lives in the database: one ledger row per attempt, keyed by request ID);
2. decides from the fault plan in ``HARNESS_FAULTS`` (JSON) whether this attempt gets a fault;
3. records the attempt and its fault in the ledger, then breaks or calls the real handler.

A broken deployment (``import_error``, ``missing_handler``) fails the init instead, while the runtime loads
this module: no attempt reaches the handler. When the executor runs init again for a request (after a
failed init), it names the request in ``HARNESS_INIT_REQUEST``, and the init records that attempt.

This file runs inside Lambda: it imports nothing of the harness package, only the standard library,
pg8000, the seed pipeline's URL parsing and the fault plan module (``harness/faults/plan.py``, shipped
as ``harness_fault_plan.py``) that ship in the same zip.
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import time
import urllib.request

import harness_fault_plan as fault_plan

_original = None
_ledger = None


def _real_handler():
    global _original
    if _original is None:
        module_name, _, function_name = os.environ["HARNESS_ORIGINAL_HANDLER"].rpartition(".")
        _original = getattr(importlib.import_module(module_name), function_name)
    return _original


def _ledger_connection():
    global _ledger
    if _ledger is None:
        import pg8000.native
        from pipeline_common.database import connection_params

        _ledger = pg8000.native.Connection(**connection_params(os.environ["HARNESS_LEDGER_URL"]))
    return _ledger


def _ledger_table() -> str:
    schema, table = os.environ["HARNESS_LEDGER_TABLE"].split(".", 1)
    return f'"{schema}"."{table}"'


def _runs_table() -> str:
    schema, _ = os.environ["HARNESS_LEDGER_TABLE"].split(".", 1)
    return f'"{schema}"."harness_runs"'


def _shard_of(event) -> tuple[str | None, list[str]]:
    """The shard ID and file IDs an event carries: a job, a shard, or SNS records holding shards."""
    if isinstance(event, dict):
        if isinstance(event.get("file_ids"), list):
            shard = event.get("shard_id") or event.get("job_id")
            return (str(shard) if shard is not None else None), [str(f) for f in event["file_ids"]]
        records = event.get("Records")
        if isinstance(records, list):
            shard, files = None, []
            for record in records:
                try:
                    inner = json.loads(record["Sns"]["Message"])
                except (KeyError, TypeError, ValueError):
                    continue
                inner_shard, inner_files = _shard_of(inner)
                shard = shard or inner_shard
                files.extend(inner_files)
            return shard, files
    return None, []


def _run_of(request_id: str) -> tuple[int, int]:
    """(attempts the ledger has of this request, the run it belongs to).

    The run is the latest one started when the request's first attempt came (runs never overlap: the
    harness submits a run once the previous one has settled), so a retry belongs to its first attempt's run.
    """
    [[previous, first_run, current_run]] = _ledger_connection().run(
        f"SELECT count(*), min(run), (SELECT coalesce(max(run), 1) FROM {_runs_table()}) "
        f"FROM {_ledger_table()} WHERE request_id = :rid AND function = :fn",
        rid=request_id, fn=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
    )
    return int(previous), int(first_run if first_run is not None else current_run)


def _attempt_started_at() -> float:
    """Now, taken as the handler is entered, before the ledger's queries (the first opens its connection)."""
    return time.time()


def _record_attempt(request_id: str, attempt_event, shard_id, file_ids,
                    started: float | None = None) -> tuple[int, int, int]:
    """(attempt number, ledger row ID, run of the job) for this invocation attempt, started at `started`."""
    started = time.time() if started is None else started
    previous, run = _run_of(request_id)
    attempt = previous + 1
    [[row_id]] = _ledger_connection().run(
        f"INSERT INTO {_ledger_table()} (function, request_id, attempt, shard_id, file_ids, event, started_at, run) "
        "VALUES (:fn, :rid, :attempt, :shard, CAST(:files AS jsonb), CAST(:event AS jsonb), :t, :run) RETURNING id",
        fn=os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""), rid=request_id, attempt=attempt, shard=shard_id,
        files=json.dumps(file_ids), event=json.dumps(attempt_event), t=started, run=run,
    )
    return attempt, row_id, run


def _set_fault(row_id: int, kind: str) -> None:
    _ledger_connection().run(f"UPDATE {_ledger_table()} SET fault = :kind WHERE id = :id", kind=kind, id=row_id)


def _finish(row_id: int, outcome: str) -> None:
    _ledger_connection().run(
        f"UPDATE {_ledger_table()} SET outcome = :outcome, ended_at = :t WHERE id = :id",
        outcome=outcome, t=time.time(), id=row_id,
    )


def _exception(spec: dict) -> BaseException:
    cls = getattr(builtins, spec.get("type", "RuntimeError"), None)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        cls = type(spec.get("type", "RuntimeError"), (Exception,), {})
    return cls(spec.get("message", "injected fault"))


def _clock_sleep(seconds: float) -> None:
    """Wait `seconds` on the stack's clock, which the harness's Runtime API serves: the invocation runs no code
    meanwhile, so the clock may skip the wait (a 900 s Timeout costs no waiting). Elsewhere, a real sleep."""
    api = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if api:
        request = urllib.request.Request(f"http://{api}/_harness/sleep", method="POST",
                                         data=json.dumps({"seconds": seconds}).encode())
        try:
            with urllib.request.urlopen(request, timeout=None) as response:  # noqa: S310 (the sandbox's own API)
                response.read()
            return
        except OSError:
            pass  # not the harness's Runtime API
    time.sleep(seconds)


def _break(fault: dict, context) -> None:
    kind = fault["kind"]
    if kind == "timeout":
        # Outlive the function's Timeout on the stack's clock; the sandbox kills us before this returns.
        _clock_sleep(context.get_remaining_time_in_millis() / 1000 + 60)
    elif kind == "latency":
        # A slow dependency: wait on the stack's clock, then go on (past the Timeout, the sandbox kills us).
        _clock_sleep(float(fault.get("seconds", 0)))
    elif kind == "exception":
        raise _exception(fault.get("exception") or {})
    elif kind == "crash":
        # The runtime process exits in the middle of the invocation, as a segfault or sys.exit would.
        os._exit(int(fault.get("exit_status", 1)))
    elif kind == "out_of_memory":
        hoard = []
        while True:
            block = bytearray(32 * 1024 * 1024)
            block[::4096] = b"x" * len(block[::4096])
            hoard.append(block)


def _deployment_error(fault: dict) -> BaseException:
    """What the Python runtime reports when a deployment is broken, in its own types and words, naming the
    function's own handler: AWS's runtime client raises these while it loads the configured handler, and so
    does the wrapper, which is the configured handler here, while it is loaded (`_fail_init`)."""
    module, _, function = os.environ["HARNESS_ORIGINAL_HANDLER"].rpartition(".")
    if fault["kind"] == "import_error":
        kind, message = "Runtime.ImportModuleError", (
            f"Unable to import module '{module}': No module named '{fault.get('missing_module', 'missing_module')}'"
        )
    else:
        kind, message = "Runtime.HandlerNotFound", f"Handler '{function}' missing on module '{module}'"
    try:
        from awslambdaric.lambda_runtime_exception import FaultException
    except ImportError:  # another runtime client: an exception whose type name is AWS's error type
        return type(kind, (Exception,), {})(message)
    return FaultException(kind, message, None)


def _init_request() -> tuple[str, object] | None:
    """The request whose invocation runs this init again (Lambda's init inside the invoke phase, after a failed
    one), as the executor hands it over (`injection.for_request`); None for an environment's own init."""
    path = os.environ.get("HARNESS_INIT_REQUEST")
    if not path:
        return None
    with open(path, encoding="utf-8") as found:
        request = json.load(found)
    return str(request["request_id"]), request["event"]


def _current_run() -> int:
    [[run]] = _ledger_connection().run(f"SELECT coalesce(max(run), 1) FROM {_runs_table()}")
    return int(run)


def _init_fault() -> dict | None:
    """The broken deployment this init meets (`fault_plan.init_fault`), or None.

    An environment's own init belongs to the run being made. An init run again for a request (after a failed
    one) belongs to the request's run, and it is that request's attempt: recorded in the ledger, failed here,
    before the handler, as on AWS, where such an attempt never reaches the code."""
    plan = json.loads(os.environ.get("HARNESS_FAULTS") or "[]")
    if not any(entry.get("at_init") for entry in plan):
        return None
    request = _init_request()
    if request is None:
        index = fault_plan.init_fault(plan, _current_run())
        return None if index is None else plan[index]
    request_id, event = request
    started = _attempt_started_at()
    index = fault_plan.init_fault(plan, _run_of(request_id)[1])
    if index is None:
        return None
    shard_id, file_ids = _shard_of(event)
    _, row_id, _ = _record_attempt(request_id, event, shard_id, file_ids, started)
    _set_fault(row_id, plan[index]["kind"])
    _finish(row_id, "error")
    return plan[index]


def _fail_init(fault: dict) -> None:
    """Fail the runtime's init as a broken deployment does: the runtime client catches the error raised while
    it loads the handler, posts it to /runtime/init/error and exits (awslambdaric's `bootstrap.run`)."""
    if fault["kind"] == "missing_handler":
        importlib.import_module(os.environ["HARNESS_ORIGINAL_HANDLER"].rpartition(".")[0])  # the module loads
    raise _deployment_error(fault)


def _patched(module, attribute: str, fault: dict, context):
    """Replace ``module.attribute`` (e.g. the worker's file reader) with one that breaks on targeted
    files, so the fault strikes inside the function's own error handling, as real bad data would."""
    original = getattr(module, attribute)
    def breaking(*args, **kwargs):
        if fault_plan.strikes_at(fault, args[0] if args else None):
            _break(fault, context)
        return original(*args, **kwargs)

    setattr(module, attribute, breaking)
    return lambda: setattr(module, attribute, original)


def handler(event, context):
    started = _attempt_started_at()
    plan = json.loads(os.environ.get("HARNESS_FAULTS") or "[]")
    shard_id, file_ids = _shard_of(event)
    attempt, row_id, run = _record_attempt(context.aws_request_id, event, shard_id, file_ids, started)
    index = fault_plan.pick(plan, attempt, run, shard_id, file_ids)
    fault = None if index is None else plan[index]
    real = _real_handler()
    overrides, undo, fail_after = {}, None, None
    if fault is not None:
        _set_fault(row_id, fault["kind"])
        if fault.get("after_work"):
            # The handler runs to completion (rows committed, messages published), then the attempt fails:
            # Lambda retries an event whose work is already done.
            fail_after = fault
        elif fault.get("overrides"):
            # A misconfiguration, exactly as an operator would make it (a wrong table or column name, a
            # database that is down): the function's own code runs with it and meets the consequences.
            overrides = dict(fault["overrides"])
        elif fault.get("at_init"):
            # Only in an environment whose init came before the broken deployment: the harness replaces
            # those when one starts (`TemplateStack.mark_run`). Fail as the deployment does, if late.
            print(f"harness: this environment's init came before the {fault['kind']} fault, so it fails at invoke")
            _finish(row_id, "error")
            raise _deployment_error(fault)
        elif fault["kind"] == "bad_input":
            # The function is handed an event it cannot process instead of its own.
            event = {"harness_bad_input": "a malformed event in place of the original one"}
        elif fault.get("inject_at"):
            undo = _patched(importlib.import_module(real.__module__), fault["inject_at"], fault, context)
        else:
            try:
                _break(fault, context)
            except BaseException:
                _finish(row_id, "error")
                raise
    saved = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        result = real(event, context)
    except BaseException:
        _finish(row_id, "error")
        raise
    finally:
        if undo is not None:
            undo()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if fail_after is not None:
        _finish(row_id, "error")
        raise _exception(fail_after.get("exception") or {})
    _finish(row_id, "ok")
    return result


# Import the function's own module now, in Lambda's init phase, as Lambda does with a configured handler:
# its import-time work (boto3, database driver, clients) must not be charged to the first invocation's
# Timeout just because a wrapper stands in front of it. A broken deployment fails this init instead.
if "HARNESS_ORIGINAL_HANDLER" in os.environ:
    _broken = _init_fault()
    if _broken is not None:
        _fail_init(_broken)
    _real_handler()
