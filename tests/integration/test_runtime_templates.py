"""Runtime processes forked from their runtime's template (`harness.localstack.executor.zygote`): a forked runtime is
the process a fresh ``python -S -m awslambdaric`` would be, and a function that would notice the
difference gets a fresh interpreter."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psutil

from harness.services import EmbeddedLocalStack
from harness.stack.lambda_api import wait_active, zip_sources
from harness.waiting import wait_for
from tests.integration.conftest import TRUST_POLICY, invoke

# What a runtime process is, as the function sees it. Not compared: whether boto3 is imported yet and how
# many of botocore's data files came parsed from the template (the documented differences), and values that
# name this environment's own folders.
REPORT = """
import os, sys, time

def _botocore():
    import boto3, botocore.loaders, botocore.session
    client = boto3.client("sns", region_name="us-east-1")
    listed = getattr(botocore.loaders.Loader.list_available_services, "served", None)
    first, second = (botocore.session.Session().get_component("data_loader").load_service_model("sns", "service-2")
                     for _ in range(2))
    return {
        "operations": client.meta.service_model.operation_names,
        "services": botocore.session.Session().get_available_services(),
        "model_per_loader": first == second and first is not second,
    }, (getattr(botocore.loaders.JSONFileLoader.load_file, "handed_out", None), listed)

def handler(event, context):
    code = os.environ["LAMBDA_TASK_ROOT"]
    botocore_data, handed_out = _botocore() if event.get("botocore") else (None, None)
    return {
        "botocore": botocore_data,
        "handed_out": handed_out,
        "pid": os.getpid(), "ppid": os.getppid(),
        "own_group": os.getpgid(0) == os.getpid(),
        "cwd_is_code": os.getcwd() == code,
        "path": [entry.replace(code, "<code>") for entry in sys.path],
        "argv": [os.path.basename(sys.argv[0])] + sys.argv[1:],
        "main": sys.modules["__main__"].__spec__.name if sys.modules["__main__"].__spec__ else None,
        "environ": sorted(os.environ),
        "tz": [time.localtime().tm_gmtoff, os.environ.get("TZ")],
        "stdout": os.readlink("/proc/self/fd/1").endswith("runtime.log"),
        "stderr": os.readlink("/proc/self/fd/2").endswith("runtime.log"),
        "stdin": os.readlink("/proc/self/fd/0"),
        "no_site": sys.flags.no_site,
        "six": getattr(sys.modules.get("six_probe"), "__file__", None),
    }
"""


def _report(lam: Any, name: str, event: dict[str, Any] | None = None) -> dict[str, Any]:
    response, body = invoke(lam, name, event)
    assert "FunctionError" not in response, body
    return body


def _parent_command(report: dict[str, Any]) -> str:
    return " ".join(psutil.Process(report["ppid"]).cmdline())


def test_a_runtime_process_is_forked_from_its_runtimes_template(aws: Callable[[str], Any], deploy) -> None:
    report = _report(aws("lambda"), deploy(REPORT))
    assert "zygote_server.py" in _parent_command(report)
    assert report["own_group"] and report["cwd_is_code"] and report["stdout"] and report["stderr"]
    assert report["stdin"] == "/dev/null"
    assert report["path"][0] == "<code>"


def test_a_forked_runtime_is_the_process_a_fresh_interpreter_would_be(aws: Callable[[str], Any], deploy) -> None:
    env = {"TZ": "Asia/Tokyo"}  # the function's own TZ, which the template's start never saw
    forked = _report(aws("lambda"), deploy(REPORT, env=env), {"botocore": True})
    assert "zygote_server.py" in _parent_command(forked)
    with EmbeddedLocalStack(quiet=True, extra_env={"HARNESS_FORK_RUNTIMES": "0"}) as endpoint:
        lam, iam = endpoint.client("lambda"), endpoint.client("iam")
        role = iam.create_role(RoleName=f"fresh-{uuid.uuid4().hex[:8]}",
                               AssumeRolePolicyDocument=TRUST_POLICY)["Role"]["Arn"]
        lam.create_function(FunctionName="fresh", Runtime="python3.13", Role=role, Handler="handler.handler",
                            Code={"ZipFile": zip_sources({"handler.py": REPORT})},
                            Environment={"Variables": env})
        wait_active(lam, "fresh")
        fresh = _report(lam, "fresh", {"botocore": True})
        assert "harness.localstack.launch" in _parent_command(fresh)
    assert forked["tz"] == fresh["tz"] == [9 * 3600, "Asia/Tokyo"]
    print("FORKED", sorted(set(forked["environ"]) ^ set(fresh["environ"])))
    # botocore's data parsed in the template, and boto3's listing of its services made there
    assert forked["handed_out"][0] > 0 and forked["handed_out"][1] > 0 and fresh["handed_out"] == [None, None]
    assert forked["botocore"]["model_per_loader"] and len(forked["botocore"]["services"]) > 300
    same = {key: value for key, value in forked.items() if key not in ("pid", "ppid", "handed_out")}
    assert same == {key: value for key, value in fresh.items() if key not in ("pid", "ppid", "handed_out")}


def test_a_function_with_its_own_version_of_a_preloaded_module_gets_a_fresh_interpreter(
        aws: Callable[[str], Any], deploy) -> None:
    # six is among what boto3 brings into the template; a function shipping another six must see its own.
    files = {"six.py": "VERSION = 'own'\n", "six-0.0.1.dist-info/METADATA": "Name: six\nVersion: 0.0.1\n"}
    source = REPORT.replace('sys.modules.get("six_probe")', '__import__("six")')
    report = _report(aws("lambda"), deploy(source, files=files))
    assert report["six"].endswith("/six.py") and report["six"].startswith("/") and "runtimes" not in report["six"]
    assert "zygote_server.py" not in _parent_command(report)
    # The same version as the runtime's is the same code: forked.
    same = {"six.py": "VERSION = 'same'\n", "six-1.17.0.dist-info/METADATA": "Name: six\nVersion: 1.17.0\n"}
    assert "zygote_server.py" in _parent_command(_report(aws("lambda"), deploy(source, files=same)))


def test_a_function_setting_a_python_variable_gets_a_fresh_interpreter(aws: Callable[[str], Any], deploy) -> None:
    report = _report(aws("lambda"), deploy(REPORT, env={"PYTHONWARNINGS": "error"}))
    assert "zygote_server.py" not in _parent_command(report)



def test_a_forked_runtime_runs_its_atexit_functions_when_it_exits(aws: Callable[[str], Any], deploy,
                                                                  tmp_path) -> None:
    """As a fresh interpreter does on its way out (here: sys.exit in the handler)."""
    marker = tmp_path / "atexit-ran"
    name = deploy(f"""
        import atexit, os, sys
        def handler(event, context):
            atexit.register(lambda: open({str(marker)!r}, "w").write(str(os.getppid())))
            sys.exit(7)
    """)
    response, body = invoke(aws("lambda"), name)
    assert body["errorType"] == "Runtime.ExitError" and "exit status 7" in body["errorMessage"]
    wait_for(marker.exists, bool, deadline_s=10, what="the atexit function's file")
    assert "zygote_server.py" in " ".join(psutil.Process(int(marker.read_text())).cmdline())


def test_a_killed_template_is_replaced_and_its_runtimes_end_with_it(aws: Callable[[str], Any], deploy) -> None:
    lam = aws("lambda")
    first = _report(lam, deploy(REPORT))
    template = psutil.Process(first["ppid"])
    assert "zygote_server.py" in " ".join(template.cmdline())
    template.kill()
    wait_for(lambda: psutil.pid_exists(first["pid"]), lambda alive: not alive, deadline_s=10,
             what="the killed template's runtime ended with it")
    second = _report(lam, deploy(REPORT))
    assert second["ppid"] != first["ppid"] and "zygote_server.py" in _parent_command(second)


def test_each_runtime_s_template_starts_with_localstack_before_any_function(harness_resources: Any) -> None:
    """The templates start in the background as LocalStack starts (`zygote.prewarm`), so that a function's first
    cold start does not wait for one: the session's LocalStack has them whether or not a function was made."""
    from harness import runtimes

    harness_resources.endpoint()
    localstack = next(iter(harness_resources._localstacks), None)
    if localstack is None or localstack.process is None:
        import pytest

        pytest.skip("attached to a LocalStack the harness did not start (HARNESS_ENDPOINT)")
    installed = {str(runtimes.resolve(runtime).python) for runtime in runtimes.SUPPORTED_RUNTIMES
                 if _installed(runtime)}

    def templates() -> set[str]:
        found = set()
        for child in psutil.Process(localstack.process.pid).children(recursive=True):
            try:
                command = child.cmdline()
            except psutil.Error:
                continue
            if any(part.endswith("zygote_server.py") for part in command):
                found.add(command[0])
        return found

    wait_for(templates, lambda found: found >= installed, deadline_s=30,
             what=f"a runtime template for each installed runtime ({', '.join(sorted(installed))})")


def _installed(runtime: str) -> bool:
    from harness import runtimes

    try:
        runtimes.resolve(runtime)
    except runtimes.RuntimeUnavailable:
        return False
    return True
