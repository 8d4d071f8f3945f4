"""Scenario files: the format (pydantic models), the loader with located errors, and the JSON Schema.

A scenario says which job to run on the seed pipeline, which faults to inject where, and what must be
observed afterwards. See `scenarios/README.md` for the format.
"""

from .catalog import (
    ALARMS,
    FAULT_KINDS,
    FUNCTIONS,
    TOPICS,
    AlarmName,
    AlarmState,
    FaultKind,
    FunctionName,
    TopicName,
)
from .errors import Problem, ScenarioError
from .expectations import (
    EXPECTATION_KINDS,
    AlarmExpectation,
    AttemptsExpectation,
    DatabaseExpectation,
    DlqExpectation,
    Expectation,
    ReshardExpectation,
    ResultExpectation,
    SnsExpectation,
)
from .faults import (
    BadFieldFault,
    BadInputFault,
    BadTableFault,
    CrashFault,
    DbUnreachableFault,
    ExceptionFault,
    ExceptionSpec,
    FailAfterCommitFault,
    Fault,
    OutOfMemoryFault,
    TimeoutFault,
)
from .loader import load_scenario, load_scenarios, scenario_files, validate_paths
from .model import (
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
    "AttemptsExpectation",
    "BadFieldFault",
    "BadInputFault",
    "CrashFault",
    "DbUnreachableFault",
    "ErrorPolicy",
    "BadTableFault",
    "DatabaseExpectation",
    "DlqExpectation",
    "ExceptionFault",
    "ExceptionSpec",
    "FailAfterCommitFault",
    "Expectation",
    "Fault",
    "FaultKind",
    "FunctionName",
    "FunctionSettings",
    "Job",
    "NextRunCondition",
    "OutOfMemoryFault",
    "Problem",
    "ReshardExpectation",
    "ResultExpectation",
    "Scenario",
    "ScenarioError",
    "SnsExpectation",
    "StackSettings",
    "TimeoutFault",
    "TopicName",
    "WorkerSettings",
    "json_schema",
    "load_scenario",
    "load_scenarios",
    "render_json_schema",
    "scenario_files",
    "validate_paths",
    "write_json_schema",
]
