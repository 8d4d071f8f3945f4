"""What real templates use, in the executor: layers unpacked into an /opt of the environment's own with
python/ on sys.path as AWS puts it, and AWS_LAMBDA_EXEC_WRAPPER run around the runtime as AWS runs it."""

from __future__ import annotations

from harness.stack.lambda_api import zip_sources
from tests.integration.conftest import invoke, unique_name

USES_LAYER = """
import os, sys
import shared_greeting            # from the layer's python/
import deep_module                # from the layer's python/lib/python3.X/site-packages/
def handler(event, context):
    return {"greeting": shared_greeting.GREETING, "deep": deep_module.VALUE, "path": sys.path,
            "wrapped": os.environ.get("WRAPPED_BY"), "argv0": os.environ.get("WRAPPER_ARGS")}
"""

WRAPPER = """#!/bin/sh
# An exec wrapper as AWS documents it: set something up, then run the runtime's own command.
export WRAPPED_BY=layer-wrapper
export WRAPPER_ARGS="$*"
exec "$@"
"""


def _layer(lam, files: dict[str, str]) -> str:
    name = unique_name("layer")
    return lam.publish_layer_version(LayerName=name, Content={"ZipFile": zip_sources(files)},
                                     CompatibleRuntimes=["python3.13"])["LayerVersionArn"]


def test_a_layer_is_on_sys_path_after_the_code_and_before_the_runtime(aws, deploy):
    lam = aws("lambda")
    layer = _layer(lam, {"python/shared_greeting.py": "GREETING = 'hello from a layer'\n",
                         "python/lib/python3.13/site-packages/deep_module.py": "VALUE = 42\n"})
    name = deploy(USES_LAYER, Layers=[layer])
    response, body = invoke(lam, name, {})
    assert "FunctionError" not in response, body
    assert body["greeting"] == "hello from a layer" and body["deep"] == 42
    path = body["path"]
    site = next(i for i, p in enumerate(path) if p.endswith("/opt/python/lib/python3.13/site-packages"))
    python = next(i for i, p in enumerate(path) if p.endswith("/opt/python"))
    runtime = next(i for i, p in enumerate(path) if "runtimes" in p)
    assert 0 < site < python < runtime, path  # AWS's order: code, layers, runtime
    assert body["wrapped"] is None


def test_a_later_layer_overrides_an_earlier_ones_file(aws, deploy):
    lam = aws("lambda")
    first = _layer(lam, {"python/shared_greeting.py": "GREETING = 'first'\n",
                         "python/deep_module.py": "VALUE = 1\n"})
    second = _layer(lam, {"python/shared_greeting.py": "GREETING = 'second'\n"})
    name = deploy(USES_LAYER, Layers=[first, second])
    _, body = invoke(lam, name, {})
    assert body["greeting"] == "second" and body["deep"] == 1


def test_aws_lambda_exec_wrapper_from_a_layer_wraps_the_runtime(aws, deploy):
    lam = aws("lambda")
    layer = _layer(lam, {"wrapper.sh": WRAPPER, "python/shared_greeting.py": "GREETING = 'g'\n",
                         "python/deep_module.py": "VALUE = 0\n"})
    name = deploy(USES_LAYER, Layers=[layer], env={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/wrapper.sh"})
    response, body = invoke(lam, name, {})
    assert "FunctionError" not in response, body
    assert body["wrapped"] == "layer-wrapper"
    assert "-m awslambdaric handler.handler" in body["argv0"]  # it was given the runtime's command


def test_an_exec_wrapper_that_does_not_exist_fails_the_invocation_with_aws_error_type(aws, deploy):
    lam = aws("lambda")
    name = deploy(USES_LAYER, env={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/missing.sh"})
    response, body = invoke(lam, name, {})
    assert response.get("FunctionError") == "Unhandled", body
    assert body["errorType"] == "Runtime.InvalidWrapper" and "/opt/missing.sh" in body["errorMessage"], body
