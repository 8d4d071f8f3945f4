"""A Debian root filesystem in a folder, and commands run inside it, for the image build.

`mmdebstrap` makes the folder from Debian's packages. Commands run in it with `chroot`, inside a mount
namespace of their own (`unshare --mount`) where /proc and /dev are mounted: those mounts end with the
command, also when the build is killed, so nothing is left mounted on the host. The network is the host's,
for pip (with the host's CA bundle and proxy settings, which never enter a layer).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

SCRATCH = "tmp/harness-build"
"""Inside the root: what a step brings in (the wheel, the constraints, a CA bundle); never in a layer."""

PASSED_ON = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
             "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "PIP_DEFAULT_TIMEOUT")
"""The host's settings for reaching the package registries, given to pip inside the root."""


class BuildError(Exception):
    """The build cannot go on; the message says why and, where it can, what to install or run."""


def require_tools() -> None:
    """mmdebstrap, unshare, chroot and tar, run as root, or a BuildError naming what to install."""
    if os.geteuid() != 0:
        raise BuildError("harness image build makes a Debian root filesystem with mmdebstrap and chroot, which "
                         "need root here: run it as root (sudo)")
    for tool, package in (("mmdebstrap", "mmdebstrap"), ("unshare", "util-linux"), ("chroot", "coreutils"),
                          ("tar", "tar")):
        if shutil.which(tool) is None:
            raise BuildError(f"harness image build needs {tool}, which is not installed: "
                             f"apt-get install {package}")


def ca_bundle() -> Path | None:
    """The CA bundle the host's pip trusts (a proxy's CA may be in it), if there is one."""
    for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return Path(value)
    default = Path("/etc/ssl/certs/ca-certificates.crt")
    return default if default.is_file() else None


HEARTBEAT_S = 20.0
"""How often a long step says that it is still going, and the last line it logged."""


def run_logged(command: Sequence[str], log: Path, what: str, env: Mapping[str, str] | None = None,
               say: Callable[[str], None] | None = None) -> None:
    """Run `command` with its output appended to `log`; a failure raises BuildError with the log's tail."""
    started = time.monotonic()
    with open(log, "ab") as out:
        out.write(f"\n$ {shlex.join(command)}\n".encode())
        out.flush()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=dict(env) if env is not None else None)
        while True:
            try:
                returncode = process.wait(HEARTBEAT_S)
                break
            except subprocess.TimeoutExpired:
                if say is not None:
                    say(f"  ... {what}: {time.monotonic() - started:.0f} s; {_last_line(log)}")
    if returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise BuildError(f"{what} failed (exit {returncode}); the end of {log}:\n{tail}")


def _last_line(log: Path) -> str:
    with open(log, "rb") as text:
        text.seek(max(0, text.seek(0, os.SEEK_END) - 400))
        lines = text.read().decode(errors="replace").strip().splitlines()
    return lines[-1][:120] if lines else ""


def debootstrap(root: Path, suite: str, mirror: str, packages: Sequence[str], epoch: int,
                customize: Sequence[str], log: Path, say: Callable[[str], None] | None = None) -> None:
    """A minimal Debian `suite` with `packages` in `root` (which must not exist yet), reproducible for the
    same package versions (SOURCE_DATE_EPOCH). Manual pages and documentation other than copyright notices
    are left out. `customize` are shell commands run in the finished root (chroot), before it is closed."""
    command = ["mmdebstrap", "--variant=minbase", f"--include={','.join(packages)}",
               "--skip=output/dev", "--skip=output/mknod",
               "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/doc/*",
               "--dpkgopt=path-include=/usr/share/doc/*/copyright", "--dpkgopt=path-exclude=/usr/share/info/*",
               *(f"--customize-hook=chroot \"$1\" sh -c {shlex.quote(step)}" for step in customize),
               suite, str(root), mirror]
    run_logged(command, log, f"mmdebstrap ({suite} from {mirror})",
               env={**os.environ, "SOURCE_DATE_EPOCH": str(epoch)}, say=say)


def run_inside(root: Path, script: str, log: Path, what: str, epoch: int,
               extra_env: Mapping[str, str] | None = None, inputs: Mapping[str, Path | bytes] | None = None,
               say: Callable[[str], None] | None = None) -> None:
    """Run the shell `script` inside `root` with /proc, /dev and the host's resolv.conf, and a clean
    environment: PATH, HOME, SOURCE_DATE_EPOCH (pip and compileall then write the same bytes each time), the
    host's CA bundle for pip, its proxy settings, and `extra_env`. `inputs` (name -> file or bytes) are put
    in /tmp/harness-build for the script, and removed after it."""
    scratch = root / SCRATCH
    scratch.mkdir(parents=True, exist_ok=True)
    for name, content in (inputs or {}).items():
        if isinstance(content, bytes):
            (scratch / name).write_bytes(content)
        else:
            shutil.copyfile(content, scratch / name)
    env = {"PATH": "/opt/harness/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": "/root", "LANG": "C.UTF-8", "SOURCE_DATE_EPOCH": str(epoch), "PIP_NO_CACHE_DIR": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_ROOT_USER_ACTION": "ignore", "PYTHONDONTWRITEBYTECODE": "1"}
    env.update({name: os.environ[name] for name in PASSED_ON if os.environ.get(name)})
    bundle = ca_bundle()
    if bundle is not None:
        shutil.copyfile(bundle, scratch / "ca.crt")
        env["PIP_CERT"] = f"/{SCRATCH}/ca.crt"
    env.update(extra_env or {})
    # Name resolution as in a container, whose engine mounts both: the host's resolver, and localhost.
    resolv, hosts = root / "etc" / "resolv.conf", root / "etc" / "hosts"
    for provided in (resolv, hosts):
        provided.unlink(missing_ok=True)
    shutil.copyfile("/etc/resolv.conf", resolv)
    hosts.write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    mounts = (f"mount -t proc proc {shlex.quote(str(root / 'proc'))} && "
              f"mount --rbind /dev {shlex.quote(str(root / 'dev'))} && "
              f"exec chroot {shlex.quote(str(root))} /usr/bin/env -i "
              + " ".join(shlex.quote(f"{name}={value}") for name, value in env.items())
              + f" /bin/sh -ec {shlex.quote('cd /; ' + script)}")
    try:
        run_logged(["unshare", "--mount", "--propagation", "private", "sh", "-ec", mounts], log, what, say=say)
    finally:
        resolv.unlink(missing_ok=True)
        hosts.unlink(missing_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)


def extract(root: Path, layer_tar: Path, log: Path) -> None:
    """Unpack a layer tar over `root`, owners and modes as recorded (its whiteouts are the caller's)."""
    root.mkdir(parents=True, exist_ok=True)
    run_logged(["tar", "-x", "-p", "--numeric-owner", "-f", str(layer_tar), "-C", str(root)], log,
               f"unpacking {layer_tar.name}")
