"""Which class a failure belongs to, and what the worker does about it (its error policy).

The seed design draws the line this way:
- logical errors (a wrong table or field name, bad data: PostgreSQL SQLSTATE classes 42 and 22, and any
  other error the database raises about the statement itself) and programmatic errors (exceptions from the
  function's own code) cannot be fixed by a retry. The program reports them as one `JOB FAILED` for a
  person, and the invocation ends without a Lambda-level failure: no retry, no dead letter. ("The function
  technically does not fail", so Lambda's Errors metric and retries do not see them.)
- transient errors (SQLSTATE classes 08 connection, 40 rollback/serialization, 53 insufficient
  resources, 57 operator intervention; a refused or lost connection; a dependency throttling) are raised,
  so Lambda retries them, dead-letters what still fails, and the error handler decides.
The design's alternative, "when in doubt, throw", is a per-class setting: `raise` instead of `report`.
Under either action each failure gives one alert: `report` publishes JOB FAILED and returns; `raise`
publishes nothing and leaves the alert to the error handler, once the event is dead-lettered.
"""

from __future__ import annotations

from collections.abc import Mapping

from .config import WORKER_POLICY_DEFAULTS
from .database import error_code
from .errors import ConfigError

LOGICAL = "logical"
PROGRAMMATIC = "programmatic"
TRANSIENT = "transient"
CLASSES = (LOGICAL, PROGRAMMATIC, TRANSIENT)

REPORT = "report"
RAISE = "raise"
ACTIONS = (REPORT, RAISE)

POLICY_ENV: dict[str, str] = {
    LOGICAL: "ON_ERROR_LOGICAL",
    PROGRAMMATIC: "ON_ERROR_PROGRAMMATIC",
    TRANSIENT: "ON_ERROR_TRANSIENT",
}
DEFAULT_POLICY: dict[str, str] = {cls: WORKER_POLICY_DEFAULTS[variable] for cls, variable in POLICY_ENV.items()}

TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57")
# Error codes of AWS SDK calls that a later attempt may get through.
_THROTTLING = ("Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
               "ServiceUnavailable", "SlowDown")


def classify(exc: BaseException) -> str:
    """logical, programmatic or transient."""
    code = error_code(exc)
    if code:
        return TRANSIENT if code[:2] in TRANSIENT_SQLSTATE_CLASSES else LOGICAL
    if isinstance(exc, ConnectionError | TimeoutError) or _is_lost_connection(exc) or _is_throttling(exc):
        return TRANSIENT
    return PROGRAMMATIC


def _is_lost_connection(exc: BaseException) -> bool:
    # pg8000 wraps a refused or broken connection in InterfaceError; imported lazily so that this module
    # stays importable where pg8000 is not (unit tests of the policy alone).
    try:
        from pg8000.exceptions import InterfaceError
    except ImportError:  # pragma: no cover - pg8000 ships in every zip
        return False
    return isinstance(exc, InterfaceError)


def _is_throttling(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    return str((response.get("Error") or {}).get("Code", "")) in _THROTTLING


def load_policy(env: Mapping[str, str]) -> dict[str, str]:
    """The worker's action per failure class from ON_ERROR_LOGICAL / _PROGRAMMATIC / _TRANSIENT."""
    policy = dict(DEFAULT_POLICY)
    for failure_class, variable in POLICY_ENV.items():
        value = env.get(variable)
        if value is None:
            continue
        value = value.strip().lower()
        if value not in ACTIONS:
            raise ConfigError(variable, f"must be one of {', '.join(ACTIONS)}, got {value!r}")
        policy[failure_class] = value
    return policy
