"""Benchmark of the Docker path: image build time, image size, container start-to-ready.

Prints:
- build: `harness image build` without any cache (a fresh cache folder: mmdebstrap, pip, the layers), then the
  same again with that cache (only the harness wheel is rebuilt and compared); `--no-build` skips both;
- size: each image as the engine reports it, and what the two share;
- start-to-ready: medians over `--runs` of `harness up --docker` from its start to its DATABASE_URL line, next
  to the embedded `harness up --database` measured the same way.
It fails, printing why, when there is nothing to measure (no engine, no images): it never prints 0.

Run (as root, with a Docker engine): .venv/bin/python bench/bench_docker.py [--runs 5] [--no-build]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HARNESS = [sys.executable, "-m", "harness.cli"]
IMAGES = ("harness-localstack:latest", "harness-postgres:latest")


def timed_build(cache: Path, *extra: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([*HARNESS, "image", "build", *extra], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "HARNESS_IMAGE_CACHE": str(cache)}, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench_docker: harness image build failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def start_to_ready(arguments: list[str], run_dir: Path) -> float:
    """Seconds from starting `harness up ARGUMENTS` to its DATABASE_URL line; then it is stopped."""
    env = {k: v for k, v in os.environ.items() if k not in ("HARNESS_ENDPOINT", "DATABASE_URL")}
    env["HARNESS_RUN_DIR"] = str(run_dir)
    started = time.perf_counter()
    up = subprocess.Popen([*HARNESS, "up", *arguments], cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    try:
        assert up.stdout is not None
        for line in up.stdout:
            if line.startswith("DATABASE_URL="):
                return time.perf_counter() - started
        raise SystemExit(f"bench_docker: harness up {' '.join(arguments)} ended before it was ready:\n"
                         f"{up.stderr.read()[-3000:] if up.stderr else ''}")
    finally:
        up.terminate()
        up.wait(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="starts of each kind (default 5)")
    parser.add_argument("--no-build", action="store_true", help="measure the images already built")
    args = parser.parse_args()

    import docker

    try:
        client = docker.from_env(version="auto", timeout=30)
    except Exception as error:  # noqa: BLE001
        print(f"bench_docker: nothing to measure: no Docker engine answered ({error})", file=sys.stderr)
        return 1
    if not args.no_build:
        with tempfile.TemporaryDirectory(prefix="bench-images-", dir=Path.home() / ".cache") as cache:
            full = timed_build(Path(cache), "--no-cache")
            cached = timed_build(Path(cache))
        print(f"image build, no cache (mmdebstrap, pip, layers; load if the engine lacks them): {full:.0f} s")
        print(f"image build, all layers cached (the harness wheel rebuilt and compared):       {cached:.1f} s")
    try:
        images = {tag: client.images.get(tag) for tag in IMAGES}
    except docker.errors.ImageNotFound as error:
        print(f"bench_docker: nothing to measure: {error} (make images)", file=sys.stderr)
        return 1
    layers = {tag: image.attrs["RootFS"]["Layers"] for tag, image in images.items()}
    for tag, image in images.items():
        print(f"image size {tag}: {image.attrs['Size'] / 1e6:.0f} MB ({len(layers[tag])} layers, {image.short_id})")
    own = [layer for layer in layers[IMAGES[1]] if layer not in layers[IMAGES[0]]]
    print(f"  harness-postgres has {len(own)} layer(s) of its own: " + (
        "on disk it adds nothing to harness-localstack" if not own else "see `docker system df -v` for their size"))

    with tempfile.TemporaryDirectory(prefix="bench-docker-") as runs:
        docker_s = [start_to_ready(["--docker"], Path(runs)) for _ in range(args.runs)]
        embedded_s = [start_to_ready(["--database"], Path(runs)) for _ in range(args.runs)]
    print(f"start-to-ready, harness up --docker (2 containers): median {statistics.median(docker_s):.2f} s "
          f"(min {min(docker_s):.2f}, max {max(docker_s):.2f}, {args.runs} runs)")
    print(f"start-to-ready, harness up --database (embedded):   median {statistics.median(embedded_s):.2f} s "
          f"(min {min(embedded_s):.2f}, max {max(embedded_s):.2f}, {args.runs} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
