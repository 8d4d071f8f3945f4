"""Deployment zips for the functions in `lambdas/`: reproducible, and cached by content hash.

A zip holds `lambdas/<name>/`, `lambdas/common/` and the vendored dependencies of
`lambdas/requirements.txt`, all at the zip's root, plus any `extra_files` (e.g. a fault-injection
wrapper). The same inputs give the same bytes: entries sorted, timestamps and permissions fixed, no
`__pycache__`. Dependencies are pure-Python wheels (`py3-none-any`), so one zip runs on python3.12 and
python3.13; they are installed once per requirements hash. A zip is built once per content hash; a
rebuild of unchanged code reads it from the cache (`harness.paths.cache_dir()`: `.harness/cache/` in a
source checkout).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness import paths

CODE_BUCKET = "harness-code"
"""The S3 bucket of the LocalStack in use that holds the deployment zips (what `sam package` uploads to)."""

# Aliases of harness.paths (a checkout's top-level folders, or the copies an installed wheel carries).
REPO_ROOT = paths.ROOT
LAMBDAS_DIR = paths.LAMBDAS
COMMON_DIR = paths.PIPELINE_COMMON_PARENT
REQUIREMENTS = paths.REQUIREMENTS
CONSTRAINTS = paths.CONSTRAINTS

# Part of every cache key: bump it when the zip layout or the vendoring command changes.
_FORMAT = b"harness-zip-v1"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold
_FILE_MODE = 0o100644
_SKIPPED_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache"}
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
_SKIPPED_NAMES = {".DS_Store", "RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


@dataclass(frozen=True)
class FunctionSpec:
    """A deployable function: its code directory, handler and configuration variables.

    `optional_env` maps each optional variable to the default the function uses when it is unset.
    """

    name: str
    handler: str
    description: str
    required_env: tuple[str, ...]
    optional_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def source_dir(self) -> Path:
        return LAMBDAS_DIR / self.name

    @property
    def env_names(self) -> tuple[str, ...]:
        return (*self.required_env, *self.optional_env)


# What each function requires and defaults comes from the pipeline's own configuration module: one list,
# read by the functions and by the harness alike (LOG_LEVEL is read by pipeline_common.logs).
_config = paths.pipeline_common("config")
_LOGS = {"LOG_LEVEL": "INFO"}

FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for spec in (
        FunctionSpec(
            name="orchestrator",
            handler="handler.handler",
            description="splits a job into shards and invokes a worker per shard (InvocationType=Event)",
            required_env=tuple(_config.ORCHESTRATOR_REQUIRED),
            optional_env={**_config.ORCHESTRATOR_OPTIONAL, **_LOGS},
        ),
        FunctionSpec(
            name="worker",
            handler="handler.handler",
            description="loads a shard's files into PostgreSQL; reports JOB SUCCEEDED or JOB FAILED",
            required_env=tuple(_config.WORKER_REQUIRED),
            optional_env={**_config.WORKER_OPTIONAL, **_LOGS},
        ),
        FunctionSpec(
            name="error_handler",
            handler="handler.handler",
            description="re-shards timed-out shards, quarantines single files, reports other errors",
            required_env=tuple(_config.ERROR_HANDLER_REQUIRED),
            optional_env={**_config.ERROR_HANDLER_OPTIONAL, **_LOGS},
        ),
    )
}


class PackagingError(RuntimeError):
    pass


# Threads of one process (`harness run -j N`, a stack's parallel deploy) that need the same zip or the same
# vendored dependencies wait for the one building it instead of building it again. Correctness does not
# depend on these: every write goes to a fresh temporary name and is renamed into place, which also keeps
# separate processes (pytest-xdist workers) safe.
_BUILDING_LOCK = threading.Lock()
_BUILDING: dict[Path, threading.Lock] = {}


def _building(target: Path) -> threading.Lock:
    with _BUILDING_LOCK:
        return _BUILDING.setdefault(target, threading.Lock())


def cache_dir() -> Path:
    """`$HARNESS_CACHE_DIR`, else `.harness/cache` in the source checkout (see `harness.paths.cache_dir`)."""
    return paths.cache_dir()


def build_function_zip(name: str, extra_files: Mapping[str, bytes] | None = None) -> bytes:
    """The deployment zip of function `name`, as bytes."""
    return build_function_zip_path(name, extra_files).read_bytes()


def build_function_zip_path(name: str, extra_files: Mapping[str, bytes] | None = None) -> Path:
    """The cached deployment zip of function `name`, built first if its inputs changed.

    `extra_files` maps archive paths (e.g. `fault_wrapper.py`) to contents; a path that collides with
    the function's own files is refused, so the function's code stays exactly what is in `lambdas/`.
    """
    if name not in FUNCTIONS:
        raise PackagingError(f"unknown function {name!r}; known: {', '.join(sorted(FUNCTIONS))}")
    entries = _collect_entries(FUNCTIONS[name], extra_files or {})
    return _cached_zip(name, entries)


def _cached_zip(stem: str, entries: dict[str, Path | bytes]) -> Path:
    """`<stem>-<content hash>.zip` in the cache, written once per content (atomically)."""
    digest = hashlib.sha256(_FORMAT)
    for archive_name in sorted(entries):
        digest.update(_framed(archive_name.encode()))
        digest.update(_framed(_read(entries[archive_name])))
    target = cache_dir() / "zips" / f"{stem}-{digest.hexdigest()[:32]}.zip"
    if not target.exists():
        with _building(target):
            if not target.exists():
                _write_atomically(target, zip_bytes(entries))
    return target


def build_directory_zip_path(directory: Path) -> Path:
    """The cached reproducible zip of a code directory as it is (a template's CodeUri or ContentUri that is
    not one of lambdas/'s functions), built first if its content changed."""
    if not directory.is_dir():
        raise PackagingError(f"{directory} is not a directory")
    return _cached_zip(directory.name, dict(_tree(directory)))


def _vendor_target() -> Path:
    key = hashlib.sha256(_FORMAT + _framed(REQUIREMENTS.read_bytes()))
    if CONSTRAINTS.exists():
        key.update(_framed(CONSTRAINTS.read_bytes()))
    return cache_dir() / "vendor" / key.hexdigest()[:32]


def vendor_dir_if_built() -> Path | None:
    """`vendor_dir()` when it is installed already, without installing it."""
    target = _vendor_target()
    return target if target.is_dir() else None


def vendor_dir() -> Path:
    """The installed dependencies of `lambdas/requirements.txt`, installed first if needed."""
    target = _vendor_target()
    if target.is_dir():
        return target
    with _building(target):
        if target.is_dir():
            return target
        return _vendor(target)


def _vendor(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--no-deps", "--target", str(staging), "--only-binary=:all:", "--implementation", "py",
        "--abi", "none", "--platform", "any", "--python-version", "3.12", "-r", str(REQUIREMENTS),
    ]  # fmt: skip
    if CONSTRAINTS.exists():
        command += ["-c", str(CONSTRAINTS)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise PackagingError(
            f"vendoring {REQUIREMENTS.relative_to(REPO_ROOT)} failed (pure-Python wheels only):\n"
            f"{result.stderr.strip() or result.stdout.strip()}"
        )
    try:
        staging.rename(target)
    except OSError:
        # Another process (an xdist worker) vendored the same requirements first; theirs is as good.
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _collect_entries(spec: FunctionSpec, extra_files: Mapping[str, bytes]) -> dict[str, Path | bytes]:
    if not spec.source_dir.is_dir():
        raise PackagingError(f"function {spec.name!r} has no code directory {spec.source_dir}")
    entries: dict[str, Path | bytes] = {}
    origins: dict[str, str] = {}
    layers: list[tuple[str, Mapping[str, Path | bytes]]] = [
        (f"lambdas/{spec.name}", _tree(spec.source_dir)),
        ("lambdas/common", _tree(COMMON_DIR)),
        # pip --target puts console scripts in bin/; a Lambda has no use for them.
        ("vendored dependencies", _tree(vendor_dir(), skip_top_level=frozenset({"bin"}))),
        ("extra_files", {_archive_name(path): content for path, content in extra_files.items()}),
    ]
    for origin, files in layers:
        for archive_name, source in files.items():
            if archive_name in entries:
                raise PackagingError(
                    f"{archive_name!r} from {origin} collides with the same path from {origins[archive_name]}"
                )
            entries[archive_name] = source
            origins[archive_name] = origin
    return entries


def _tree(root: Path, skip_top_level: frozenset[str] = frozenset()) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for directory, subdirs, names in os.walk(root):
        at_top = Path(directory) == root
        subdirs[:] = [d for d in subdirs if d not in _SKIPPED_DIRS and not (at_top and d in skip_top_level)]
        for file_name in names:
            if file_name in _SKIPPED_NAMES or file_name.endswith(_SKIPPED_SUFFIXES):
                continue
            path = Path(directory) / file_name
            files[path.relative_to(root).as_posix()] = path
    return files


def _archive_name(path: str) -> str:
    name = path.replace("\\", "/")
    parts = name.split("/")
    if not name or name.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise PackagingError(f"extra file path {path!r} must be relative, without '.' or '..' parts")
    return name


def _read(source: Path | bytes) -> bytes:
    return source if isinstance(source, bytes) else source.read_bytes()


def _framed(data: bytes) -> bytes:
    # Length-prefixed, so that moving bytes between a name and a content changes the hash.
    return len(data).to_bytes(8, "big") + data


def zip_bytes(entries: Mapping[str, Path | bytes]) -> bytes:
    """A reproducible zip of `{archive path: file or content}`: sorted, fixed dates and permissions."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for archive_name in sorted(entries):
            info = zipfile.ZipInfo(archive_name, date_time=_ZIP_DATE)
            info.create_system = 3  # Unix, so that external_attr carries the permissions
            info.external_attr = _FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, _read(entries[archive_name]), compresslevel=6)
    return buffer.getvalue()


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
