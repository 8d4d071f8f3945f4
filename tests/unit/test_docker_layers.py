"""Layers and docker-archives written by hand (harness/docker/layers.py): the same files give the same bytes,
and so the same image ID, whatever their times and whoever owns the names; a later layer holds exactly what a
step changed, deletions as whiteouts. No Docker engine needed."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

from harness.docker import layers

EPOCH = 1772323200


def make_tree(root: Path, mtime: int) -> Path:
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "usr" / "bin" / "tool").write_text("#!/bin/sh\necho tool\n")
    (root / "usr" / "bin" / "tool").chmod(0o755)
    (root / "etc").mkdir()
    (root / "etc" / "config").write_text("a=1\n")
    (root / "etc" / "hostname").write_text("the-build-host\n")  # Docker's own: never in a layer
    (root / "tmp" / "scratch").mkdir(parents=True)
    (root / "tmp" / "scratch" / "junk").write_text("x")  # scratch space: never in a layer
    os.symlink("bin/tool", root / "usr" / "link")
    os.link(root / "etc" / "config", root / "etc" / "config-again")
    for path in sorted(root.rglob("*"), reverse=True):
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    return root


def full_layer(root: Path, out: Path) -> layers.Layer:
    return layers.write_layer(out, EPOCH, "full", root=root, paths=sorted(layers.snapshot(root)))


def test_the_same_files_at_other_times_give_the_same_layer(tmp_path: Path) -> None:
    first = full_layer(make_tree(tmp_path / "a", 1_000_000_000), tmp_path / "a.tar")
    second = full_layer(make_tree(tmp_path / "b", 1_700_000_000), tmp_path / "b.tar")
    assert first.diff_id == second.diff_id
    assert first.path.read_bytes() == second.path.read_bytes()
    with tarfile.open(first.path) as tar:
        members = {member.name: member for member in tar}
    assert "etc/hostname" not in members and "tmp/scratch" not in members and "tmp" in members
    assert {member.mtime for member in members.values()} == {EPOCH}
    assert {(member.uname, member.gname) for member in members.values()} == {("", "")}
    assert members["usr/link"].issym() and members["usr/link"].linkname == "bin/tool"
    assert members["etc/config-again"].islnk() and members["etc/config-again"].linkname == "etc/config"
    assert members["usr/bin/tool"].mode == 0o755


def test_other_content_gives_another_layer(tmp_path: Path) -> None:
    first = full_layer(make_tree(tmp_path / "a", 1_000_000_000), tmp_path / "a.tar")
    changed = make_tree(tmp_path / "b", 1_000_000_000)
    (changed / "usr" / "bin" / "tool").chmod(0o700)
    assert full_layer(changed, tmp_path / "b.tar").diff_id != first.diff_id


def test_a_layer_over_another_holds_what_changed_and_whiteouts_for_what_went(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "root", 1_000_000_000)
    before = layers.snapshot(root)
    (root / "opt" / "harness").mkdir(parents=True)
    (root / "opt" / "harness" / "new").write_text("new")
    (root / "etc" / "config").write_text("a=2\n")
    (root / "usr" / "link").unlink()
    (root / "tmp" / "scratch" / "more").write_text("y")
    changed, removed = layers.changes(before, layers.snapshot(root))
    assert removed == ["usr/link"]
    assert {"opt", "opt/harness", "opt/harness/new", "etc/config"} <= set(changed)
    assert "tmp/scratch/more" not in changed and "usr/bin/tool" not in changed
    layer = layers.write_layer(tmp_path / "upper.tar", EPOCH, "upper", root=root, paths=changed, removed=removed)
    with tarfile.open(layer.path) as tar:
        names = tar.getnames()
    assert names == sorted(names) and "usr/.wh.link" in names

    # Unpacked over the lower folder, as an engine does: the whiteout removes what it names.
    lower = make_tree(tmp_path / "lower", 1_000_000_000)
    with tarfile.open(layer.path) as tar:
        tar.extractall(lower, filter="tar")
    layers.apply_whiteouts(lower, layer)
    assert not (lower / "usr" / "link").exists() and not (lower / "usr" / ".wh.link").exists()
    assert (lower / "opt" / "harness" / "new").read_text() == "new"


def test_a_removed_folder_is_one_whiteout() -> None:
    before = {"a": (0o40755, 0, 0, 0, 1, None), "a/b": (0o100644, 0, 0, 1, 1, None), "c": (0o100644, 0, 0, 1, 1, None)}
    assert layers.changes(before, {"c": before["c"]}) == ([], ["a"])


def test_files_given_in_memory_get_their_folders(tmp_path: Path) -> None:
    layer = layers.write_layer(tmp_path / "files.tar", EPOCH, "scripts",
                               files={"usr/local/bin/tool": (b"#!/bin/sh\n", 0o755)})
    with tarfile.open(layer.path) as tar:
        assert [(m.name, m.isdir(), m.mode) for m in tar] == [
            ("usr", True, 0o755), ("usr/local", True, 0o755), ("usr/local/bin", True, 0o755),
            ("usr/local/bin/tool", False, 0o755)]


def test_the_image_id_is_the_digest_of_a_config_that_names_its_layers(tmp_path: Path) -> None:
    base = full_layer(make_tree(tmp_path / "a", 1_000_000_000), tmp_path / "a.tar")
    scripts = layers.write_layer(tmp_path / "s.tar", EPOCH, "scripts", files={"x": (b"x", 0o644)})
    config = layers.image_config([base, scripts], EPOCH, {"Cmd": ["harness", "up"]})
    assert config == layers.image_config([base, scripts], EPOCH, {"Cmd": ["harness", "up"]})
    document = json.loads(config)
    assert document["created"] == "2026-03-01T00:00:00Z"
    assert document["rootfs"]["diff_ids"] == [base.diff_id, scripts.diff_id]
    assert layers.image_id(config) != layers.image_id(layers.image_config([base], EPOCH, {"Cmd": ["harness", "up"]}))

    # Two images sharing a layer: the archive holds it once, and each manifest entry names its own layers.
    archive = io.BytesIO()
    other = layers.image_config([base], EPOCH, {"Cmd": ["sh"]})
    layers.write_archive(archive, {"one:latest": ([base, scripts], config), "two:latest": ([base], other)})
    archive.seek(0)
    with tarfile.open(fileobj=archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert names.count(base.diff_id.removeprefix("sha256:") + "/layer.tar") == 1
    assert [entry["RepoTags"] for entry in manifest] == [["one:latest"], ["two:latest"]]
    assert manifest[0]["Config"] == layers.image_id(config).removeprefix("sha256:") + ".json"
    assert len(manifest[0]["Layers"]) == 2 and len(manifest[1]["Layers"]) == 1
