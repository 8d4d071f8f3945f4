"""Which local interpreter serves which Lambda runtime, and where its runtime libraries live.

A Lambda runtime such as ``python3.12`` is served by a CPython of that version found on this machine
(an explicit ``HARNESS_PYTHON3_12`` path, pyenv, or ``python3.12`` on PATH) plus a *runtime directory*
that plays the part of AWS's ``/var/runtime``: ``awslambdaric`` and ``boto3`` installed for that
interpreter. The function's own code never sees our virtualenv.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

SUPPORTED_RUNTIMES = ("python3.12", "python3.13")
# What a runtime directory holds: AWS's Python runtimes ship boto3 next to the runtime client.
RUNTIME_PACKAGES = ("awslambdaric", "boto3")
# The ready marker's format. 2: the libraries are byte-compiled for the runtime's interpreter, as under AWS's
# /var/runtime; a directory of format 1 (source only: the first cold starts each compiled boto3, 0.5 CPU-s,
# and wrote the same byte code at once) is installed again.
RUNTIME_DIR_FORMAT = "2"


class RuntimeUnavailable(Exception):
    """A Lambda runtime that this machine cannot serve, with what was looked for."""


@dataclasses.dataclass(frozen=True)
class Interpreter:
    runtime: str
    python: Path
    runtime_dir: Path

    @property
    def version(self) -> str:
        return self.runtime.removeprefix("python")


def runtimes_root() -> Path:
    configured = os.environ.get("HARNESS_RUNTIMES_DIR")
    if configured:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "harness" / "runtimes"


def _env_name(runtime: str) -> str:
    return "HARNESS_" + runtime.upper().replace(".", "_")


def _candidates(version: str) -> list[Path]:
    found: list[Path] = []
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    versions = Path(pyenv_root) / "versions"
    if versions.is_dir():
        pattern = re.compile(rf"^{re.escape(version)}\.\d+$")
        for entry in sorted(versions.iterdir(), reverse=True):
            if pattern.match(entry.name):
                found.append(entry / "bin" / "python")
    on_path = shutil.which(f"python{version}")
    if on_path:
        found.append(Path(on_path))
    for prefix in ("/usr/local/bin", "/usr/bin"):
        found.append(Path(prefix) / f"python{version}")
    return found


def _reports_version(python: Path, version: str) -> bool:
    try:
        stat = python.stat()
    except OSError:
        return False
    return _runs_as(str(python), version, (stat.st_ino, stat.st_mtime_ns))


@functools.lru_cache(maxsize=64)
def _runs_as(python: str, version: str, identity: tuple[int, int]) -> bool:
    """Whether `python` is a Python `version`: asked once per interpreter file (`identity`), not at every
    cold start (a process of its own, 40 ms of CPU each time an environment started)."""
    del identity  # part of the cache key only: a replaced interpreter is asked again
    try:
        out = subprocess.run(
            [python, "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and out.stdout.strip() == version


def find_python(runtime: str) -> Path:
    """The interpreter for ``runtime``; raises RuntimeUnavailable naming every place looked at."""
    if runtime not in SUPPORTED_RUNTIMES:
        raise RuntimeUnavailable(
            f"runtime {runtime!r} cannot be served by the harness process executor: "
            f"supported runtimes are {', '.join(SUPPORTED_RUNTIMES)}"
        )
    version = runtime.removeprefix("python")
    explicit = os.environ.get(_env_name(runtime))
    if explicit:
        if _reports_version(Path(explicit), version):
            return Path(explicit)
        raise RuntimeUnavailable(
            f"runtime {runtime}: {_env_name(runtime)}={explicit} is not a Python {version} interpreter"
        )
    looked = _candidates(version)
    for candidate in looked:
        if candidate.exists() and _reports_version(candidate, version):
            return candidate
    raise RuntimeUnavailable(
        f"runtime {runtime}: no Python {version} interpreter found; looked for "
        f"{_env_name(runtime)}, " + ", ".join(str(p) for p in looked)
    )


def runtime_dir_for(runtime: str) -> Path:
    return runtimes_root() / runtime


def runtime_dir_ready(runtime_dir: Path) -> bool:
    try:
        lines = (runtime_dir / ".harness-ready").read_text().splitlines()
    except OSError:
        return False
    return lines[1:2] == [f"format {RUNTIME_DIR_FORMAT}"]


def resolve(runtime: str) -> Interpreter:
    """The interpreter and prepared runtime directory for ``runtime`` (must already be installed)."""
    python = find_python(runtime)
    runtime_dir = runtime_dir_for(runtime)
    if not runtime_dir_ready(runtime_dir):
        raise RuntimeUnavailable(
            f"runtime {runtime}: runtime libraries ({', '.join(RUNTIME_PACKAGES)}) are not installed in "
            f"{runtime_dir}; run `harness setup-runtimes` (the embedded LocalStack does this at start)"
        )
    return Interpreter(runtime=runtime, python=python, runtime_dir=runtime_dir)


def install_runtime(runtime: str, constraints: Path | None = None) -> Interpreter:
    """Install awslambdaric and boto3 for ``runtime``'s interpreter into its runtime directory."""
    python = find_python(runtime)
    runtime_dir = runtime_dir_for(runtime)
    if runtime_dir_ready(runtime_dir):
        return Interpreter(runtime=runtime, python=python, runtime_dir=runtime_dir)
    staging = runtime_dir.with_name(runtime_dir.name + f".partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    # pip runs under our own interpreter but resolves wheels for the target one, so a Python without
    # pip (or with an old one) can still be served.
    version = runtime.removeprefix("python")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--only-binary=:all:",
        "--python-version",
        version,
        "--implementation",
        "cp",
        "--target",
        str(staging),
        *RUNTIME_PACKAGES,
    ]
    if constraints is not None and constraints.exists():
        cmd[4:4] = ["-c", str(constraints)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeUnavailable(
            f"runtime {runtime}: installing {', '.join(RUNTIME_PACKAGES)} failed:\n{result.stderr[-2000:]}"
        )
    # pip ran under our interpreter with --no-compile (its byte code would be for the wrong version): the
    # runtime's own interpreter compiles the libraries, so a cold start imports boto3 instead of compiling it
    # (0.8 s of CPU down to 0.3 s), as AWS's runtimes ship it.
    compiled = subprocess.run([str(python), "-S", "-m", "compileall", "-q", "-j", "0", str(staging)],
                              capture_output=True, text=True)
    if compiled.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeUnavailable(
            f"runtime {runtime}: compiling the runtime libraries with {python} failed:\n"
            f"{(compiled.stdout + compiled.stderr)[-2000:]}"
        )
    (staging / ".harness-ready").write_text(f"{python}\nformat {RUNTIME_DIR_FORMAT}\n")
    if runtime_dir.exists():
        shutil.rmtree(runtime_dir)
    staging.rename(runtime_dir)
    return Interpreter(runtime=runtime, python=python, runtime_dir=runtime_dir)
