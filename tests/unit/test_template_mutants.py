"""scripts/template_mutants.py: tests/mutants/template_catalog.yaml is what it writes from lambdas/template.yaml,
every anchor occurs once, and every behaviour-changing property of the template has a mutant (so a property
added later without one fails here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.support.mutants import mutants_script

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "lambdas" / "template.yaml"
TEMPLATE_TEXT = TEMPLATE_PATH.read_text(encoding="utf-8")


def _generator() -> ModuleType:
    name = "harness_template_mutants_script"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / "template_mutants.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


generator = _generator()
mutants = mutants_script()
GENERATED = mutants.load_catalog(mutants.TEMPLATE_CATALOG)
ALL = mutants.load_catalogs()
ON_TEMPLATE = [m for m in ALL if m.file == "lambdas/template.yaml"]

# What the issue names for each alarm and each function (checked when the template has it), besides every
# `!Ref` of a parameter: none of these may be exempt.
ALARM_PROPERTIES = ("MetricName", "Namespace", "Dimensions", "Statistic", "Period", "EvaluationPeriods", "Threshold",
                    "ComparisonOperator", "TreatMissingData", "AlarmActions", "OKActions", "InsufficientDataActions",
                    "ActionsEnabled")
FUNCTION_PROPERTIES = ("Timeout", "MemorySize", "EventInvokeConfig.MaximumRetryAttempts",
                       "EventInvokeConfig.MaximumEventAgeInSeconds", "EventInvokeConfig.DestinationConfig.OnSuccess",
                       "EventInvokeConfig.DestinationConfig.OnFailure", "DeadLetterQueue", "DeadLetterConfig",
                       "Environment.Variables.ON_ERROR_LOGICAL", "Environment.Variables.ON_ERROR_PROGRAMMATIC",
                       "Environment.Variables.ON_ERROR_TRANSIENT")
# The only parameter references no scenario can tell apart (the log level: no expectation reads log lines).
EXEMPT_PARAMETER_REFS = {("OrchestratorFunction", "Environment.Variables.LOG_LEVEL"),
                         ("WorkerFunction", "Environment.Variables.LOG_LEVEL"),
                         ("ErrorHandlerFunction", "Environment.Variables.LOG_LEVEL")}


# -- the template as data, tags kept, for telling which property a mutant changes ---------------------------

class _TagKeeping(yaml.SafeLoader):
    """YAML's safe loader; a CloudFormation short tag becomes (tag, value), so `!Ref A` differs from `!Ref B`."""


def _tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> tuple[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        return f"!{suffix}", loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return f"!{suffix}", tuple(loader.construct_sequence(node, deep=True))
    return f"!{suffix}", tuple(sorted(loader.construct_mapping(node, deep=True).items()))


_TagKeeping.add_multi_constructor("!", _tagged)


def _load(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=_TagKeeping)  # noqa: S506 - a SafeLoader subclass
    assert isinstance(data, dict)
    return data


def _changed(before: Any, after: Any, path: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """The paths (of keys, list indexes as text) where `after` differs from `before`."""
    if isinstance(before, dict) and isinstance(after, dict):
        return {found for key in before.keys() | after.keys()
                for found in _changed(before.get(key), after.get(key), (*path, str(key)))}
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return {found for index, (old, new) in enumerate(zip(before, after, strict=True))
                for found in _changed(old, new, (*path, str(index)))}
    return set() if before == after else {path}


def _parameter_refs(data: dict[str, Any]) -> set[tuple[str, ...]]:
    """Paths of every `!Ref` of a parameter inside a resource's Properties."""
    parameters = set(data.get("Parameters") or {})
    found: set[tuple[str, ...]] = set()

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, tuple) and len(node) == 2 and node[0] == "!Ref" and node[1] in parameters:
            found.add(path)
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(value, (*path, str(key)))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*path, str(index)))

    for logical, resource in data["Resources"].items():
        walk(resource.get("Properties") or {}, ("Resources", logical, "Properties"))
    return found


def _listed_properties(data: dict[str, Any]) -> set[tuple[str, ...]]:
    """Paths of the properties the issue lists, where the template has them."""
    found: set[tuple[str, ...]] = set()
    for logical, resource in data["Resources"].items():
        properties = resource.get("Properties") or {}
        names: tuple[str, ...] = ()
        if resource.get("Type") == "AWS::CloudWatch::Alarm":
            names = ALARM_PROPERTIES
        elif resource.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            # Each subscription (event source) is one property.
            names = (*FUNCTION_PROPERTIES, *(f"Events.{event}" for event in properties.get("Events") or {}))
        for name in names:
            node: Any = properties
            for part in name.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node is not None:
                found.add(("Resources", logical, "Properties", *name.split(".")))
    return found


def _covered(wanted: tuple[str, ...], changes: set[tuple[str, ...]]) -> bool:
    """A change inside the property, or one that replaces (or removes) it whole."""
    return any(change[:len(wanted)] == wanted or wanted[:len(change)] == change for change in changes)


def _changes_of(mutant_list: list[Any], text: str) -> dict[str, set[tuple[str, ...]]]:
    before = _load(text)
    changes = {}
    for mutant in mutant_list:
        assert text.count(mutant.old) == 1, mutant.id
        changes[mutant.id] = _changed(before, _load(text.replace(mutant.old, mutant.new, 1)))
    return changes


def _uncovered(text: str, mutant_list: list[Any]) -> list[str]:
    """The template's properties (the listed ones, every parameter `!Ref`, and every property the generator
    enumerates) that no mutant changes and that are not exempt."""
    data = _load(text)
    template = generator.Template.read(text)
    props = template.properties() + template.parameter_refs()
    exempt = {("Resources", p.resource, "Properties", *p.path) for p in props if generator.exemption(p) is not None}
    wanted = _parameter_refs(data) | _listed_properties(data) | {
        ("Resources", p.resource, "Properties", *p.path) for p in template.properties()}
    changes = set().union(*_changes_of(mutant_list, text).values()) if mutant_list else set()
    return sorted(".".join(path[1:]) for path in wanted
                  if path not in exempt and not _covered(path, changes))


# -- the tests -------------------------------------------------------------------------------------------

def test_the_generated_catalog_is_up_to_date_with_the_template() -> None:
    regenerated = generator.render(generator.generate(TEMPLATE_TEXT))
    assert mutants.TEMPLATE_CATALOG.read_text(encoding="utf-8") == regenerated, (
        "tests/mutants/template_catalog.yaml is stale: run .venv/bin/python scripts/template_mutants.py")
    assert generator.main(["--check"]) == 0
    assert mutants.stale_template_catalog() is None


def test_the_generated_catalog_reads_back_as_written() -> None:
    generated = generator.generate(TEMPLATE_TEXT)
    assert [(m.id, m.bug, m.file, m.old, m.new) for m in GENERATED] == \
        [(m.id, m.bug, m.file, m.old, m.new) for m in generated]
    assert all(m.catalog == mutants.TEMPLATE_CATALOG for m in GENERATED)


@pytest.mark.parametrize("mutant", GENERATED, ids=lambda m: m.id)
def test_every_generated_anchor_occurs_once_and_changes_one_property(mutant) -> None:
    assert mutant.file == "lambdas/template.yaml"
    assert TEMPLATE_TEXT.count(mutant.old) == 1, f"{mutant.id}: regenerate tests/mutants/template_catalog.yaml"
    assert not mutant.old[0].isspace(), "an anchor starts at its first non-blank character"
    changes = _changes_of([mutant], TEMPLATE_TEXT)[mutant.id]
    assert changes, f"{mutant.id} changes nothing CloudFormation would see"
    assert len({path[:4] for path in changes}) == 1, f"{mutant.id} changes more than one property: {changes}"


def test_every_behaviour_changing_property_has_a_mutant() -> None:
    assert _uncovered(TEMPLATE_TEXT, ON_TEMPLATE) == []


def test_every_listed_property_and_parameter_ref_is_mutated_but_the_log_level() -> None:
    data = _load(TEMPLATE_TEXT)
    changes = set().union(*_changes_of(GENERATED, TEMPLATE_TEXT).values())
    refs = _parameter_refs(data)
    unmutated = {(path[1], ".".join(path[3:])) for path in refs | _listed_properties(data)
                 if not _covered(path, changes)}
    assert unmutated == EXEMPT_PARAMETER_REFS
    # The list, as this template has it: both alarms, all three functions.
    listed = _listed_properties(data)
    for alarm in ("JobNotRunAlarm", "JobFailedAlarm"):
        assert {path[3] for path in listed if path[1] == alarm} == set(ALARM_PROPERTIES)
    assert ("Resources", "ErrorHandlerFunction", "Properties", "Events", "DeadLetters") in listed
    assert len(refs) >= 35


def test_every_exemption_names_a_property_of_the_template_and_a_reason() -> None:
    template = generator.Template.read(TEMPLATE_TEXT)
    props = template.properties() + template.parameter_refs()
    for pattern, reason in generator.EXEMPT.items():
        assert len(reason) > 30, pattern
        matched = [p for p in props if generator.exemption(p) == reason]
        assert matched, f"EXEMPT[{pattern!r}] matches no property of the template any more"


def test_a_property_added_without_a_mutant_fails_the_coverage_check() -> None:
    added = TEMPLATE_TEXT.replace("      MemorySize: !Ref WorkerMemorySize\n",
                                  "      MemorySize: !Ref WorkerMemorySize\n      ReservedConcurrentExecutions: 5\n"
                                  "      Tracing: !Ref TracingMode\n", 1)
    added = added.replace("Parameters:\n", "Parameters:\n  TracingMode:\n    Type: String\n    Default: Active\n", 1)
    assert _uncovered(added, ON_TEMPLATE) == ["WorkerFunction.Properties.ReservedConcurrentExecutions",
                                              "WorkerFunction.Properties.Tracing"]
    with pytest.raises(generator.GeneratorError, match=r"no mutation rule for WorkerFunction\.ReservedConcurrent"):
        generator.generate(added)
    referenced = added.replace("      ReservedConcurrentExecutions: 5\n", "", 1)
    with pytest.raises(generator.GeneratorError, match=r"WorkerFunction\.Tracing is !Ref TracingMode, which has no "
                                                       r"fixed value in PARAMETER_VALUES"):
        generator.generate(referenced)


def test_a_removed_mutant_leaves_its_property_uncovered() -> None:
    kept = [m for m in ON_TEMPLATE if m.id != "job-failed-alarm-statistic"]
    assert _uncovered(TEMPLATE_TEXT, kept) == ["JobFailedAlarm.Properties.Statistic"]


def test_fixed_values_differ_from_the_defaults_and_resource_refs_avoid_loops() -> None:
    template = generator.Template.read(TEMPLATE_TEXT)
    for parameter, fixed in generator.PARAMETER_VALUES.items():
        assert fixed.value != template.default(parameter), parameter
    by_id = {m.id: m for m in GENERATED}
    # The error handler never publishes to, nor invokes, itself or the topic it listens to.
    assert "!Ref DlqTopic" not in by_id["error-handler-function-env-notifications-topic-arn"].new
    assert "ErrorHandlerFunction" not in by_id["error-handler-function-env-worker-function"].new


def test_mutants_script_reads_both_catalogs_with_unique_ids(capsys: pytest.CaptureFixture[str]) -> None:
    hand_written = mutants.load_catalog(mutants.CATALOG)
    assert [m.id for m in ALL] == [m.id for m in hand_written] + [m.id for m in GENERATED]
    assert len({m.id for m in ALL}) == len(ALL)
    assert mutants.main(["--list"]) == 0
    listed = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == [m.id for m in ALL]


def test_an_id_used_in_both_catalogs_is_refused(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("- {id: same, bug: b, file: lambdas/x.py, old: o, new: n}\n")
    second.write_text("- {id: same, bug: b, file: lambdas/y.py, old: o, new: n}\n")
    with pytest.raises(mutants.CatalogError, match="mutant same: the id is used in .*a.yaml and in .*b.yaml"):
        mutants.load_catalogs([first, second])


def test_a_stale_generated_anchor_says_to_regenerate(tmp_path: Path) -> None:
    (tmp_path / "lambdas").mkdir()
    (tmp_path / "lambdas" / "template.yaml").write_text("Resources: {}\n")
    with pytest.raises(mutants.CatalogError, match="regenerate tests/mutants/template_catalog.yaml"):
        GENERATED[0].check_anchor(tmp_path)
