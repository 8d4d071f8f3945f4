"""Platform timing: what the running LocalStack does with time, carried from it to the expectation engine.

The walk of the pipeline, its floors and deadlines, and the settling of exact counts all read a `Platform`
instead of assuming numbers. It comes from the LocalStack that runs the scenarios:

- the embedded one is started by the harness, which sets its retry base delay (`HARNESS_RETRY_BASE_DELAY`,
  1 s by default: time is compressed) and runs its alarms at the same scale (60 s of AWS in 1 s);
- an attached one is asked (`/_localstack/config`, when that LocalStack enables it), else is taken at
  `HARNESS_RETRY_BASE_DELAY` when that is set, else at LocalStack's own default, which is AWS's 60 s.
"""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass, replace

AWS_RETRY_BASE_DELAY_S = 60.0
"""Lambda's async retries come 1 and 2 minutes after a failure (LocalStack's default too)."""
ENV_RETRY_BASE_DELAY = "HARNESS_RETRY_BASE_DELAY"


@dataclass(frozen=True)
class Platform:
    """How the platform under the scenarios runs time: Lambda's async retries, and CloudWatch's alarms."""

    retry_base_delay_s: float
    """Retry n of an event invocation comes n x this after failure n (LocalStack's LAMBDA_RETRY_BASE_DELAY)."""
    source: str
    """Where the figure came from, for reports."""
    alarm_time_scale: float = 1.0
    """How many times faster than AWS the alarms run: a Period of P seconds is evaluated as P / this
    (the embedded LocalStack: the same compression as the retries; an attached one: 1, real time)."""
    virtual_clock: bool = False
    """Whether each stack's alarms run on a clock of its own that the harness moves over idle time
    (`harness.localstack.clock`): then a 1-day period costs no waiting once the stack is idle, and
    deadlines are on that clock while max_wait_seconds bounds the wall time."""

    def retry_delay(self, attempt: int) -> float:
        """The delay before the retry that follows failed attempt `attempt` (1 -> 1x, 2 -> 2x)."""
        return attempt * self.retry_base_delay_s

    def alarm_seconds(self, aws_seconds: float) -> float:
        """Wall seconds that an alarm duration stated in AWS's seconds (a Period) takes here."""
        return compress(aws_seconds, self.alarm_time_scale)

    def alarm_period_problem(self, aws_seconds: int) -> str | None:
        """Why an alarm Period cannot run at this time scale, or None: CloudWatch's metrics keep whole
        seconds, so a compressed Period must be a whole number of seconds, at least 1."""
        compressed = self.alarm_seconds(aws_seconds)
        if compressed >= 1 and abs(compressed - round(compressed)) < 1e-9:
            return None
        factor = self.alarm_time_scale
        return (f"a period of {aws_seconds} s runs here as {compressed:g} s ({self.scale_text()}), but "
                f"CloudWatch's metrics keep whole seconds: use a multiple of {factor:g} s, such as 60")

    @property
    def compressed(self) -> bool:
        return self.retry_base_delay_s < AWS_RETRY_BASE_DELAY_S

    def scale_text(self) -> str:
        """The time scale in words, "1 min = 1 s" or "alarms in real time"."""
        if self.alarm_time_scale == 1.0:
            return "alarms in real time"
        return f"1 min = {60 / self.alarm_time_scale:g} s, 1 day = {86400 / self.alarm_time_scale:g} s"

    def clock_text(self) -> str:
        """How idle time passes, in words ("" when it passes on the wall clock)."""
        return "idle time is skipped: the clock of an idle stack moves on to its next alarm evaluations" \
            if self.virtual_clock else ""

    def describe(self) -> str:
        base = self.retry_base_delay_s
        words = "time is compressed" if self.compressed else "time is real"
        alarms = ("alarm periods are real" if self.alarm_time_scale == 1.0 else
                  f"alarm periods run {self.alarm_time_scale:g}x faster ({self.scale_text()})")
        clock = f"; {self.clock_text()}" if self.virtual_clock else ""
        return (f"{words}: Lambda async retries wait {base:g} s, then {2 * base:g} s "
                f"(AWS: {AWS_RETRY_BASE_DELAY_S:g} s, then {2 * AWS_RETRY_BASE_DELAY_S:g} s); {alarms}{clock}; "
                f"{self.source}")


def env_retry_base_delay() -> float | None:
    """`HARNESS_RETRY_BASE_DELAY` as seconds, or None when unset; a bad value is an error naming it."""
    raw = os.environ.get(ENV_RETRY_BASE_DELAY)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{ENV_RETRY_BASE_DELAY}={raw!r} is not a number of seconds") from None
    if not 0 <= value <= 300:
        raise ValueError(f"{ENV_RETRY_BASE_DELAY}={raw!r}: LocalStack takes 0 to 300 s (SQS's largest delay)")
    return value


def embedded(retry_base_delay_s: float) -> Platform:
    """The embedded LocalStack, which the harness starts with this retry base delay, and whose alarms it
    runs at the same compression (`harness.localstack.retries`): one time scale."""
    return Platform(float(retry_base_delay_s), f"embedded LocalStack, {ENV_RETRY_BASE_DELAY} sets it",
                    alarm_time_scale=time_scale(retry_base_delay_s), virtual_clock=True)


def compress(aws_seconds: float, scale: float) -> float:
    """`aws_seconds` at a time scale `scale` times faster than AWS: here and in the LocalStack process
    (`harness.localstack.retries`), one computation."""
    return aws_seconds / scale


def time_scale(retry_base_delay_s: float) -> float:
    """The embedded LocalStack's time scale: AWS's 60 s retry delay runs as `retry_base_delay_s`."""
    return AWS_RETRY_BASE_DELAY_S / float(retry_base_delay_s) if retry_base_delay_s > 0 else 1.0


ENV_ALARM_TIME_SCALE = "HARNESS_ALARM_TIME_SCALE"
"""How much faster than AWS an attached LocalStack runs alarms: what `harness up` prints for its own; unset,
1 (a LocalStack of its own, as docker-compose.yml starts, evaluates alarms in real time)."""


def env_alarm_time_scale() -> float:
    raw = os.environ.get(ENV_ALARM_TIME_SCALE, "").strip()
    if not raw:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{ENV_ALARM_TIME_SCALE}={raw!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"{ENV_ALARM_TIME_SCALE}={raw!r}: give how many times faster than AWS, above 0")
    return value


def attached(endpoint_url: str, timeout_s: float = 2.0) -> Platform:
    """An attached LocalStack: its configuration when it shows it, else the environment, else the default;
    its alarms at `HARNESS_ALARM_TIME_SCALE` (`harness up` prints it), else in real time."""
    return replace(_attached_retries(endpoint_url, timeout_s), alarm_time_scale=env_alarm_time_scale(),
                   virtual_clock=_has_stack_clocks(endpoint_url, timeout_s))


def _has_stack_clocks(endpoint_url: str, timeout_s: float) -> bool:
    """Whether the LocalStack runs the harness's launcher, whose stacks' alarms have clocks the harness can
    move over idle time (`harness up` starts one; a plain LocalStack has no such route)."""
    from harness.localstack.clock import ROUTE

    try:
        with urllib.request.urlopen(f"{endpoint_url.rstrip('/')}{ROUTE}/-", timeout=timeout_s) as response:  # noqa: S310
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False


def _attached_retries(endpoint_url: str, timeout_s: float) -> Platform:
    try:
        request = urllib.request.Request(endpoint_url.rstrip("/") + "/_localstack/config")
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 (loopback, checked)
            config = json.loads(response.read() or b"{}")
        value = config.get("LAMBDA_RETRY_BASE_DELAY_SECONDS")
        if isinstance(value, int | float):
            return Platform(float(value), f"read from {endpoint_url}/_localstack/config")
    except (OSError, ValueError, AttributeError):
        pass  # the config endpoint is off unless that LocalStack sets ENABLE_CONFIG_UPDATES=1
    from_env = env_retry_base_delay()
    if from_env is not None:
        return Platform(from_env, f"attached LocalStack, taken from {ENV_RETRY_BASE_DELAY} (set it as that "
                                  "LocalStack's LAMBDA_RETRY_BASE_DELAY)")
    return Platform(AWS_RETRY_BASE_DELAY_S, "attached LocalStack, assumed at LocalStack's default; set "
                                            f"{ENV_RETRY_BASE_DELAY} to its LAMBDA_RETRY_BASE_DELAY")
