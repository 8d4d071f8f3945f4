"""Runtime processes forked from a template instead of started from nothing.

A cold start spent most of its time before the function's own code ran: the interpreter's start and
boto3's import (0.25 s of CPU of a 0.35 s init, measured on the pipeline's orchestrator). AWS's sandbox
pays that once per environment too, but here every environment of every scenario paid it on a 2-core
machine shared with LocalStack. So each runtime's interpreter is started once as a template
(`zygote_server.py`), with boto3 imported, and an environment's runtime process is a fork of it that goes
on as ``python -S -m awslambdaric HANDLER`` would: its own process group, dying with its parent, the
function's environment, working directory, sys.path, stdout and stderr, and the same init, invocations,
timeouts, memory watch and exit statuses.

What differs from a fresh interpreter, and when the harness starts a fresh one instead:
- modules of the runtime directory (boto3, botocore and their dependencies) are imported before the
  function's code runs. A function whose code or layers bring another version of one of them gets a fresh
  interpreter, where its own copy comes first on sys.path as on AWS; the same version is the same code;
- what the fault wrapper imports from its own vendored folder in every runtime it wraps (pg8000, for the
  attempt ledger) is imported by the template too, but kept out of sys.modules: a fork gets it only when
  that folder is on its PYTHONPATH and nothing before it on sys.path brings another version of it (its own
  import would then make the same modules), so an unwrapped function still cannot import it;
- an AWS_LAMBDA_EXEC_WRAPPER gets a fresh interpreter (the wrapper runs the runtime's command itself), and
  so does a function that sets a PYTHON* variable other than PYTHONPATH, LC_ALL, LC_CTYPE or another LANG
  (read at an interpreter's start);
- every fork shares the template's hash seed (random's state is reseeded at fork by Python itself);
- HARNESS_FORK_RUNTIMES=0 turns it off.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

from harness import procs

LOG = logging.getLogger(__name__)
SERVER = Path(__file__).with_name("zygote_server.py")
STASH_VAR = "HARNESS_TEMPLATE_STASH"  # zygote_server.STASH_VAR (that file imports nothing of the harness)
START_TIMEOUT_S = 30.0
# The template's own environment, and the PATH and LANG the executor gives every function (an interpreter
# sets its locale at start).
TEMPLATE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "en_US.UTF-8"}


def enabled() -> bool:
    return os.environ.get("HARNESS_FORK_RUNTIMES", "1") != "0"


class ForkedProcess:
    """A runtime process forked by a template: what `subprocess.Popen` offers the executor (pid, poll, wait,
    returncode), its exit status as the template reports it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._ended = threading.Event()

    def ended(self, status: int) -> None:
        self.returncode = status
        self._ended.set()

    def poll(self) -> int | None:
        return self.returncode if self._ended.is_set() else None

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(f"forked runtime {self.pid}", timeout or 0.0)
        assert self.returncode is not None  # set before the event
        return self.returncode


class Template:
    """One runtime's template process (an interpreter and its runtime directory), and the socket pair the
    harness asks it for forks on."""

    def __init__(self, python: Path, runtime_dir: Path, folder: Path,
                 stash: tuple[str, tuple[str, ...]] | None = None) -> None:
        self.python, self.runtime_dir = python, runtime_dir
        self.stash_dir = stash[0] if stash else None
        self._channel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._log = open(folder / "template.log", "ab", buffering=0)  # noqa: SIM115 - open while it runs
        env = {**TEMPLATE_ENV, "PYTHONPATH": str(runtime_dir)}
        if stash:
            env[STASH_VAR] = f"{stash[0]}={','.join(stash[1])}"
        try:
            self.process = procs.spawn(
                [str(python), "-S", str(SERVER), str(theirs.fileno())],
                cwd=str(folder),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=self._log,
                pass_fds=(theirs.fileno(),),
            )
        finally:
            theirs.close()
        self._send_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._next_id = 0
        self._waiting: dict[int, tuple[threading.Event, list[ForkedProcess]]] = {}
        self._running: dict[int, ForkedProcess] = {}
        self._gone = False
        self._ready = threading.Event()
        self.stdlib: list[str] = []
        self.preloaded: dict[str, tuple[str, str]] = {}
        self.stashed: dict[str, tuple[str, str]] = {}
        threading.Thread(target=self._read, name=f"harness-template-{self.process.pid}", daemon=True).start()
        if not self._ready.wait(START_TIMEOUT_S) or self._gone:
            self.stop()
            raise RuntimeError(f"the template of {python} did not start; see {folder / 'template.log'}")

    def _read(self) -> None:
        """The template's answers, in order: ready, then each fork's pid and, later, its exit status."""
        try:
            for line in self._channel.makefile("r"):
                answer = json.loads(line)
                with self._state_lock:
                    if "stdlib" in answer:
                        self.stdlib = answer["stdlib"]
                        self.preloaded = {name: (dist, version)
                                          for name, (dist, version) in answer["preloaded"].items()}
                        self.stashed = {name: (dist, version)
                                        for name, (dist, version) in answer.get("stash", {}).items()}
                        self._ready.set()
                    elif "id" in answer:
                        forked = self._running[answer["pid"]] = ForkedProcess(int(answer["pid"]))
                        event, slot = self._waiting.pop(answer["id"])
                        slot.append(forked)
                        event.set()
                    elif (ended := self._running.pop(answer["pid"], None)) is not None:
                        ended.ended(int(answer["exit"]))
        except (OSError, ValueError):
            pass
        with self._state_lock:  # the template is gone, and its children with it (their parent-death signal)
            self._gone = True
            self._ready.set()
            for forked in self._running.values():
                forked.ended(-9)
            self._running.clear()
            for event, _slot in self._waiting.values():
                event.set()
            self._waiting.clear()

    @property
    def alive(self) -> bool:
        return not self._gone and self.process.poll() is None

    def refuses(self, env: dict[str, str], task_root: Path) -> str | None:
        """Why a fork would not be the same as a fresh interpreter for this function, or None when it would:
        nothing before the runtime directory on its sys.path brings another version of a module the
        template imported, and no variable that an interpreter reads at its start is set."""
        if started := sorted(name for name in env if name.startswith("PYTHON") and name != "PYTHONPATH"
                             or name in ("LC_ALL", "LC_CTYPE")):
            return f"it sets {', '.join(started)}, read when an interpreter starts"
        if env.get("LANG") != TEMPLATE_ENV["LANG"]:
            return f"its LANG is not {TEMPLATE_ENV['LANG']} (the locale is set when an interpreter starts)"
        for entry in [str(task_root), *env.get("PYTHONPATH", "").split(os.pathsep)]:
            if not entry:
                continue
            if Path(entry) == self.runtime_dir:
                return None
            for name, (dist, version) in self.preloaded.items():
                if _provides(Path(entry), name) and not _has_distribution(Path(entry), dist, version):
                    return f"{entry} has its own {name}, not {dist} {version} of the runtime"
        return None

    def stashes(self, env: dict[str, str], task_root: Path) -> bool:
        """Whether a fork for this function gets the stashed modules (`zygote_server._fill_stash`): its
        PYTHONPATH has the folder they came from (the fault wrapper's), and nothing before that folder on its
        sys.path brings another version of one of them: its own import would then make the same modules."""
        if not self.stashed or self.stash_dir is None:
            return False
        entries = [entry for entry in [str(task_root), *env.get("PYTHONPATH", "").split(os.pathsep)] if entry]
        if self.stash_dir not in entries:
            return False
        for entry in entries[:entries.index(self.stash_dir)]:
            for name, (dist, version) in self.stashed.items():
                if _provides(Path(entry), name) and not _has_distribution(Path(entry), dist, version):
                    return False
        return True

    def fork(self, argv: list[str], module: str, env: dict[str, str], cwd: Path, log_path: Path,
             stash: bool = False) -> ForkedProcess:
        """A child that runs `module` as __main__ with `argv`, like ``python -S -m`` in `cwd` would; with
        `stash`, the stashed modules already imported (see `stashes`)."""
        path = [str(cwd), *[entry for entry in env.get("PYTHONPATH", "").split(os.pathsep) if entry], *self.stdlib]
        event, slot = threading.Event(), list[ForkedProcess]()
        with self._state_lock:
            if self._gone:
                raise OSError(f"the template of {self.python} has ended")
            self._next_id += 1
            request_id = self._next_id
            self._waiting[request_id] = (event, slot)
        request = {"id": request_id, "argv": argv, "module": module, "env": env, "cwd": str(cwd),
                   "log": str(log_path), "path": path, "stash": stash}
        with self._send_lock:
            self._channel.sendall(json.dumps(request).encode() + b"\n")
        if not event.wait(START_TIMEOUT_S) or not slot:
            raise OSError(f"the template of {self.python} did not fork")
        return slot[0]

    def stop(self) -> None:
        self._channel.close()  # the template ends when its end of the pair closes; its children with it
        procs.kill_group(self.process)
        self._log.close()


def _provides(entry: Path, name: str) -> bool:
    return (entry / name).is_dir() or (entry / f"{name}.py").is_file() or any(entry.glob(f"{name}.*.so"))


def _has_distribution(entry: Path, dist: str, version: str) -> bool:
    normalized = re.sub(r"[-_.]+", "_", dist).lower()
    for info in entry.glob("*.dist-info"):
        name, _, found = info.name.removesuffix(".dist-info").rpartition("-")
        if re.sub(r"[-_.]+", "_", name).lower() == normalized:
            return found == version
    return False


_templates: dict[tuple[Path, Path], Template | None] = {}
_lock = threading.Lock()
_said: set[str] = set()


def say_once(function: str, text: str) -> None:
    """Log, once per function, why its runtime processes are not forked."""
    with _lock:
        if function in _said:
            return
        _said.add(function)
    LOG.warning("harness: %s %s", function, text)


def prewarm() -> threading.Thread | None:
    """Start every installed Python runtime's template in the background, newest runtime first, so that no
    function's first cold start waits for one (0.6 s each: an interpreter importing boto3, in its own
    process, beside LocalStack's start); None when templates are off."""
    if not enabled():
        return None
    from harness import runtimes

    def start_all() -> None:
        for runtime in reversed(runtimes.SUPPORTED_RUNTIMES):
            try:
                interpreter = runtimes.resolve(runtime)
            except runtimes.RuntimeUnavailable:
                continue
            template_for(interpreter.python, interpreter.runtime_dir)

    thread = threading.Thread(target=start_all, name="harness-runtime-templates", daemon=True)
    thread.start()
    return thread


def template_for(python: Path, runtime_dir: Path) -> Template | None:
    """The running template of this interpreter and runtime directory, started on first use; None when it
    cannot start (then environments get a fresh interpreter, and the log says why once)."""
    key = (python, runtime_dir)
    with _lock:
        template = _templates.get(key)
        if template is not None and template.alive:
            return template
        if key in _templates and template is None:
            return None
        if template is not None:  # it ended (killed from outside): a new one
            template.stop()
        folder = Path(tempfile.mkdtemp(prefix="template-", dir=os.environ.get("HARNESS_ENVIRONMENTS_DIR")))
        try:
            from harness.localstack.executor import injection

            template = Template(python, runtime_dir, folder, stash=injection.stash())
        except (OSError, RuntimeError, ValueError) as error:
            LOG.warning("harness: runtime processes of %s start from nothing: %s", python, error)
            template = None
        _templates[key] = template
        return template
