"""Expectations with deadlines: did the injected fault's whole chain of effects happen?

`evaluate(scenario, observations)` polls the attempt ledger, the topic taps and the database until every
expectation of the scenario has a verdict, and returns a `Report` (one `Outcome` per expectation, and the
timeline of events). Deadlines come from the scenario's own timeouts, retry delays and alarm periods
(`deadline_seconds`); `floor_seconds` is the time those make unavoidable, the yardstick of the benchmark, and
`job_floor_seconds` its part that is the job's own delays and timeouts (`harness run` starts the longest first).
"""

from .deadlines import deadline_seconds, floor_seconds, job_floor_seconds
from .engine import evaluate, wait_until_settled, while_running
from .report import Outcome, Report

__all__ = [
    "Outcome",
    "Report",
    "deadline_seconds",
    "evaluate",
    "floor_seconds",
    "job_floor_seconds",
    "wait_until_settled",
    "while_running",
]
