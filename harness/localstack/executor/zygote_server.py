"""A runtime's template process: the interpreter of a Lambda runtime with its runtime client and boto3
already imported, which forks one child per execution environment instead of starting a new interpreter.

This file runs under the runtime's own interpreter (``python -S zygote_server.py FD``, the runtime
directory on PYTHONPATH): it imports nothing of the harness package, only the standard library and what
AWS's runtime directory holds. ``harness.localstack.executor.zygote`` starts it and talks to it over one end of a
socket pair (FD), JSON lines; the template ends when the harness closes its end:
  <- {"stdlib": [...], "preloaded": {...}, "stash": {...}}   once, when ready
  -> {"id": N, "argv": [...], "module": "...", "env": {...}, "cwd": "...", "log": "...", "path": [...],
      "stash": true|false}
  <- {"id": N, "pid": PID}                           once the child exists
  <- {"pid": PID, "exit": STATUS}                    when it has ended (Popen's convention: -N for signal N)

The child does what ``python -S -m awslambdaric HANDLER`` would do after the interpreter's start: its own
process group, death with its parent, the environment, the working directory and sys.path
(the code first, then PYTHONPATH, then the standard library), stdout and stderr to the log, then runs
the runtime client as ``__main__``. Modules the template imported (awslambdaric, boto3, botocore and
their dependencies) are already in sys.modules, as they would be after the child imported them itself.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import select
import signal
import socket
import sys

_PR_SET_PDEATHSIG = 1
# Not awslambdaric: it reads its settings from the environment when imported (AWS_LAMBDA_LOG_FORMAT and
# _LEVEL, and its native client the Runtime API's address), so each child imports it with its own. boto3
# and botocore read the environment when a session or client is made, never on import.
PRELOADED = ("boto3", "botocore.session", "botocore.client")


# Set at this interpreter's start when it coerced the C locale (PEP 538): the harness starts it without.
_COERCED_LC_CTYPE = os.environ.get("LC_CTYPE")


def _preload() -> None:
    import importlib

    for name in PRELOADED:
        importlib.import_module(name)
    try:
        _parse_botocore_data()
    except Exception:  # noqa: BLE001 - without it each child parses its data itself, as before
        pass


STASH_VAR = "HARNESS_TEMPLATE_STASH"
"""``FOLDER=MODULE[,MODULE...]``: modules to import from FOLDER and keep out of sys.modules (`_fill_stash`)."""
_STASH: dict[str, object] = {}


def _fill_stash() -> dict[str, list[str]]:
    """Import the modules STASH_VAR names from its folder, then take every module that came from that folder
    out of sys.modules into the stash: a child is given them (`_child`, when asked) as its own import from
    the same folder would make them, and any other child does not see them. This is what the harness's
    fault wrapper imports from its own folder in every runtime of a registered function (pg8000, for the
    attempt ledger: 30 ms of each such cold start). Returns {top-level module: [distribution, version]}."""
    import importlib

    folder, _, names = os.environ.get(STASH_VAR, "").partition("=")
    if not folder or not names:
        return {}
    before = set(sys.modules)
    sys.path.append(folder)
    try:
        try:
            for name in names.split(","):
                importlib.import_module(name)
        finally:  # whatever came from the folder leaves sys.modules, imported or half imported
            root = os.path.realpath(folder) + os.sep
            for name in sorted(set(sys.modules) - before):
                origin = getattr(sys.modules[name], "__file__", None)
                if origin and os.path.realpath(origin).startswith(root):
                    _STASH[name] = sys.modules.pop(name)
        return _distributions({name: module for name, module in _STASH.items() if "." not in name})
    except Exception:  # noqa: BLE001 - without it each such child imports them itself, as before
        _STASH.clear()
        return {}
    finally:
        sys.path.remove(folder)


# botocore's data files a client needs (its endpoints, partitions and defaults, and these services' models),
# parsed once here. A boto3 client's first creation took 45 ms of a cold start's CPU, most of it parsing
# those JSON files and listing botocore's 400 service folders. Each child gets each parsed file at most once,
# as the object its own parse would have made (after the fork its memory is its own); a second load of a
# file, and every file not parsed here, is read from disk as before.
WARM_SERVICES = ("sns", "lambda", "sqs", "s3", "sts", "cloudwatch", "logs", "dynamodb")


def _parse_botocore_data() -> None:
    from botocore import loaders, session

    original_load = loaders.JSONFileLoader.load_file
    original_list = loaders.Loader.list_available_services
    used: list[str] = []
    listings: dict[tuple[tuple[str, ...], str], tuple[tuple[int | None, ...], list[str]]] = {}

    def recording(self: loaders.JSONFileLoader, file_path: str) -> object:
        data = original_load(self, file_path)
        if data is not None:
            used.append(file_path)
        return data

    def listing(self: loaders.Loader, type_name: str) -> list[str]:
        found: list[str] = original_list(self, type_name)
        listings[(tuple(self.search_paths), type_name)] = (_stamps(self.search_paths), list(found))
        return found

    loaders.JSONFileLoader.load_file = recording  # type: ignore[method-assign]
    loaders.Loader.list_available_services = listing  # type: ignore[method-assign]
    try:
        warm = session.Session()
        for service in WARM_SERVICES:
            warm.create_client(service, region_name="us-east-1", aws_access_key_id="warm",
                               aws_secret_access_key="warm")
        # A boto3 session searches boto3's data folder too, so its listing is another one: the one a
        # function's boto3.client() asks for (it missed, and listing botocore's 400 service folders again
        # took an eighth of the runtimes' CPU in `make run`).
        import boto3.session

        boto3.session.Session(botocore_session=session.Session()).client(
            "sts", region_name="us-east-1", aws_access_key_id="warm", aws_secret_access_key="warm")
    finally:
        loaders.JSONFileLoader.load_file = original_load  # type: ignore[method-assign]
        loaders.Loader.list_available_services = original_list  # type: ignore[method-assign]
    reader = loaders.JSONFileLoader()
    parsed = {path: original_load(reader, path) for path in dict.fromkeys(used)}  # untouched by any client

    def load_file(self: loaders.JSONFileLoader, file_path: str) -> object:
        data = parsed.pop(file_path, None)
        if data is not None and self.exists(file_path):  # (.json or .json.gz, as botocore ships it)
            load_file.handed_out += 1  # type: ignore[attr-defined]
            loaders.logger.debug("Loading JSON file: %s", file_path)
            return data
        return original_load(self, file_path)

    def list_available_services(self: loaders.Loader, type_name: str) -> list[str]:
        known = listings.get((tuple(self.search_paths), type_name))
        if known is not None and known[0] == _stamps(self.search_paths):
            list_available_services.served += 1  # type: ignore[attr-defined]
            return list(known[1])
        return original_list(self, type_name)  # type: ignore[no-any-return]

    load_file.handed_out = 0  # type: ignore[attr-defined]
    list_available_services.served = 0  # type: ignore[attr-defined]
    loaders.JSONFileLoader.load_file = load_file  # type: ignore[method-assign]
    loaders.Loader.list_available_services = list_available_services  # type: ignore[method-assign]


def _stamps(paths: list[str]) -> tuple[int | None, ...]:
    """Each search folder's modification time: a service folder added to one changes it (the listing is
    then made again)."""
    return tuple(os.stat(path).st_mtime_ns if os.path.isdir(path) else None for path in paths)


def _stdlib_path() -> list[str]:
    """sys.path as a fresh ``python -S`` has it after the script's (or module's) folder and PYTHONPATH."""
    from_env = [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    return [entry for entry in sys.path[1:] if entry not in from_env]


def _preloaded_distributions() -> dict[str, list[str]]:
    """{top-level module: [distribution name, version]} of every module imported from PYTHONPATH: a function
    that brings its own copy of one of these must not be served by this template (its copy would lose)."""
    roots = [os.path.realpath(entry) for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    return _distributions({name: module for name, module in list(sys.modules.items())
                           if "." not in name and getattr(module, "__file__", None)
                           and any(os.path.realpath(module.__file__).startswith(root + os.sep) for root in roots)})


def _distributions(modules: dict[str, object]) -> dict[str, list[str]]:
    """{top-level module: [distribution name, version]} of these modules (the version "" when unknown)."""
    from importlib import metadata

    owners = metadata.packages_distributions()
    found: dict[str, list[str]] = {}
    for name in modules:
        dists = owners.get(name) or [name]
        try:
            found[name] = [dists[0], metadata.version(dists[0])]
        except metadata.PackageNotFoundError:
            found[name] = [dists[0], ""]
    return found


def _child(request: dict, zygote_pid: int) -> None:
    """In the forked child: become the environment's runtime process. Never returns."""
    status = 1
    try:
        os.setpgid(0, 0)  # its own process group (the template sets it too, before it answers)
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != zygote_pid:
            os._exit(1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        sys.stdout = io.TextIOWrapper(open(1, "wb", buffering=0, closefd=False), write_through=True)
        sys.stderr = io.TextIOWrapper(open(2, "wb", buffering=0, closefd=False), write_through=True,
                                      errors="backslashreplace")
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        if _COERCED_LC_CTYPE is not None and "LC_CTYPE" not in os.environ:
            # A fresh interpreter under the same LANG coerces the C locale the same way (PEP 538).
            os.environ["LC_CTYPE"] = _COERCED_LC_CTYPE
        import time

        time.tzset()  # TZ (":UTC" on Lambda) as a fresh interpreter reads it at its start
        sys.path[:] = request["path"]
        sys.argv[:] = request["argv"]
        sys.modules.update(_STASH if request.get("stash") else {})
        import runpy

        try:
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
            status = 0
        except SystemExit as leaving:
            code = leaving.code
            status = code if isinstance(code, int) else (0 if code is None else 1)
            if code is not None and not isinstance(code, int):
                print(code, file=sys.stderr)
        except BaseException:
            import traceback

            traceback.print_exc()
            status = 1
    finally:
        try:
            # What a fresh interpreter does on its way out: wait for its non-daemon threads, run its atexit
            # functions, flush. Then leave without returning into the template's loop.
            import atexit
            import threading

            threading._shutdown()  # type: ignore[attr-defined]
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)


def serve(fd: int) -> None:
    _preload()
    stash = _fill_stash()
    zygote_pid = os.getpid()
    channel = socket.socket(fileno=fd)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    forked: set[int] = set()

    def send(answer: dict) -> None:
        channel.sendall(json.dumps(answer).encode() + b"\n")

    send({"stdlib": _stdlib_path(), "preloaded": _preloaded_distributions(), "stash": stash})
    pending = b""
    while True:
        readable, _, _ = select.select([channel.fileno(), wake_read], [], [])
        if wake_read in readable:
            os.read(wake_read, 512)
        while forked:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            forked.discard(pid)
            send({"pid": pid, "exit": os.waitstatus_to_exitcode(status)})
        if channel.fileno() in readable:
            chunk = channel.recv(1 << 20)
            if not chunk:
                return  # the harness is gone; the children die with this process (their parent-death signal)
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    channel.close()
                    os.close(wake_read)
                    os.close(wake_write)
                    _child(request, zygote_pid)
                try:
                    # Here too, so that the group exists before anyone can be told to kill it (the shell's way).
                    os.setpgid(pid, pid)
                except OSError:
                    pass  # the child has made it already (EACCES once it has started running its code)
                forked.add(pid)
                send({"id": request["id"], "pid": pid})


if __name__ == "__main__":
    serve(int(sys.argv[1]))
