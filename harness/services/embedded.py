"""An embedded LocalStack in host mode (no Docker), using the harness's ``process`` Lambda executor.

Each instance gets a free 127.0.0.1 port and its own data, filesystem and temp directories under one
run directory, which goes away with it. The LocalStack process, and through it every Lambda runtime,
dies with the process that started it, even when that one is killed with SIGKILL.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness import procs
from harness import runtimes as interpreters
from harness.model.platform import embedded

if TYPE_CHECKING:
    from harness.services.endpoint import Endpoint

SERVICES = "lambda,sqs,sns,cloudwatch,logs,iam,sts,s3,cloudformation"
READY_MARKER = "Ready."
MISMATCH_EXIT_STATUS = 3
"""The launcher's exit status when the installed LocalStack is not the pinned one (`harness.localstack.launch`)."""
EXECUTOR_FALLBACK_MARKER = "Invalid specified plugin name"


class LocalStackError(Exception):
    """LocalStack did not start, or stopped working; the message carries the tail of its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _runs_root() -> Path:
    return Path(os.environ.get("HARNESS_RUN_DIR") or Path(tempfile.gettempdir()) / "harness-runs")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# LocalStack's index of every AWS service's operations, which it builds from botocore's specs at each start
# into its cache folder (here a fresh one per run): 1.8 s of a 3.6 s start. Named after LocalStack's and
# botocore's versions, so a file from other versions is ignored; one LocalStack cannot read, it rebuilds.
CATALOG_GLOB = "service-catalog-*.dill"


def catalog_store() -> Path:
    """Where the service catalog LocalStack built is kept for the next start."""
    from harness import paths

    return paths.cache_dir() / "localstack"


def _seed_catalog(filesystem: Path) -> None:
    """Give LocalStack the catalog a previous start built, where it looks first (its static libraries)."""
    target = filesystem / "usr" / "lib" / "localstack"
    for kept in catalog_store().glob(CATALOG_GLOB):
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kept, target / kept.name)


def _keep_catalog(filesystem: Path) -> None:
    """Keep the catalog this LocalStack built (once per LocalStack and botocore version)."""
    store = catalog_store()
    for built in (filesystem / "var" / "lib" / "localstack" / "cache").glob(CATALOG_GLOB):
        kept = store / built.name
        if kept.exists():
            continue
        store.mkdir(parents=True, exist_ok=True)
        partial = store / f".{built.name}.{os.getpid()}.partial"
        shutil.copyfile(built, partial)
        os.replace(partial, kept)  # whole or not at all, also with two LocalStacks starting at once


def remove_stale_runs(root: Path) -> None:
    """Run directories of harness processes that died without cleaning up (SIGKILL) are removed."""
    if not root.is_dir():
        return
    for entry in root.iterdir():
        owner = entry.name.split("-", 1)[0]
        if owner.isdigit() and not _pid_alive(int(owner)):
            shutil.rmtree(entry, ignore_errors=True)


def _import_for_deploy() -> None:
    import cfnlint.decode  # type: ignore[import-untyped]  # noqa: F401


def ensure_runtimes(progress=print) -> list[str]:
    """Install the runtime libraries for every Python runtime this machine can serve; returns them."""
    served = []
    from harness.paths import CONSTRAINTS as constraints
    for runtime in interpreters.SUPPORTED_RUNTIMES:
        try:
            interpreters.find_python(runtime)
        except interpreters.RuntimeUnavailable as missing:
            progress(f"harness: {missing} (functions on {runtime} will fail to deploy)")
            continue
        if not interpreters.runtime_dir_ready(interpreters.runtime_dir_for(runtime)):
            progress(f"harness: installing runtime libraries for {runtime} (once) ...")
        interpreters.install_runtime(runtime, constraints)
        served.append(runtime)
    return served


@dataclass
class EmbeddedLocalStack:
    keepalive_ms: int | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    quiet: bool = False
    port: int = 0
    run_dir: Path | None = None
    process: subprocess.Popen | None = None
    endpoint: Endpoint | None = None
    _spawned_at: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _say(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)

    def _environment(self) -> dict[str, str]:
        assert self.run_dir is not None
        # LocalStack must not see the user's AWS credentials or profile either.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            GATEWAY_LISTEN=f"127.0.0.1:{self.port}",
            SERVICES=SERVICES,
            LOCALSTACK_VOLUME_DIR=str(self.run_dir / "volume"),
            FILESYSTEM_ROOT=str(self.run_dir / "filesystem"),
            TMPDIR=str(self.run_dir / "tmp"),
            HARNESS_ENVIRONMENTS_DIR=str(self.run_dir / "environments"),
            HARNESS_RUNTIMES_DIR=str(interpreters.runtimes_root()),
            # The sandbox may look like a container to LocalStack; we are always in host mode.
            OVERRIDE_IN_DOCKER="0",
            DISABLE_EVENTS="1",
            SKIP_SSL_CERT_DOWNLOAD="1",
            # LocalStack's DNS server would bind port 53 on every interface.
            DNS_ADDRESS="0",
            SQS_ENDPOINT_STRATEGY="path",
            # URLs LocalStack hands out (queue URLs) must resolve without outside DNS.
            LOCALSTACK_HOST=f"127.0.0.1:{self.port}",
            LAMBDA_RUNTIME_EXECUTOR="process",
            # Every service's provider loaded before LocalStack says Ready: 3 s more start, 3 s less first deploy
            # (CloudFormation, the SAM translator, S3 and Lambda load one after another otherwise, on the first
            # stack's critical path), and less in all (bench/deploy_once.py: start + first deploy 7.5 s vs 8 s).
            EAGER_SERVICE_LOADING="1",
            # LocalStack's calls to itself (CloudFormation's resource providers, Lambda's metrics and logs, SNS
            # deliveries to SQS and Lambda) go straight to its gateway instead of over HTTP to its own port:
            # a deploy costs 0.49 s of LocalStack CPU instead of 0.69 s, a teardown 0.15 s instead of 0.22 s.
            IN_MEMORY_CLIENT="1",
            AWS_ACCESS_KEY_ID="test",
            AWS_SECRET_ACCESS_KEY="test",
            AWS_DEFAULT_REGION="us-east-1",
        )
        if self.keepalive_ms is not None:
            env["LAMBDA_KEEPALIVE_MS"] = str(self.keepalive_ms)
        env.update(self.extra_env)
        return env

    def log_tail(self, lines: int = 40) -> str:
        if self.run_dir is None:
            return ""
        try:
            text = (self.run_dir / "localstack.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def start(self, timeout_s: float = 60.0) -> Endpoint:
        self.spawn()
        return self.wait_started(timeout_s)

    def spawn(self) -> None:
        """Start LocalStack's process (and return at once): `wait_started` waits until it is ready. The
        process dies with the thread that spawned it (its parent-death signal): spawn in the main thread."""
        # What a deploy imports first on this side (cfn-lint's template reader: about 1 s), while LocalStack
        # starts in its own process and this one only waits.
        threading.Thread(target=_import_for_deploy, name="harness-deploy-imports", daemon=True).start()
        root = _runs_root()
        remove_stale_runs(root)
        ensure_runtimes(self._say)
        root.mkdir(parents=True, exist_ok=True)
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
        for sub in ("volume", "filesystem", "tmp", "environments"):
            (self.run_dir / sub).mkdir()
        _seed_catalog(self.run_dir / "filesystem")
        self.port = self.port or free_port()
        self._say(f"harness: {embedded().describe()}")
        self._spawned_at = time.monotonic()
        with open(self.run_dir / "localstack.log", "ab") as log:
            self.process = procs.spawn(
                [sys.executable, "-m", "harness.localstack.launch"],
                cwd=str(self.run_dir),
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_started(self, timeout_s: float = 60.0) -> Endpoint:
        """The endpoint of the spawned LocalStack once it is ready (within `timeout_s` of its spawn); stopped
        if it is not."""
        try:
            self._wait_ready(self._spawned_at + timeout_s)
        except BaseException:
            self.stop()
            raise
        try:
            _keep_catalog(self.run_dir / "filesystem")
        except OSError as error:  # only the next start's time depends on it
            self._say(f"harness: could not keep LocalStack's service catalog in {catalog_store()}: {error}")
        from harness.services.endpoint import Endpoint

        self.endpoint = Endpoint(self.url)
        threading.Thread(target=self._warm_providers, name="harness-localstack-warmup", daemon=True).start()
        return self.endpoint

    def _warm_providers(self) -> None:
        """LocalStack loads a service's provider on its first request (about 1 s for Lambda); asking each
        service something cheap now overlaps that with whatever the caller does next (PostgreSQL, zips)."""
        # Its own Endpoint: a boto3 session must not be shared across threads while creating clients.
        from harness.services.endpoint import Endpoint

        endpoint = Endpoint(self.url)
        try:
            # What a stack's deploy makes first: the code's bucket.
            from harness.packaging import CODE_BUCKET

            endpoint.client("s3").create_bucket(Bucket=CODE_BUCKET)
        except Exception:  # noqa: BLE001 - a warm-up miss only costs the first real call its load time
            pass
        calls = {"lambda": "list_functions", "sns": "list_topics", "sqs": "list_queues", "iam": "list_roles",
                 "cloudwatch": "describe_alarms", "logs": "describe_log_groups", "sts": "get_caller_identity"}
        for service, operation in calls.items():
            try:
                getattr(endpoint.client(service), operation)()
            except Exception:  # noqa: BLE001 - a warm-up miss only costs the first real call its load time
                return

    def _wait_ready(self, deadline: float) -> None:
        assert self.process is not None and self.run_dir is not None
        log_path = self.run_dir / "localstack.log"
        while True:
            if self.process.poll() is not None:
                if self.process.returncode == MISMATCH_EXIT_STATUS:  # its one line says why
                    raise LocalStackError(self.log_tail(1))
                raise LocalStackError(
                    f"LocalStack exited with status {self.process.returncode} before it was ready:\n"
                    f"{self.log_tail()}"
                )
            text = log_path.read_text(errors="replace")
            if EXECUTOR_FALLBACK_MARKER in text:
                raise LocalStackError(
                    "LocalStack does not know the 'process' Lambda executor (the harness package is not "
                    f"installed in {sys.executable}'s environment):\n{self.log_tail()}"
                )
            if READY_MARKER in text and self._healthy():
                self._check_patches()
                return
            if time.monotonic() > deadline:
                raise LocalStackError(f"LocalStack was not ready within the deadline:\n{self.log_tail()}")
            time.sleep(0.02)

    def _healthy(self) -> bool:
        # "Ready." is printed even when the gateway failed to bind, so ask the gateway itself.
        try:
            with urllib.request.urlopen(f"{self.url}/_localstack/health", timeout=2) as response:
                body = response.read().decode()
        except (urllib.error.URLError, OSError):
            return False
        return '"lambda": "available"' in body or '"lambda": "running"' in body

    def _check_patches(self) -> None:
        """Every provider the harness patched is the one LocalStack loaded (`harness.localstack.patches`)."""
        from harness import wire

        health = wire.call(self.url, wire.HEALTH) or {}
        if health.get("problems"):
            raise LocalStackError("harness: LocalStack " + str(health.get("localstack")) + " does not serve what "
                                  "the harness patched: " + "; ".join(health["problems"]))

    def stop(self) -> None:
        if self.process is not None:
            # Killed, not asked to stop: everything in it is dropped with its run folder, and LocalStack's
            # orderly shutdown took 0.25-1.1 s at the end of every run for nothing. Its runtime templates and
            # their environments die with it (their parent-death signals).
            procs.kill_group(self.process)
            self.process = None
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None

    def __enter__(self) -> Endpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
