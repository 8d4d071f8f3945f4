"""Benchmark of the seed pipeline on the embedded LocalStack and PostgreSQL.

Prints, as medians over repeated runs:
- deploy time of the whole pipeline, cold (first deploy, zips built) and warm (zips cached), next to the
  time of one bare `create_function` + Active of a trivial zip in the same run as a baseline;
- wall time of a 1,000-file job with shard size 10 from the orchestrator call to the last row loaded,
  with the peak number of live execution environments and their total resident memory.

With `--baseline DIR` (a checkout of another revision, e.g. `git worktree add /tmp/base <rev>`), it also
times the deploy alone, first and warm, of this tree and of DIR in alternation, each in a LocalStack of its
own (`bench/deploy_once.py`), and prints both with their ratio: the CloudFormation deploy from
lambdas/template.yaml against the boto3 deploy it replaced, in the same run.

Run: .venv/bin/python bench/bench_pipeline.py [--runs 3] [--files 1000] [--baseline DIR] [--deploy-only]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.services import EmbeddedLocalStack  # noqa: E402
from harness.stack.database import EmbeddedPostgres  # noqa: E402
from harness.stack.lambda_api import wait_active, zip_sources  # noqa: E402
from harness.stack.pipeline import PipelineStack, unique_prefix  # noqa: E402


def _parent(proc: psutil.Process) -> int | None:
    try:
        return proc.ppid()
    except psutil.Error:
        return None


class EnvironmentSampler:
    """Samples the execution environments under LocalStack (forks of a runtime's template, or fresh
    `awslambdaric` interpreters): peak count, and peak total RSS and PSS (forks share pages, which RSS counts
    in each; PSS splits them)."""

    def __init__(self, localstack_pid: int) -> None:
        self.root = psutil.Process(localstack_pid)
        self.peak_count = 0
        self.peak_rss_mb = 0.0
        self.peak_pss_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def environments(self) -> list[psutil.Process]:
        processes = self.root.children(recursive=True)
        commands = {}
        for proc in processes:
            try:
                commands[proc.pid] = " ".join(proc.cmdline())
            except psutil.Error:  # exited (or a zombie) between listing and reading
                pass
        # A runtime's template is a `zygote_server.py` started by LocalStack; its forks (same command line)
        # are the environments, as are fresh `awslambdaric` interpreters.
        templates = {proc.pid for proc in processes if "zygote_server.py" in commands.get(proc.pid, "")
                     and _parent(proc) == self.root.pid}
        return [proc for proc in processes if proc.pid in commands
                and ("awslambdaric" in commands[proc.pid] or _parent(proc) in templates)]

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            count, rss, pss = 0, 0.0, 0.0
            for proc in self.environments():
                try:
                    memory = proc.memory_full_info()
                except psutil.Error:
                    continue
                count, rss, pss = count + 1, rss + memory.rss / 2**20, pss + memory.pss / 2**20
            self.peak_count = max(self.peak_count, count)
            self.peak_rss_mb = max(self.peak_rss_mb, rss)
            self.peak_pss_mb = max(self.peak_pss_mb, pss)

    def __enter__(self) -> EnvironmentSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def one_run(run: int, files: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    localstack = EmbeddedLocalStack(quiet=True)
    endpoint = localstack.start()
    database = EmbeddedPostgres(max_connections=500).start()
    try:
        lam, iam = endpoint.client("lambda"), endpoint.client("iam")
        role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        started = time.perf_counter()
        PipelineStack(endpoint, database.url, unique_prefix("cold")).deploy()
        figures["deploy_first_s"] = time.perf_counter() - started
        # Baseline, measured once the Lambda service is warm: one trivial function to Active.
        started = time.perf_counter()
        lam.create_function(FunctionName="baseline", Runtime="python3.13", Role=role, Handler="h.handler",
                            Code={"ZipFile": zip_sources({"h.py": "def handler(e, c):\n    return 1\n"})})
        wait_active(lam, "baseline")
        figures["baseline_function_s"] = time.perf_counter() - started

        started = time.perf_counter()
        stack = PipelineStack(endpoint, database.url, unique_prefix("bench")).deploy()
        figures["deploy_warm_s"] = time.perf_counter() - started

        job = {"job_id": "bench", "file_ids": [f"f-{i:05d}" for i in range(files)], "shard_size": 10}
        with EnvironmentSampler(localstack.process.pid) as sampler:
            started = time.perf_counter()
            stack.run_job(job)
            deadline = started + 300
            while len(stack.db.rows_per_file()) < files:
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"only {len(stack.db.rows_per_file())} of {files} files loaded in 300 s")
                time.sleep(0.1)
            figures["job_wall_s"] = time.perf_counter() - started
        figures["peak_environments"] = sampler.peak_count
        figures["peak_environments_rss_mb"] = sampler.peak_rss_mb
        figures["peak_environments_pss_mb"] = sampler.peak_pss_mb
        if not sampler.peak_count:
            raise SystemExit("no execution environment was seen during the job: nothing to measure")
    finally:
        database.stop()
        localstack.stop()
    print(f"  run {run}: " + ", ".join(f"{k}={v:.2f}" for k, v in figures.items()), flush=True)
    return figures


REPO = Path(__file__).resolve().parents[1]


def deploy_only(tree: Path, warm_runs: int) -> dict[str, object]:
    """First and warm deploy times of the checkout `tree`, in a LocalStack of its own."""
    env = dict(os.environ, TREE=str(tree), PYTHONPATH=str(tree))
    result = subprocess.run([sys.executable, str(REPO / "bench" / "deploy_once.py"), str(warm_runs)], cwd=tree,
                            env=env, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"deploy_once.py in {tree} failed:\n{result.stderr[-3000:]}")
    figures: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


def compare_deploys(baseline: Path, runs: int, warm_runs: int = 5) -> None:
    mine: list[dict[str, object]] = []
    theirs: list[dict[str, object]] = []
    for run in range(1, runs + 1):
        for tree, into in ((REPO, mine), (baseline, theirs)):
            figures = deploy_only(tree, warm_runs)
            into.append(figures)
            warm = statistics.median(figures["deploy_warm_s"])  # type: ignore[arg-type]
            print(f"  deploy run {run} {'this tree' if tree == REPO else 'baseline '}: first "
                  f"{figures['deploy_first_s']:.2f} s, warm median {warm:.2f} s", flush=True)

    def first(runs_: list[dict[str, object]]) -> float:
        return statistics.median(float(r["deploy_first_s"]) for r in runs_)  # type: ignore[arg-type]

    def warm(runs_: list[dict[str, object]]) -> float:
        return statistics.median(w for r in runs_ for w in r["deploy_warm_s"])  # type: ignore[attr-defined]

    print(f"\ndeploy, medians over {runs} runs each (warm: {warm_runs} deploys per run), baseline {baseline}:")
    print(f"  warm   this tree {warm(mine):5.2f} s   baseline {warm(theirs):5.2f} s   ratio "
          f"{warm(mine) / warm(theirs):.2f}   budget <= 1 s")
    print(f"  first  this tree {first(mine):5.2f} s   baseline {first(theirs):5.2f} s   ratio "
          f"{first(mine) / first(theirs):.2f}   budget <= 3 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--baseline", type=Path, default=None, help="a checkout of the revision to compare with")
    parser.add_argument("--deploy-only", action="store_true", help="only the deploy comparison (needs --baseline)")
    args = parser.parse_args()
    if args.baseline is not None:
        compare_deploys(args.baseline.resolve(), args.runs)
    if args.deploy_only:
        return
    runs = [one_run(i + 1, args.files) for i in range(args.runs)]

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    print(f"\nmedians over {args.runs} runs:")
    print(f"  deploy whole pipeline, warm (zips cached)   {med('deploy_warm_s'):6.2f} s   target <= 0.5 s   "
          f"{med('deploy_warm_s') / med('baseline_function_s'):.1f}x one trivial function "
          f"({med('baseline_function_s'):.2f} s)")
    print(f"  deploy whole pipeline, first in a LocalStack {med('deploy_first_s'):5.2f} s")
    print(f"  {args.files}-file job, shard 10, to last row   {med('job_wall_s'):6.2f} s   target <= 20 s")
    print(f"  peak live environments                      {med('peak_environments'):6.0f}")
    print(f"  their peak total RSS                        {med('peak_environments_rss_mb'):6.0f} MB")
    print(f"  their peak total PSS (shared pages split)   {med('peak_environments_pss_mb'):6.0f} MB")


if __name__ == "__main__":
    main()
