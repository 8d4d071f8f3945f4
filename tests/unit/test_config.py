from __future__ import annotations

import pytest
from pipeline_common import config
from pipeline_common.errors import ConfigError

from harness.packaging import FUNCTIONS
from harness.stack.database import PipelineNames

WORKER_ENV = {
    "DATABASE_URL": "postgresql://u@h/db",
    "DB_SCHEMA": "s",
    "FILES_TABLE": "files",
    "ROWS_TABLE": "rows",
    "NOTIFICATIONS_TOPIC_ARN": "arn:topic",
}


@pytest.mark.parametrize("missing", sorted(WORKER_ENV))
def test_a_missing_variable_is_named(missing: str) -> None:
    env = {k: v for k, v in WORKER_ENV.items() if k != missing}
    with pytest.raises(ConfigError) as caught:
        config.load_worker_config(env)
    assert caught.value.variable == missing
    assert f"{missing} is not set" in str(caught.value)


def test_an_empty_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="ROWS_VALUE_COLUMN is empty"):
        config.load_worker_config({**WORKER_ENV, "ROWS_VALUE_COLUMN": " "})


def test_columns_default_and_can_be_overridden() -> None:
    assert config.load_worker_config(WORKER_ENV).rows_value_column == "value"
    assert config.load_worker_config({**WORKER_ENV, "ROWS_VALUE_COLUMN": "valu"}).rows_value_column == "valu"


ERROR_HANDLER_ENV = {
    "DATABASE_URL": "postgresql://u@h/db",
    "DB_SCHEMA": "s",
    "DECISIONS_TABLE": "d",
    "QUARANTINE_TABLE": "q",
    "WORKER_FUNCTION": "w",
    "NOTIFICATIONS_TOPIC_ARN": "arn",
}


@pytest.mark.parametrize(
    ("value", "message"),
    [("two", "must be an integer, got 'two'"), ("1", "must be >= 2, got 1")],
)
def test_integer_settings_are_checked(value: str, message: str) -> None:
    env = {**ERROR_HANDLER_ENV, "RESHARD_FACTOR": value}
    with pytest.raises(ConfigError, match=message) as caught:
        config.load_error_handler_config(env)
    assert caught.value.variable == "RESHARD_FACTOR"



def test_the_error_handler_reads_the_worker_files_table_by_the_worker_variable_names() -> None:
    loaded = config.load_error_handler_config(ERROR_HANDLER_ENV)
    names = PipelineNames()
    assert (loaded.files_table, loaded.files_id_column) == (names.files_table, names.files_id_column)
    overridden = config.load_error_handler_config({**ERROR_HANDLER_ENV, "FILES_TABLE": "f", "FILES_ID_COLUMN": "id"})
    assert (overridden.files_table, overridden.files_id_column) == ("f", "id")
    with pytest.raises(ConfigError, match="FILES_TABLE is empty"):
        config.load_error_handler_config({**ERROR_HANDLER_ENV, "FILES_TABLE": " "})


def test_orchestrator_defaults() -> None:
    loaded = config.load_orchestrator_config({"WORKER_FUNCTION": "w"})
    assert (loaded.max_shard_size, loaded.invoke_concurrency) == (100, 8)


def test_the_schema_names_match_the_worker_column_defaults() -> None:
    env = PipelineNames().as_env()
    assert {k: env[k] for k in config.WORKER_COLUMN_DEFAULTS} == config.WORKER_COLUMN_DEFAULTS
    table_variables = {"FILES_TABLE", "ROWS_TABLE", "DECISIONS_TABLE", "QUARANTINE_TABLE"}
    assert table_variables <= set(env)
    every_spec_variable = {name for spec in FUNCTIONS.values() for name in spec.env_names}
    assert set(env) <= every_spec_variable
