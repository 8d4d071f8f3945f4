"""Platform timing: what the LocalStack under the scenarios does with time, carried to the expectation engine.

There is no time scale: a scenario and a template state AWS's own numbers, and they mean what they mean on
AWS. Lambda's async retries come 1 and 2 minutes after a failure, as on AWS and in LocalStack by default.

The harness's LocalStack (embedded, or started by `harness up`, also in its Docker image) runs each stack
on a clock of its own that skips ahead whenever none of the stack's code runs (`harness.localstack.clock`):
then the engine moves the clock over idle time and deadlines cost no waiting. Another LocalStack keeps real
time, and the harness says so: a scenario then waits as long as it would on AWS.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.wire import AWS_RETRY_BASE_DELAY_S


@dataclass(frozen=True)
class Platform:
    """How the platform under the scenarios runs time."""

    source: str
    """Which LocalStack, for reports."""
    virtual_clock: bool = True
    """Whether each stack runs on a clock of its own that the harness moves over idle time."""

    def retry_delay(self, attempt: int) -> float:
        """The delay before the retry that follows failed attempt `attempt` (1 -> 1 min, 2 -> 2 min)."""
        return attempt * AWS_RETRY_BASE_DELAY_S

    def describe(self) -> str:
        clock = ("each stack runs on its own clock, which skips ahead whenever none of its code runs: AWS's "
                 "timeouts, retry delays and alarm periods cost no waiting" if self.virtual_clock else
                 "real time: this LocalStack has no stack clock, so retries, timeouts and alarm periods take as "
                 "long as on AWS")
        return f"{clock}; {self.source}"


def embedded() -> Platform:
    """The LocalStack the harness starts itself."""
    return Platform("embedded LocalStack")


MODEL = Platform("the model of the pipeline, which reads no clock")
"""For the walk's readers that need no running LocalStack (the validator, strategies, unit tests)."""


def attached(endpoint_url: str, timeout_s: float = 2.0) -> Platform:
    """A LocalStack the harness attaches to: its stacks have clocks when it runs the harness's launcher."""
    from harness import wire

    try:
        health = wire.call(endpoint_url, wire.HEALTH, timeout=timeout_s)
    except wire.WireError:
        health = None
    if health is None:
        return Platform(f"LocalStack at {endpoint_url}, without the harness's launcher", virtual_clock=False)
    return Platform(f"LocalStack {health.get('localstack')} at {endpoint_url}, started by the harness")
