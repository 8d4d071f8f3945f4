"""The JSON Schema of scenario files, for editors (yaml-language-server, VS Code, JetBrains)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness import paths
from harness.kinds import EXPECTATION_KINDS

from .pipeline import Scenario

# The shipped copy lives next to the shipped scenarios, which point at it with a relative $schema
# (an installed wheel carries it too: harness.paths).
DEFAULT_SCHEMA_PATH = paths.SCHEMA
SCHEMA_FILENAME = DEFAULT_SCHEMA_PATH.name


def json_schema() -> dict[str, Any]:
    """The schema of a scenario file as it is written in YAML."""
    schema = Scenario.model_json_schema()
    definitions = schema["$defs"]
    # The model keeps an expectation's kind in a `kind` field; the file spells it as the item's only key.
    # Rewrite the schema to the file's shape so that an editor completes and checks what a person types.
    items = schema["properties"]["expect"]["items"]
    mapping = items["discriminator"]["mapping"]
    keyed = []
    for kind in EXPECTATION_KINDS:
        reference = mapping[kind]
        definition = definitions[reference.rsplit("/", 1)[-1]]
        definition["properties"].pop("kind", None)
        if "kind" in definition.get("required", []):
            definition["required"].remove("kind")
        keyed.append(
            {
                "type": "object",
                "properties": {kind: {"$ref": reference}},
                "required": [kind],
                "additionalProperties": False,
            }
        )
    schema["properties"]["expect"]["items"] = {"oneOf": keyed}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "harness scenario",
        **{key: value for key, value in schema.items() if key != "title"},
    }


def render_json_schema() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_json_schema(path: str | Path = DEFAULT_SCHEMA_PATH) -> Path:
    """Write the schema (for `harness schema` or a release step); returns where it went."""
    target = Path(path)
    target.write_text(render_json_schema(), encoding="utf-8")
    return target
