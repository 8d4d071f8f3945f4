"""`harness image build` (harness/docker/image.py) before it builds anything: what it says when a tool or the
engine is missing, which requirements go into the image, and which cached layers it keeps. The build itself
runs in `.ci/run` (`make images`) and in bench/bench_docker.py; its layers are tested in test_docker_layers.py."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from harness.docker import image, rootfs
from harness.docker.layers import Layer


def test_a_missing_tool_is_named_with_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda tool: None if tool == "mmdebstrap" else real(tool))
    with pytest.raises(rootfs.BuildError, match="needs mmdebstrap, which is not installed: apt-get install mmdebstrap"):
        rootfs.require_tools()


def test_not_root_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(rootfs.BuildError, match="run it as root"):
        rootfs.require_tools()


def test_without_an_engine_the_command_says_what_to_install(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock", HARNESS_IMAGE_CACHE=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-m", "harness.cli", "image", "build"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 1 and done.stdout == ""
    if os.geteuid() != 0 or shutil.which("mmdebstrap") is None:
        assert "harness image build needs" in done.stderr or "run it as root" in done.stderr
    else:
        assert f"no Docker engine answered at unix://{tmp_path}/no-engine.sock" in done.stderr
        assert "apt-get install docker.io" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_image_gets_the_wheels_requirements_without_extras(tmp_path: Path) -> None:
    wheel = tmp_path / "harness-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("harness-0.1.0.dist-info/METADATA", (
            "Metadata-Version: 2.4\nName: harness\nRequires-Dist: localstack-core[runtime]==2026.3.0\n"
            "Requires-Dist: pyyaml>=6\nProvides-Extra: test\nRequires-Dist: pytest>=9; extra == \"test\"\n"))
    assert image.requirements(wheel) == ["localstack-core[runtime]==2026.3.0", "pyyaml>=6"]


def test_the_cache_keeps_what_is_in_use_and_the_latest_of_each_stage(tmp_path: Path) -> None:
    cache = image.LayerCache(tmp_path)
    for number, key in enumerate(("oldest", "second", "in-use", "newest")):
        (tmp_path / f"{key}.tar").write_bytes(b"")
        cache.put(key, "harness", Layer(tmp_path / f"{key}.tar", f"sha256:{key}", 0, key))
        stamp = time.time() - 100 * (3 - number) if key != "in-use" else time.time() - 1000
        os.utime(tmp_path / f"{key}.json", (stamp, stamp))
    cache.prune({"in-use"}, per_stage=2)
    assert sorted(path.stem for path in tmp_path.glob("*.tar")) == ["in-use", "newest", "second"]
    assert json.loads((tmp_path / "newest.json").read_text())["stage"] == "harness"
    assert cache.get("oldest") is None and cache.get("newest") is not None


def test_the_command_line_reaches_the_build(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    seen: list[argparse.Namespace] = []

    def fake_build(say, mirror, use_cache):  # type: ignore[no-untyped-def]
        seen.append(argparse.Namespace(mirror=mirror, use_cache=use_cache))
        return {"harness-localstack:latest": "sha256:abc"}

    monkeypatch.setattr(image, "build", fake_build)
    from harness.cli import main

    assert main(["image", "build", "--no-cache", "--mirror", "http://mirror.invalid/debian"]) == 0
    assert seen == [argparse.Namespace(mirror="http://mirror.invalid/debian", use_cache=False)]
    assert capsys.readouterr().out == "harness-localstack:latest sha256:abc\n"
