"""Image layers and docker-archives written by hand, so that the same files give the same image ID.

`docker import` and `docker build` stamp the time of the build into the image's config, and so into its ID.
Here a layer is a tar written from a folder with every entry's time set to one fixed epoch, numeric owners
and no owner names, in sorted order; the config's `created` is that epoch too. The image ID is the digest of
the config, which names each layer by the digest of its tar (`diff_ids`): the same files, modes and owners
give the same ID, on any machine and on any day.

A layer over another holds what a build step added or changed: `snapshot` records a folder before the step,
`changes` compares it after, and deleted paths become whiteouts (`.wh.NAME`), as Docker's layer format says.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

Snapshot = dict[str, tuple[int, int, int, int, int, str | None]]
"""Relative path -> (mode, uid, gid, size, mtime_ns, symlink target) of everything under a root."""

SKIPPED = ("proc/", "sys/", "dev/", "tmp/", "run/", "root/.cache/")
"""Folders whose content never belongs in a layer (kernel file systems, scratch space, pip's cache): the
folders themselves are kept, empty."""
PROVIDED = frozenset({"etc/hostname", "etc/hosts", "etc/resolv.conf"})
"""Files Docker mounts into every container; the build host's copies must not end up in the image."""


def _skipped(relative: str) -> bool:
    return relative in PROVIDED or any(relative.startswith(prefix) for prefix in SKIPPED)


def snapshot(root: Path) -> Snapshot:
    """Every path under `root` (symlinks not followed) with what makes it differ when a step changes it."""
    found: Snapshot = {}
    pending = [""]
    while pending:
        folder = pending.pop()
        with os.scandir(root / folder) as entries:
            for entry in entries:
                relative = f"{folder}{entry.name}"
                if _skipped(relative):
                    continue
                info = entry.stat(follow_symlinks=False)
                link = os.readlink(entry.path) if stat.S_ISLNK(info.st_mode) else None
                found[relative] = (info.st_mode, info.st_uid, info.st_gid, info.st_size, info.st_mtime_ns, link)
                if stat.S_ISDIR(info.st_mode):
                    pending.append(relative + "/")
    return found


def changes(before: Snapshot, after: Snapshot) -> tuple[list[str], list[str]]:
    """(paths added or changed, paths removed) from `before` to `after`; a removed folder is named alone."""
    changed = sorted(path for path, facts in after.items() if before.get(path) != facts)
    gone = set(before) - set(after)
    removed = sorted(path for path in gone if path.rpartition("/")[0] not in gone)
    return changed, removed


class _Digesting(io.RawIOBase):
    """A write-only file that hashes and counts what passes through it on the way to `target`."""

    def __init__(self, target: BinaryIO):
        self.target, self.digest, self.size = target, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.target.write(view)
        self.digest.update(view)
        self.size += len(view)
        return len(view)


@dataclass(frozen=True)
class Layer:
    """A layer tar on disk and its `diff_id` (the sha256 of the tar, as Docker names layers)."""

    path: Path
    diff_id: str
    size: int
    description: str

    def to_json(self) -> dict[str, Any]:
        return {"diff_id": self.diff_id, "size": self.size, "description": self.description}

    @classmethod
    def from_json(cls, path: Path, facts: Mapping[str, Any]) -> Layer:
        return cls(path, facts["diff_id"], facts["size"], facts["description"])


def _normalised(info: tarfile.TarInfo, epoch: int) -> tarfile.TarInfo:
    info.mtime = epoch
    info.uname = info.gname = ""
    info.pax_headers = {}
    return info


def write_layer(out: Path, epoch: int, description: str, *, root: Path | None = None,
                paths: Iterable[str] = (), removed: Iterable[str] = (),
                files: Mapping[str, tuple[bytes, int]] | None = None) -> Layer:
    """Write a layer tar: `paths` taken from `root`, whiteouts for `removed`, and `files` (path -> (content,
    mode), owned by root) given in memory. Entries are sorted and carry `epoch` as their time."""
    entries: list[tuple[str, str]] = [(path, "path") for path in paths]
    entries += [(_whiteout(path), "whiteout") for path in removed]
    entries += [(path, "file") for path in (files or {})]
    for parent in sorted({p for path, _ in entries for p in _parents(path)} - {path for path, _ in entries}):
        if root is None or not (root / parent).is_dir():
            entries.append((parent, "folder"))  # a folder this layer needs that no lower layer is known to have
    tmp = out.with_name(out.name + ".partial")
    with open(tmp, "wb") as raw:
        digesting = _Digesting(raw)
        with tarfile.open(fileobj=digesting, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            for name, kind in sorted(entries):
                if kind == "path":
                    assert root is not None
                    found = tar.gettarinfo(str(root / name), arcname=name)
                    if found is None:
                        continue  # a socket: nothing a layer can hold
                    info = _normalised(found, epoch)
                    if info.isreg():
                        with open(root / name, "rb") as stream:
                            tar.addfile(info, stream)
                    else:
                        tar.addfile(info)
                    continue
                info = tarfile.TarInfo(name)
                if kind == "folder":
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                elif kind == "file":
                    assert files is not None
                    data, info.mode = files[name]
                    info.size = len(data)
                tar.addfile(_normalised(info, epoch), io.BytesIO(data) if kind == "file" else None)
    tmp.rename(out)
    return Layer(out, "sha256:" + digesting.digest.hexdigest(), digesting.size, description)


def _parents(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _whiteout(path: str) -> str:
    folder, _, name = path.rpartition("/")
    return f"{folder}/.wh.{name}" if folder else f".wh.{name}"


def apply_whiteouts(root: Path, layer: Layer) -> None:
    """After `tar -x` of a layer into `root`: what its whiteouts say was removed goes, and the markers too."""
    with tarfile.open(layer.path) as tar:
        markers = [member.name for member in tar if os.path.basename(member.name).startswith(".wh.")]
    for marker in markers:
        folder, _, name = marker.rpartition("/")
        target = root / folder / name.removeprefix(".wh.")
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        (root / marker).unlink(missing_ok=True)


def image_config(layers: list[Layer], epoch: int, config: Mapping[str, Any]) -> bytes:
    """The image's config JSON: its ID is the sha256 of exactly these bytes."""
    from datetime import UTC, datetime

    created = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    document = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": dict(config),
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [{"created": created, "created_by": layer.description} for layer in layers],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def image_id(config: bytes) -> str:
    return "sha256:" + hashlib.sha256(config).hexdigest()


def write_archive(out: BinaryIO, images: Mapping[str, tuple[list[Layer], bytes]]) -> None:
    """A docker-archive (what `docker save` writes, `docker load` reads) of the tagged images given as
    tag -> (layers, config); a layer two images share is written once."""
    manifest: list[dict[str, Any]] = []
    written: set[str] = set()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for tag, (layers, config) in images.items():
            config_name = image_id(config).removeprefix("sha256:") + ".json"
            _add_bytes(tar, config_name, config)
            for layer in layers:
                name = layer.diff_id.removeprefix("sha256:") + "/layer.tar"
                if name not in written:
                    written.add(name)
                    info = tarfile.TarInfo(name)
                    info.size = layer.size
                    with open(layer.path, "rb") as content:
                        tar.addfile(info, content)
            manifest.append({"Config": config_name, "RepoTags": [tag],
                             "Layers": [layer.diff_id.removeprefix("sha256:") + "/layer.tar" for layer in layers]})
        _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())


def _add_bytes(tar: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    tar.addfile(info, io.BytesIO(content))
