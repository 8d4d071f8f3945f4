"""Benchmark of the process executor: LocalStack ready time, cold start, warm invoke, memory.

Prints medians over repeated runs, each next to a baseline measured in the same run:
- ready: no baseline is meaningful, so it is reported alone against its 1.5 s target (issue 26);
- one scenario's `harness run` from its spawn to its job's invoke (bench/first_job.py), against ready;
- cold start, the first function's and a later one's: against a bare `python -S -c pass` of the same
  interpreter;
- warm invoke: against a GET of LocalStack's health endpoint (the gateway's own floor);
- memory: against a bare `python -S` process's resident set.

Run: .venv/bin/python bench/bench_executor.py [--runs 5]
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness import runtimes as interpreters  # noqa: E402
from harness.services import EmbeddedLocalStack  # noqa: E402
from harness.stack.lambda_api import wait_active, zip_sources  # noqa: E402

TRIVIAL = "def handler(event, context):\n    return 1\n"
WITH_BOTO3 = (
    "import os\nimport boto3\nCLIENT = boto3.client('sqs')\n"
    "def handler(event, context):\n    return os.getpid()\n"  # which process is its environment
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def bare_python_start_ms(python: Path) -> float:
    started = time.perf_counter()
    subprocess.run([str(python), "-S", "-c", "pass"], check=True)
    return (time.perf_counter() - started) * 1000


def bare_python_rss_mb(python: Path) -> float:
    proc = subprocess.Popen([str(python), "-S", "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(0.3)
        return psutil.Process(proc.pid).memory_info().rss / 2**20
    finally:
        proc.kill()
        proc.wait()


def one_run(run: int, warm_invokes: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    localstack = EmbeddedLocalStack(quiet=True)
    started = time.perf_counter()
    endpoint = localstack.start()
    figures["ready_s"] = time.perf_counter() - started
    try:
        lam, iam = endpoint.client("lambda"), endpoint.client("iam")
        role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        for name, source in (("trivial", TRIVIAL), ("trivial2", TRIVIAL), ("boto3", WITH_BOTO3)):
            lam.create_function(FunctionName=name, Runtime="python3.13", Role=role, Handler="h.handler",
                                Code={"ZipFile": zip_sources({"h.py": source})}, MemorySize=256)
            wait_active(lam, name)

        # Cold start: the first invoke of a new function starts its environment.
        started = time.perf_counter()
        response = lam.invoke(FunctionName="trivial", LogType="Tail")
        figures["cold_invoke_ms"] = (time.perf_counter() - started) * 1000
        report = base64.b64decode(response["LogResult"]).decode()
        figures["init_duration_ms"] = float(re.search(r"Init Duration: ([\d.]+) ms", report)[1])
        # A later cold start: another function of the same runtime, whose template is warm by now.
        response = lam.invoke(FunctionName="trivial2", LogType="Tail")
        report = base64.b64decode(response["LogResult"]).decode()
        figures["later_init_duration_ms"] = float(re.search(r"Init Duration: ([\d.]+) ms", report)[1])

        latencies = []
        for _ in range(warm_invokes):
            started = time.perf_counter()
            lam.invoke(FunctionName="trivial", Payload=b"{}")
            latencies.append((time.perf_counter() - started) * 1000)
        figures["warm_p50_ms"] = percentile(latencies, 0.5)
        figures["warm_p90_ms"] = percentile(latencies, 0.9)

        health = []
        for _ in range(warm_invokes):
            started = time.perf_counter()
            urllib.request.urlopen(f"{endpoint.url}/_localstack/health").read()
            health.append((time.perf_counter() - started) * 1000)
        figures["gateway_p50_ms"] = percentile(health, 0.5)

        # The environment's process (a fork of its runtime's template) says which it is; it must be LocalStack's.
        pid = int(lam.invoke(FunctionName="boto3")["Payload"].read())
        environment = psutil.Process(pid)
        if environment not in psutil.Process(localstack.process.pid).children(recursive=True):
            raise SystemExit(f"process {pid} is not under LocalStack: nothing to measure")
        memory = environment.memory_full_info()
        figures["env_rss_boto3_mb"] = memory.rss / 2**20
        figures["env_uss_boto3_mb"] = memory.uss / 2**20
        figures["env_pss_boto3_mb"] = memory.pss / 2**20
    finally:
        localstack.stop()
    print(f"  run {run}: " + ", ".join(f"{k}={v:.1f}" for k, v in figures.items()), flush=True)
    return figures


FIRST_JOB_SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "worker-exception-job-failed.yaml"


def first_job_s() -> float:
    """`harness run` of one scenario, from the command's spawn to its job's invoke (bench/first_job.py)."""
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("first_job.py")), repr(time.time()),
                           str(FIRST_JOB_SCENARIO)], capture_output=True, text=True, check=False)
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise SystemExit(f"first_job.py said nothing to measure:\n{done.stdout[-2000:]}{done.stderr[-2000:]}") from None
    if not answer["passed"] or answer["to_job_s"] is None:
        raise SystemExit(f"the scenario did not run its job: {answer}")
    return float(answer["to_job_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warm-invokes", type=int, default=200)
    args = parser.parse_args()
    python = interpreters.find_python("python3.13")
    runs = [one_run(i + 1, args.warm_invokes) for i in range(args.runs)]
    for run in runs:
        run["first_job_s"] = first_job_s()
        print(f"  one scenario to its job: {run['first_job_s']:.2f} s", flush=True)
    bare_start = statistics.median(bare_python_start_ms(python) for _ in range(args.runs * 3))
    bare_rss = statistics.median(bare_python_rss_mb(python) for _ in range(3))

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    rows = [
        ("LocalStack start to ready", f"{med('ready_s'):.2f} s", "<= 1.5 s", ""),
        ("one scenario's `harness run`, spawn to its job", f"{med('first_job_s'):.2f} s", "<= 3 s",
         f"{med('first_job_s') / med('ready_s'):.1f}x LocalStack ready"),
        ("cold start (Init Duration, trivial handler)", f"{med('init_duration_ms'):.0f} ms", "<= 150 ms",
         f"{med('init_duration_ms') / bare_start:.1f}x bare `python -S -c pass` ({bare_start:.0f} ms)"),
        ("a later cold start (another function)", f"{med('later_init_duration_ms'):.0f} ms", "<= 40 ms",
         f"{med('later_init_duration_ms') / bare_start:.1f}x bare `python -S -c pass`"),
        ("cold first invoke, client side", f"{med('cold_invoke_ms'):.0f} ms", "", ""),
        ("warm invoke p50", f"{med('warm_p50_ms'):.1f} ms", "<= 15 ms",
         f"{med('warm_p50_ms') / med('gateway_p50_ms'):.1f}x a health GET ({med('gateway_p50_ms'):.1f} ms)"),
        ("warm invoke p90", f"{med('warm_p90_ms'):.1f} ms", "", ""),
        ("memory per environment, boto3 imported (RSS)", f"{med('env_rss_boto3_mb'):.0f} MB", "<= 70 MB",
         f"{med('env_rss_boto3_mb') / bare_rss:.1f}x a bare `python -S` ({bare_rss:.0f} MB)"),
        ("  of which unique to it (USS)", f"{med('env_uss_boto3_mb'):.0f} MB", "", ""),
        ("  its share of pages shared with others (PSS)", f"{med('env_pss_boto3_mb'):.0f} MB", "", ""),
    ]
    zeros = [label for label, value, _, _ in rows if value.split()[0] in ("0", "0.0", "0.00")]
    if zeros:
        raise SystemExit(f"nothing measured for: {', '.join(zeros)}")
    print(f"\nmedians over {args.runs} runs ({args.warm_invokes} warm invokes each):")
    for label, value, target, baseline in rows:
        print(f"  {label:<48} {value:>9}  {target:<10} {baseline}")


if __name__ == "__main__":
    main()
