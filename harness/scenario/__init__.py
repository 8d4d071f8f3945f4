"""Scenario files: the documents of its two profiles (the seed pipeline, `pipeline`; a template of your own,
`template`), the loader with located errors, the validation pass, and the JSON Schema.

A scenario says which faults to inject where, what to run, and what must be observed afterwards. See
`scenarios/README.md` for the format.
"""

from harness.format.catalog import ALARMS, FUNCTIONS, TOPICS, AlarmName, AlarmState, FunctionName, TopicName
from harness.format.faults import (
    FAULT_KINDS,
    BadFieldFault,
    BadInputFault,
    BadTableFault,
    CrashFault,
    DbUnreachableFault,
    ExceptionFault,
    ExceptionSpec,
    FailAfterCommitFault,
    Fault,
    LatencyFault,
    OutOfMemoryFault,
    TimeoutFault,
)
from harness.kinds import (
    EXPECTATION_KINDS,
    AlarmExpectation,
    AttemptsExpectation,
    DatabaseExpectation,
    DlqExpectation,
    Expectation,
    ReshardExpectation,
    ResultExpectation,
    SnsExpectation,
    SqsExpectation,
)

from .document import ScenarioDocument
from .errors import Problem, ScenarioError
from .loader import AnyScenario, load_document, load_scenario, load_scenarios, scenario_files, validate_paths
from .pipeline import (
    AlarmSettings,
    ErrorPolicy,
    FunctionSettings,
    Job,
    NextRunCondition,
    Scenario,
    StackSettings,
    WorkerSettings,
)
from .schema import DEFAULT_SCHEMA_PATH, json_schema, render_json_schema, write_json_schema
from .template import Invoke, TemplateScenario

__all__ = [
    "ALARMS",
    "DEFAULT_SCHEMA_PATH",
    "EXPECTATION_KINDS",
    "FAULT_KINDS",
    "FUNCTIONS",
    "TOPICS",
    "AlarmExpectation",
    "AlarmName",
    "AlarmSettings",
    "AlarmState",
    "AnyScenario",
    "AttemptsExpectation",
    "BadFieldFault",
    "BadInputFault",
    "BadTableFault",
    "CrashFault",
    "DatabaseExpectation",
    "DbUnreachableFault",
    "DlqExpectation",
    "ErrorPolicy",
    "ExceptionFault",
    "ExceptionSpec",
    "Expectation",
    "FailAfterCommitFault",
    "Fault",
    "FunctionName",
    "FunctionSettings",
    "Invoke",
    "Job",
    "LatencyFault",
    "NextRunCondition",
    "OutOfMemoryFault",
    "Problem",
    "ResultExpectation",
    "ReshardExpectation",
    "Scenario",
    "ScenarioDocument",
    "ScenarioError",
    "SnsExpectation",
    "SqsExpectation",
    "StackSettings",
    "TemplateScenario",
    "TimeoutFault",
    "TopicName",
    "WorkerSettings",
    "json_schema",
    "load_document",
    "load_scenario",
    "load_scenarios",
    "render_json_schema",
    "scenario_files",
    "validate_paths",
    "write_json_schema",
]
