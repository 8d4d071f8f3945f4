"""Mutants of `lambdas/template.yaml`, one per behaviour-changing property, derived from the template.

    .venv/bin/python scripts/template_mutants.py            # (re)write tests/mutants/template_catalog.yaml
    .venv/bin/python scripts/template_mutants.py --check    # exit 1 when that file is not what this writes

Every property of a resource that changes what the deployed pipeline does gets a mutant (the format of
`tests/mutants/catalog.yaml`: id, bug, file, old, new), which `scripts/mutants.py` (`make mutants`) plants
like the hand-written ones, so that no shipped scenario can pass with that property changed:

- a `!Ref` of a template parameter becomes a fixed value (`Period: !Ref JobNotRunPeriod` -> `Period: 3600`),
  the value `PARAMETER_VALUES` gives: one no scenario sets, so a scenario that sets the parameter sees the
  difference (and so does one that keeps the default);
- an alarm's metric, namespace, dimensions, statistic, comparison, description, actions and ActionsEnabled
  get the value `ALARM_VALUES` gives (another metric, no actions, ...);
- a `!Ref` of a resource (a dead-letter target, a subscription's topic, a function or topic an environment
  variable names) names the next resource of the same type instead (never the function itself, nor a
  topic it is subscribed to, which would make a loop).

A property the generator meets and has no rule for is an error naming it: give it a value, or list it in
`EXEMPT` with the reason no scenario can tell it apart. `tests/unit/test_template_mutants.py` checks that the
file is up to date, that every anchor occurs exactly once, and that every property has a mutant.

The template is read with PyYAML's composer, which keeps each node's position and CloudFormation's short
tags (`!Ref`, `!Sub`), so a mutant replaces exactly the text of one value. Its `old` is the shortest run of
whole lines around that value (from the first one's first non-blank character) that occurs once in the file.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_FILE = "lambdas/template.yaml"
TEMPLATE = REPO_ROOT / TEMPLATE_FILE
OUTPUT = REPO_ROOT / "tests" / "mutants" / "template_catalog.yaml"
REF = "!Ref"

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
ALARM_TYPE = "AWS::CloudWatch::Alarm"

# Function properties that hold several settings: each leaf below them is a property of its own.
EXPANDED = {"EventInvokeConfig": "leaves", "Environment": "leaves", "Events": "children"}


class GeneratorError(Exception):
    """The template has a property this generator has no rule for (or a rule that no longer fits)."""


# -- what each mutated value is ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Fixed:
    """The value a `!Ref` of this parameter is replaced with, and what a stack then gets wrong."""

    value: str
    effect: str


PARAMETER_VALUES: dict[str, Fixed] = {
    # Where the data is: any other value breaks every load, decision or quarantine.
    "DatabaseUrl": Fixed("postgresql://pipeline@127.0.0.1:1/pipeline", "it connects to a database that is not there"),
    "DbSchema": Fixed("public", "it looks for its tables in a schema that does not hold them"),
    "FilesTable": Fixed("loaded_files", "it reads and writes a files table that does not exist"),
    "RowsTable": Fixed("file_rows", "it inserts rows into a table that does not exist"),
    "DecisionsTable": Fixed("error_decisions", "it records its decisions in a table that does not exist"),
    "QuarantineTable": Fixed("quarantined_files", "it quarantines files into a table that does not exist"),
    # Timeouts, memory and retries: values no scenario sets (each stack passes every parameter).
    "OrchestratorTimeout": Fixed("30", "the orchestrator is killed after 30 s"),
    "OrchestratorMemorySize": Fixed("256", "the orchestrator runs out of memory at 256 MB"),
    "OrchestratorMaxRetryAttempts": Fixed("0", "an asynchronous job event that fails is never retried"),
    "WorkerTimeout": Fixed("600", "the worker is killed after 600 s"),
    "WorkerMemorySize": Fixed("256", "the worker runs out of memory at 256 MB"),
    "WorkerMaxRetryAttempts": Fixed("1", "a failing shard always gets 2 attempts"),
    "ErrorHandlerTimeout": Fixed("30", "the error handler is killed after 30 s"),
    "ErrorHandlerMemorySize": Fixed("256", "the error handler runs out of memory at 256 MB"),
    "ErrorHandlerMaxRetryAttempts": Fixed("1", "a dead letter the error handler fails on always gets 2 attempts"),
    # Sharding.
    "MaxShardSize": Fixed("5", "the orchestrator refuses any shard of more than 5 files"),
    "ReshardFactor": Fixed("3", "a timed-out shard is always split in three"),
    "MaxReshardDepth": Fixed("5", "timeouts are re-sharded up to 5 levels deep"),
    # The worker's error policy: the other action of each class.
    "OnErrorLogical": Fixed("raise", "a logical error is always raised (retried, dead-lettered), never reported"),
    "OnErrorProgrammatic": Fixed("raise", "a programmatic error is always raised, never reported"),
    "OnErrorTransient": Fixed("report", "a transient error is always reported, never retried"),
    # The alarms' design.
    "JobNotRunPeriod": Fixed("3600", "JOB NOT RUN counts invocations per hour, not per job period"),
    "JobNotRunEvaluationPeriods": Fixed("2", "JOB NOT RUN needs 2 periods without a job, and evaluates every 2"),
    "JobNotRunThreshold": Fixed("3", "JOB NOT RUN needs 3 invocations in a period to be OK"),
    "JobNotRunTreatMissingData": Fixed("ignore", "JOB NOT RUN keeps its state when no job ran at all"),
    "JobFailedPeriod": Fixed("300", "JOB FAILED counts errors per 5 minutes, not per its period"),
    "JobFailedEvaluationPeriods": Fixed("2", "JOB FAILED needs 2 failing periods, and evaluates every 2"),
    "JobFailedThreshold": Fixed("3", "JOB FAILED needs 3 errors in a period"),
    "JobFailedTreatMissingData": Fixed("ignore", "JOB FAILED keeps its state when no worker ran at all"),
}
"""Parameter -> the fixed value its `!Ref`s become. Each differs from the default and, where the range leaves
room, from every value a shipped scenario gives the parameter (a worker's MaximumRetryAttempts can only be
0, 1 or 2, and shipped scenarios use all three: the ones that use another value kill it)."""

ALARM_VALUES: dict[str, dict[str, str]] = {
    "Namespace": {"AWS/Lambda": "Custom/Pipeline"},
    "MetricName": {"Invocations": "Errors", "Errors": "Invocations"},
    "Statistic": {"Sum": "Average", "Average": "Sum", "Maximum": "Sum", "Minimum": "Sum", "SampleCount": "Sum"},
    "ComparisonOperator": {
        "LessThanThreshold": "LessThanOrEqualToThreshold",
        "LessThanOrEqualToThreshold": "LessThanThreshold",
        "GreaterThanOrEqualToThreshold": "GreaterThanThreshold",
        "GreaterThanThreshold": "GreaterThanOrEqualToThreshold",
    },
    "ActionsEnabled": {"true": "false", "false": "true"},
    "Dimensions.*.Name": {"FunctionName": "FunctionArn"},
    "AlarmDescription": {"JOB NOT RUN": "job not run", "JOB FAILED": "job failed"},
}
"""An alarm's literal property (a path under Properties; `*` is any list index) -> old value -> new value."""

EXEMPT: dict[str, str] = {
    "*.FunctionName": "identity, not behaviour: the harness (and a team) find a function by the stack's outputs",
    "*.Description": "text for people; nothing reads a function's description",
    "*.CodeUri": "the function's code: its bugs are the hand-written catalog's (tests/mutants/catalog.yaml)",
    "*.Policies": "IAM grants: LocalStack does not enforce IAM (ENFORCE_IAM is off), so a missing grant changes "
                  "nothing a scenario can see",
    "*.Environment.Variables.LOG_LEVEL": "which log lines a function writes: no expectation reads a function's "
                                         "own log lines, and every level still runs the same code",
    "*.TopicName": "identity, not behaviour: the harness finds each topic by the stack's outputs",
    "*.AlarmName": "identity, not behaviour: the harness finds each alarm by the stack's outputs",
}
"""Property pattern (`Resource.Path`, `*` any part) -> why no scenario can tell a change of it apart."""


# -- reading the template --------------------------------------------------------------------------------

def _mapping(node: yaml.Node | None) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {key.value: value for key, value in node.value if isinstance(key, yaml.ScalarNode)}


@dataclass(frozen=True)
class Property:
    """One behaviour-changing setting: `resource`'s Properties at `path` (list indexes as text)."""

    resource: str
    type: str
    path: tuple[str, ...]
    node: yaml.Node

    @property
    def name(self) -> str:
        return ".".join((self.resource, *self.path))


@dataclass(frozen=True)
class Template:
    text: str
    root: yaml.MappingNode

    @classmethod
    def read(cls, text: str) -> Template:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if not isinstance(root, yaml.MappingNode):
            raise GeneratorError(f"{TEMPLATE_FILE}: not a mapping")
        return cls(text, root)

    @property
    def parameters(self) -> dict[str, yaml.Node]:
        return _mapping(_mapping(self.root).get("Parameters"))

    @property
    def resources(self) -> dict[str, yaml.Node]:
        return _mapping(_mapping(self.root).get("Resources"))

    def lines_of(self, logical: str) -> tuple[int, int]:
        """The first and last line (0-based) of a resource, its logical ID included."""
        for key, value in _mapping(self.root).get("Resources").value:  # type: ignore[union-attr]
            if key.value == logical:
                lines, end = self.text.splitlines(), value.end_mark
                last = end.line if end.line < len(lines) and lines[end.line][:end.column].strip() else end.line - 1
                while last > key.start_mark.line and not lines[last].strip():
                    last -= 1
                return key.start_mark.line, last
        raise GeneratorError(f"no resource {logical}")

    def type_of(self, logical: str) -> str:
        node = _mapping(self.resources.get(logical)).get("Type")
        return node.value if isinstance(node, yaml.ScalarNode) else ""

    def default(self, parameter: str) -> str | None:
        node = _mapping(self.parameters.get(parameter)).get("Default")
        return node.value if isinstance(node, yaml.ScalarNode) else None

    def is_parameter_ref(self, node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and node.tag == REF and node.value in self.parameters

    def is_resource_ref(self, node: yaml.Node) -> bool:
        return isinstance(node, yaml.ScalarNode) and node.tag == REF and node.value in self.resources

    def properties(self) -> list[Property]:
        """Every setting of every resource, in the template's order: a property's whole value, except that
        a function's EventInvokeConfig and Environment are split into their leaves, its Events into one
        property per event, and an alarm's Dimensions into each dimension's Name and Value."""
        found: list[Property] = []
        for logical, resource in self.resources.items():
            kind = self.type_of(logical)
            for key, value in _mapping(_mapping(resource).get("Properties")).items():
                how = EXPANDED.get(key) if kind in FUNCTION_TYPES else ("leaves" if key == "Dimensions" else None)
                if how == "children":
                    found += [Property(logical, kind, (key, name), child) for name, child in _mapping(value).items()]
                elif how == "leaves":
                    found += [Property(logical, kind, (key, *path), leaf) for path, leaf in _leaves(value)]
                else:
                    found.append(Property(logical, kind, (key,), value))
        return found

    def parameter_refs(self) -> list[Property]:
        """Every `!Ref` of a parameter inside a resource's Properties, wherever it is."""
        found: list[Property] = []
        for logical, resource in self.resources.items():
            properties = _mapping(resource).get("Properties")
            for path, leaf in _leaves(properties) if properties is not None else []:
                if self.is_parameter_ref(leaf):
                    found.append(Property(logical, self.type_of(logical), path, leaf))
        return found

    def subscribed_topics(self, logical: str) -> set[str]:
        """Resources a function's Events name (its event sources): never a target of its own output."""
        events = _mapping(_mapping(self.resources.get(logical)).get("Properties")).get("Events")
        return {leaf.value for event in _mapping(events).values() for _, leaf in _leaves(event)
                if self.is_resource_ref(leaf)}

    def other_resource(self, owner: str, current: str) -> str:
        """The resource after `current` of its type, in the template's order (wrapping round), that is
        neither `owner` nor one of its event sources."""
        kind = self.type_of(current)
        same = [name for name in self.resources if self.type_of(name) == kind]
        ordered = same[same.index(current) + 1:] + same[:same.index(current)]
        avoid = {owner, *self.subscribed_topics(owner)}
        for candidate in ordered:
            if candidate not in avoid:
                return candidate
        raise GeneratorError(f"{owner}: no other {kind} than {current} to point at")


def _leaves(node: yaml.Node, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], yaml.Node]]:
    """(path, node) of every scalar, tagged node and flow list below `node`."""
    if isinstance(node, yaml.MappingNode) and not node.tag.startswith("!"):
        return [leaf for key, value in _mapping(node).items() for leaf in _leaves(value, (*path, key))]
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and not node.tag.startswith("!"):
        return [leaf for index, value in enumerate(node.value) for leaf in _leaves(value, (*path, str(index)))]
    return [(path, node)]


def exemption(prop: Property) -> str | None:
    """Why a property needs no mutant, or None."""
    for pattern, reason in EXEMPT.items():
        parts = pattern.split(".")
        name = (prop.resource, *prop.path)
        if len(parts) <= len(name) and all(fnmatch.fnmatchcase(part, want)
                                           for part, want in zip(name, parts, strict=False)):
            return reason
    return None


# -- the mutants -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mutant:
    id: str
    bug: str
    file: str
    old: str
    new: str


@dataclass(frozen=True)
class Change:
    """One property's value node and the text that replaces it."""

    prop: Property
    node: yaml.Node
    new: str
    bug: str


ID_PARTS = {"Environment": "env", "Variables": "", "EventInvokeConfig": "", "Properties": ""}
"""How a path's parts read in a mutant's id (empty: left out)."""


def _kebab(text: str) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1-\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1-\2", text)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _where(prop: Property) -> str:
    return f"{prop.resource}'s {'.'.join(prop.path)}"


def _parameter_change(template: Template, prop: Property, node: yaml.Node) -> Change:
    parameter = node.value
    fixed = PARAMETER_VALUES.get(parameter)
    if fixed is None:
        raise GeneratorError(
            f"{TEMPLATE_FILE}:{node.start_mark.line + 1}: {prop.name} is !Ref {parameter}, which has no fixed value "
            "in PARAMETER_VALUES (scripts/template_mutants.py): give it one that no scenario sets")
    if fixed.value == template.default(parameter):
        raise GeneratorError(f"PARAMETER_VALUES[{parameter!r}] is the parameter's default: it would plant no bug")
    default = template.default(parameter)
    said = f"default {default}" if default is not None else "no default"
    bug = f"{_where(prop)} is {fixed.value} whatever the {parameter} parameter says ({said}): {fixed.effect}."
    return Change(prop, node, fixed.value, bug)


def _resource_change(template: Template, prop: Property, node: yaml.Node, what: str) -> Change:
    other = template.other_resource(prop.resource, node.value)
    return Change(prop, node, f"{REF} {other}", f"{_where(prop)} names {other} instead of {node.value}: {what}.")


def _alarm_change(prop: Property, node: yaml.Node) -> Change | None:
    key = ".".join("*" if part.isdigit() else part for part in prop.path)
    if key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        state = {"AlarmActions": "ALARM", "OKActions": "OK", "InsufficientDataActions": "INSUFFICIENT_DATA"}[key]
        return Change(prop, node, "[]", f"{_where(prop)} is empty: the alarm notifies no one when it enters {state}.")
    table = ALARM_VALUES.get(key)
    if table is None or not isinstance(node, yaml.ScalarNode) or node.tag.startswith("!") or node.value not in table:
        return None
    new = table[node.value]
    effects = {
        "Namespace": "a namespace no metric is published in, so the alarm never sees a datapoint",
        "MetricName": "the alarm watches another metric",
        "Statistic": "the alarm compares another statistic of its metric with the threshold",
        "ComparisonOperator": "the alarm fires on the wrong side of its threshold",
        "ActionsEnabled": "the alarm's actions are switched off" if new == "false" else "actions are switched on",
        "Dimensions.*.Name": "no Lambda metric has that dimension, so the alarm never sees a datapoint",
        "AlarmDescription": "its notifications say something else than what a person (or a filter) looks for",
    }
    return Change(prop, node, new, f"{_where(prop)} is {new} instead of {node.value}: {effects[key]}.")


def change_for(template: Template, prop: Property) -> Change:
    """The mutation of one property; GeneratorError when there is no rule for it."""
    node = prop.node
    if template.is_parameter_ref(node):
        return _parameter_change(template, prop, node)
    if prop.type == ALARM_TYPE:
        if prop.path[0] == "Dimensions" and template.is_resource_ref(node):
            return _resource_change(template, prop, node, "the alarm watches that function's metric")
        found = _alarm_change(prop, node)
        if found is not None:
            return found
    if prop.type in FUNCTION_TYPES:
        head = prop.path[0]
        if head in ("DeadLetterQueue", "DeadLetterConfig"):
            target = _mapping(node).get("TargetArn")
            if target is not None and template.is_resource_ref(target):
                return _resource_change(template, prop, target, "its exhausted events are dead-lettered there")
        if head == "Events":
            refs = [(path, leaf) for path, leaf in _leaves(node) if template.is_resource_ref(leaf)]
            if len(refs) == 1:
                return _resource_change(template, prop, refs[0][1], "the function is invoked by that source instead")
        if head == "Environment" and template.is_resource_ref(node):
            return _resource_change(template, prop, node, "the function's code uses that resource instead")
    raise GeneratorError(
        f"{TEMPLATE_FILE}:{node.start_mark.line + 1}: no mutation rule for {prop.name}: give it one in "
        "scripts/template_mutants.py, or list it in EXEMPT with the reason no scenario can tell it apart")


def _anchor(text: str, start: int, end: int, within: tuple[int, int]) -> tuple[str, int]:
    """The shortest run of whole lines holding text[start:end] that occurs once in `text` (from its first
    non-blank character), and where that run starts; it stays within the lines `within` (the resource's),
    growing downward first."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    first = max(i for i in range(len(lines)) if offsets[i] <= start)
    last = max(i for i in range(len(lines)) if offsets[i] < end)
    for extra in range(len(lines)):
        for before in range(extra + 1):
            top, bottom = first - before, last + extra - before
            if top < within[0] or bottom > within[1]:
                continue
            begin = offsets[top] + len(lines[top]) - len(lines[top].lstrip())
            candidate = text[begin:offsets[bottom + 1]].rstrip("\n")
            if text.count(candidate) == 1:
                return candidate, begin
    raise GeneratorError(f"{TEMPLATE_FILE}:{first + 1}: no run of lines around it occurs only once in the file")


def mutant_of(template: Template, change: Change) -> Mutant:
    start, end = change.node.start_mark.index, change.node.end_mark.index
    old, begin = _anchor(template.text, start, end, template.lines_of(change.prop.resource))
    new = old[:start - begin] + change.new + old[end - begin:]
    parts = (change.prop.resource, *(ID_PARTS.get(part, part) for part in change.prop.path))
    ident = "-".join(_kebab(part) for part in parts if part)
    return Mutant(ident, change.bug, TEMPLATE_FILE, old, new)


def generate(text: str) -> list[Mutant]:
    """The mutants of the template `text`, one per property (a `!Ref` of a parameter inside an expanded or
    whole property gets its own), in the template's order."""
    template = Template.read(text)
    props = [p for p in template.properties() if exemption(p) is None]
    # A parameter `!Ref` deep inside a property taken whole is a property of its own too.
    seen = {(p.resource, p.path) for p in props}
    props += [ref for ref in template.parameter_refs()
              if exemption(ref) is None and (ref.resource, ref.path) not in seen]
    mutants = [mutant_of(template, change_for(template, prop)) for prop in props]
    ids = [m.id for m in mutants]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise GeneratorError(f"mutant ids used twice: {', '.join(repeated)}")
    return mutants


# -- the catalog file ------------------------------------------------------------------------------------

HEADER = """\
# Generated by scripts/template_mutants.py from lambdas/template.yaml: do not edit, run
#     .venv/bin/python scripts/template_mutants.py
# One mutant per behaviour-changing property of the template (the format of catalog.yaml); scripts/mutants.py
# (`make mutants`) plants these after the hand-written ones. tests/unit/test_template_mutants.py fails when
# this file is not what the generator writes, or a property of the template has no mutant.
"""


def _scalar(value: str, indent: str = "  ") -> str:
    """A YAML scalar: plain for an id or a path, double-quoted on one line, or a literal block (`|-`) keeping
    each line's indentation."""
    if re.fullmatch(r"[a-z][a-z0-9._/-]*", value):
        return value
    if "\n" not in value:
        return json.dumps(value, ensure_ascii=False)
    body = "\n".join(f"{indent}  {line}" if line else "" for line in value.split("\n"))
    return f"|-\n{body}"


def render(mutants: list[Mutant]) -> str:
    entries = []
    for mutant in mutants:
        entries.append("\n".join(f"{'- ' if name == 'id' else '  '}{name}: {_scalar(getattr(mutant, name))}"
                                 for name in ("id", "bug", "file", "old", "new")))
    return HEADER + "\n" + "\n\n".join(entries) + "\n"


def main(argv: list[str] | None = None, write: Callable[[Path, str], None] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="template_mutants.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help=f"exit 1 when {OUTPUT.relative_to(REPO_ROOT)} is stale")
    args = parser.parse_args(argv)
    try:
        mutants = generate(TEMPLATE.read_text(encoding="utf-8"))
        text = render(mutants)
    except GeneratorError as error:
        print(f"template_mutants: {error}", file=sys.stderr)
        return 2
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"template_mutants: {OUTPUT.relative_to(REPO_ROOT)} is out of date with {TEMPLATE_FILE}; run "
                  ".venv/bin/python scripts/template_mutants.py", file=sys.stderr)
            return 1
        return 0
    (write or (lambda path, body: path.write_text(body, encoding="utf-8")))(OUTPUT, text)
    print(f"template_mutants: wrote {len(mutants)} mutants to {OUTPUT.relative_to(REPO_ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
