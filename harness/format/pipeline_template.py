"""The seed pipeline's template parameters and their defaults.

`lambdas/template.yaml` is the one source of a scenario's defaults: a setting a scenario leaves out is the
template's default (a worker Timeout of 900 s, JOB NOT RUN over 1 day), the value a team deploys, and the
harness passes it as that parameter. The parameters section holds no CloudFormation tags, so a plain YAML
reader that ignores the tags elsewhere in the file reads it.
"""

from __future__ import annotations

import functools
from typing import Any

import yaml

from harness import paths

TEMPLATE = paths.LAMBDAS / "template.yaml"


class _IgnoringTags(yaml.SafeLoader):
    """YAML's safe loader, with CloudFormation's short tags (`!Ref`, `!Sub`, ...) read as nothing."""


_IgnoringTags.add_multi_constructor("!", lambda loader, suffix, node: None)


@functools.cache
def parameter_defaults() -> dict[str, Any]:
    """Every parameter of the pipeline's template with a default, by name."""
    data = yaml.load(TEMPLATE.read_text(), Loader=_IgnoringTags)  # noqa: S506 - a SafeLoader subclass
    return {name: spec["Default"] for name, spec in (data.get("Parameters") or {}).items() if "Default" in spec}


def default(parameter: str) -> Any:
    return parameter_defaults()[parameter]
