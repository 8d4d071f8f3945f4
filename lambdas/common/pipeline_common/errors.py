"""Exceptions shared by the pipeline's functions."""


class InvalidEvent(ValueError):
    """An event that cannot be processed; `field` names the offending field."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"invalid event: field '{field}' {problem}")


class ConfigError(RuntimeError):
    """A missing or malformed environment variable; `variable` names it."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"configuration error: environment variable {variable} {problem}")


class WorkerInvokeError(RuntimeError):
    """One or more asynchronous worker invocations were not accepted (status other than 202)."""

    def __init__(self, function_name: str, failures: list[tuple[str, str]]) -> None:
        self.function_name = function_name
        self.failures = failures
        details = "; ".join(f"shard {shard_id}: {why}" for shard_id, why in failures)
        super().__init__(f"invoking {function_name} failed for {len(failures)} shard(s): {details}")
