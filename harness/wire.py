"""The wire between the harness and its LocalStack: the `/_harness/...` routes, their JSON, a client, and
the arithmetic of a stack's clock.

Two sides talk here. Inside the LocalStack process, `harness.localstack` serves these routes; outside it,
the harness (deploys, observations, the engine) calls them. Each side imports this module and nothing of
the other. Standard library only.

Routes (all on LocalStack's gateway, loopback only, as the gateway is):

- ``/_harness/faults/<function name>``: PUT a `Registration` (the function's fault plan and where its
  attempt ledger is), GET it back, DELETE it.
- ``/_harness/stacks/<prefix>``: PUT registers a stack before its deploy (its topics are tapped as they are
  created, and its resources run on the stack's clock), DELETE forgets it. GET ``/_harness/stacks/<name or
  ID>?wait=S`` answers a CloudFormation stack's status once it is no longer in progress (or after S seconds).
- ``/_harness/clock/<prefix>``: GET a `ClockState` (``?idle_within=S``: once none of the stack's code runs, at
  most S seconds later); POST an `AdvanceRequest`, which answers an `Advance`
  (409 with ``{"busy": [...]}`` while any code of the stack runs).
- ``/_harness/health``: GET a `Health`: the LocalStack version and whether every patch of the harness is
  in place on the classes LocalStack serves.

A stack's clock (`harness.localstack.clock`) is the wall clock plus an offset that grows only while no
code of the stack runs. Every moment the platform records in wall time (an attempt's start in the ledger,
an SQS message's SentTimestamp, a log line) is on that clock at the offset that held then: `StackTime`
turns the one into the other from the offsets' history, which the clock's state carries.
"""

from __future__ import annotations

import bisect
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, TypedDict

FAULTS = "/_harness/faults"
STACKS = "/_harness/stacks"
CLOCK = "/_harness/clock"
HEALTH = "/_harness/health"

STACK_WAIT_MAX_S = 10.0
"""The longest one GET of ``/_harness/stacks/<name>?wait=S`` (or ``/_harness/clock/<prefix>?idle_within=S``)
waits; the harness asks again until its deadline."""

DEFAULT_ACCOUNT, DEFAULT_REGION = "000000000000", "us-east-1"


class Registration(TypedDict):
    """PUT ``/_harness/faults/<function>``: what the executor applies in that function's runtime process."""

    faults: list[dict[str, Any]]
    ledger_url: str
    ledger_table: str


class Timer(TypedDict):
    """A wake-up on a stack's clock: a retry falling due, an alarm evaluation that can change a state, the
    end of a wait (a Timeout, an injected delay)."""

    due: float
    kind: str
    what: str


class RetryRelease(TypedDict):
    """A retry of an asynchronous event that Lambda let go after a failure, as the platform measured it on the
    stack's clock: `released_at` is when the retry's `delay` (60 s, 120 s) after the failure at `failed_at`
    ran out and the event went back to the function's queue."""

    request_id: str
    function: str
    failed_at: float
    released_at: float
    delay: float


class ClockState(TypedDict):
    """GET ``/_harness/clock/<prefix>``: the stack's clock and what keeps it from moving.

    `busy` is read before `waiting`, so a message delivered before the count said idle is in a tap."""

    now: float
    offset: float
    history: list[list[float]]
    busy: list[str]
    timers: list[Timer]
    waiting: dict[str, int]
    retries: list[RetryRelease]


class AdvanceRequest(TypedDict, total=False):
    """POST ``/_harness/clock/<prefix>``: move the clock, while the stack stays idle, from wake-up to
    wake-up up to `until` (epoch seconds on the stack's clock); `stop_at_change` stops it at the first
    alarm state change."""

    until: float
    stop_at_change: bool
    account: str
    region: str


class Advance(TypedDict):
    """The answer to an advance: where the clock is now, what fell due on the way (each a `Timer`), the
    alarm state changes it made (`alarm`, `state`, `at`, `notifies`), and why it stopped short of `until`
    (`busy`: the stack runs code again)."""

    now: float
    offset: float
    fired: list[Timer]
    changes: list[dict[str, Any]]
    busy: list[str]


class Health(TypedDict):
    """GET ``/_harness/health``."""

    localstack: str
    problems: list[str]


@dataclass(frozen=True)
class StackTime:
    """Wall moments to a stack's clock: `steps` are (wall moment, offset from then on), oldest first. The
    offset only changes while none of the stack's code runs, so whatever the stack records in wall time is
    on one side of each step, never at it."""

    steps: tuple[tuple[float, float], ...] = ()

    @classmethod
    def of(cls, state: ClockState | dict[str, Any] | None) -> StackTime:
        if not state:
            return cls()
        return cls(tuple((float(wall), float(offset)) for wall, offset in state.get("history") or []))

    def at(self, wall: float) -> float:
        """The stack's clock at wall moment `wall`."""
        index = bisect.bisect_right(self.steps, (wall, float("inf"))) - 1
        return wall + (self.steps[index][1] if index >= 0 else 0.0)

    @property
    def offset(self) -> float:
        """How far the clock is ahead of the wall clock now."""
        return self.steps[-1][1] if self.steps else 0.0


AWS_RETRY_BASE_DELAY_S = 60.0
"""Lambda's async retry n comes n x this after failure n (1 and 2 minutes; LocalStack's default too)."""
AWS_DEFAULT_EVENT_AGE_S = 6 * 60 * 60
"""How long Lambda keeps an async event for retries when MaximumEventAgeInSeconds is not set (6 hours)."""


def retry_in_time(age_s: float, delay_s: float, limit_s: float | None) -> bool:
    """Whether Lambda makes the next retry of an event `age_s` old at its failure, `delay_s` later, under
    MaximumEventAgeInSeconds `limit_s` (None: AWS's default): the platform's rule (harness.localstack.retries)
    and the model's (harness.model.walk) both."""
    limit = AWS_DEFAULT_EVENT_AGE_S if limit_s is None else limit_s
    return age_s + delay_s <= limit


def lookback_count(evaluation_periods: int) -> int:
    """How many periods an evaluation of an alarm with `evaluation_periods` looks back: LocalStack's
    `collect_metric_data` takes a few more than EvaluationPeriods (AWS documents a range larger than N, with no
    formula). The harness's timers for alarms and its model of them both count this."""
    return evaluation_periods + max(math.floor(evaluation_periods / 3), 2)


def named_after(prefix: str, name: str) -> bool:
    """Whether a resource's name is one CloudFormation gave it in the stack `prefix` (`<prefix>-<logical ID>-
    <suffix>`): how both sides tell a stack's functions and topics from others (a name the template sets)."""
    return name.startswith(f"{prefix}-")


def tap_queue_name(prefix: str, topic_name: str) -> str | None:
    """The SQS queue that taps topic `topic_name` of the stack `prefix` (`<prefix>-tap-<rest of its name>`),
    made in the topic's CreateTopic; None for a topic not named after the stack."""
    if not named_after(prefix, topic_name):
        return None
    return f"{prefix}-tap-{topic_name.removeprefix(f'{prefix}-')}"[:80]


class WireError(Exception):
    """A request to the harness's routes failed."""


class NotHarnessLocalStack(WireError):
    """The LocalStack has no such route: it does not run the harness's launcher and executor."""


def call(url: str, route: str, method: str = "GET", name: str = "", body: Any = None, *,
         query: dict[str, str] | None = None, answered: tuple[int, ...] = (), timeout: float = 10) -> Any:
    """One request to a harness route of the LocalStack at `url`; the JSON answer (also that of an error
    status listed in `answered`), or None when there is none. A missing route is None for GET and DELETE
    (an older or another LocalStack); for PUT and POST it raises `NotHarnessLocalStack`."""
    target = f"{url.rstrip('/')}{route}" + (f"/{name}" if name else "")
    if query:
        target += f"?{urllib.parse.urlencode(query)}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(target, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (a checked endpoint)
            raw = response.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        if error.code in answered:
            return json.loads(error.read())
        if error.code == 404 and method in ("PUT", "POST"):
            raise NotHarnessLocalStack(
                f"the LocalStack at {url} does not run the harness's launcher and Lambda executor (no {route} "
                "route): faults, the attempt ledger, the taps and the stack clock need them. Let the harness "
                "start LocalStack, or attach to one started by `harness up`.") from error
        if error.code == 404:
            return None
        raise WireError(f"{method} {target}: {error.code} {error.read().decode(errors='replace')}") from error
    except urllib.error.URLError as error:
        raise WireError(f"{method} {target}: {error.reason}") from error
