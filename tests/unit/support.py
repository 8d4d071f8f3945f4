"""Helpers shared by the unit tests: the Lambda code imported in-process, and fake AWS clients."""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
import uuid
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
LAMBDAS = REPO_ROOT / "lambdas"

TOPIC_ARN = "arn:aws:sns:us-east-1:000000000000:unit-notifications"
WORKER_FUNCTION = "unit-worker"


def load_handler(name: str) -> ModuleType:
    """lambdas/<name>/handler.py as a module of its own (all three files are called `handler`)."""
    module_name = f"lambda_{name}_handler"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, LAMBDAS / name / "handler.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


class FakeSNS:
    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []
        self.fail_with: Exception | None = None
        self._ids = itertools.count(1)

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        if self.fail_with is not None:
            raise self.fail_with
        self.published.append(kwargs)
        return {"MessageId": f"msg-{next(self._ids)}"}

    def subjects(self) -> list[str]:
        return [message["Subject"] for message in self.published]


class FakeLambda:
    """Records async invokes; `status` is what it answers, `on_invoke` lets a test run the target."""

    def __init__(self) -> None:
        self.invocations: list[dict[str, Any]] = []
        self.status = 202
        self.on_invoke: Any = None

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.invocations.append(kwargs)
        if self.on_invoke is not None:
            self.on_invoke(kwargs)
        return {"StatusCode": self.status}

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(call["Payload"]) for call in self.invocations]


def lambda_context(function_name: str = "unit-function") -> SimpleNamespace:
    return SimpleNamespace(aws_request_id=str(uuid.uuid4()), function_name=function_name)
