"""The names a scenario may use: the seed pipeline's functions, topics, alarms and fault kinds, and what its
messages say.

These mirror what `harness.stack` deploys from `lambdas/`. They are `Literal` types so that a typo is
rejected before anything is deployed and so that the JSON Schema offers them to an editor's completion.
The subjects and fields of the pipeline's messages are read from the pipeline's own
`pipeline_common.messages`, which its functions build their messages with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, get_args

from harness import paths

FunctionName = Literal["orchestrator", "worker", "error_handler"]
TopicName = Literal["notifications", "dlq", "alarms", "error_handler_dlq"]
AlarmName = Literal["job_not_run", "job_failed"]
AlarmState = Literal["OK", "ALARM", "INSUFFICIENT_DATA"]
ErrorAction = Literal["report", "raise"]
TreatMissingData = Literal["breaching", "notBreaching", "missing", "ignore"]
# Why an alarm entered a state: its metric's datapoints, or the absence of any (TreatMissingData).
AlarmCause = Literal["datapoints", "missing_data"]
# Functions whose failed asynchronous events are dead-lettered, and the topic that receives them.
DeadLetteredFunction = Literal["worker", "error_handler"]
DEAD_LETTER_TOPICS: dict[str, str] = {"worker": "dlq", "error_handler": "error_handler_dlq"}

FUNCTIONS: tuple[str, ...] = get_args(FunctionName)
TOPICS: tuple[str, ...] = get_args(TopicName)
ALARMS: tuple[AlarmName, ...] = get_args(AlarmName)

# AWS allows MaximumRetryAttempts 0..2 for asynchronous invocation, so an event gets at most 3 attempts.
MAX_RETRY_ATTEMPTS_LIMIT = 2
ATTEMPTS_LIMIT = 1 + MAX_RETRY_ATTEMPTS_LIMIT

# Only these functions talk to PostgreSQL (worker: loads rows; error_handler: records decisions and
# quarantines), so a wrong table or field name can only break them.
DATABASE_FUNCTIONS: frozenset[str] = frozenset({"worker", "error_handler"})

# The function whose failures are dead-lettered to the `dlq` topic and re-sharded by the error handler.
DEAD_LETTERED_FUNCTION: DeadLetteredFunction = "worker"

# Lambda's largest invocation payload: 6 MB synchronous (RequestResponse), 1 MB asynchronous (Event; AWS
# raised it from 256 KB). The pinned LocalStack queues an asynchronous event base64-encoded in one SQS
# message of at most 1 MiB (with a small envelope), so less gets through there: about 765 KiB.
SYNC_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024
ASYNC_PAYLOAD_LIMIT_BYTES = (1024 * 1024 - 4096) * 3 // 4

# The orchestrator invokes one worker per shard (asynchronously, INVOKE_CONCURRENCY=8 threads) before its
# timeout. An upper bound on how many invokes it makes per second, so that only a job that surely cannot
# be sharded in time is refused: boto3 against a do-nothing local server makes about 500-600 a second on
# a 2-core machine; LocalStack, which also starts the workers meanwhile, is slower.
ORCHESTRATOR_MAX_INVOKES_PER_SECOND = 1000

# How many runs of one job a scenario may ask for (job.runs).
RUNS_LIMIT = 10

# How many nights a soak may run (`harness soak`): a year. Each night that runs is a run of the job on the one
# stack, so a fault's `runs` may name run numbers up to this (a scenario refuses any beyond its job.runs).
NIGHTS_LIMIT = 366

# No expectation waits longer than this unless the scenario raises `max_wait_seconds`: a derived deadline
# can be huge (a 1-day alarm period), and a wrong expectation must fail, not hang.
DEFAULT_MAX_WAIT_SECONDS = 300.0

# The error handler re-shards only on this error message (AWS's own wording for a Lambda timeout).
TIMEOUT_ERROR_MESSAGE = "Task timed out after"

_messages = paths.pipeline_common("messages")

# Subjects the pipeline publishes to the notifications topic: the worker's and the error handler's.
NOTIFICATION_SUBJECTS: tuple[str, ...] = _messages.SUBJECTS

# The JSON of CloudWatch's notification of an alarm's state change, as AWS documents it (LocalStack writes
# these keys too). Its subject (`ALARM: "<name>" in <region>`) names the deployed alarm, so it is not fixed.
ALARM_NOTIFICATION_FIELDS: tuple[str, ...] = (
    "AlarmName", "AlarmDescription", "AWSAccountId", "AlarmConfigurationUpdatedTimestamp", "NewStateValue",
    "NewStateReason", "StateChangeTime", "Region", "AlarmArn", "OldStateValue", "OKActions", "AlarmActions",
    "InsufficientDataActions", "Trigger",
)

# The body of a Lambda invoke whose function failed (the Python runtime's error object).
LAMBDA_ERROR_FIELDS: tuple[str, ...] = ("errorMessage", "errorType", "requestId", "stackTrace")

# The orchestrator's answer: how it sharded the job, or Lambda's error when it failed.
ORCHESTRATOR_ANSWER_FIELDS: tuple[str, ...] = (*_messages.JOB_SHARDED, *LAMBDA_ERROR_FIELDS)


@dataclass(frozen=True)
class MessageVocabulary:
    """What the messages on one of the seed pipeline's topics say: the subjects published there (empty: not
    fixed, so any) and the top-level fields of their JSON bodies, per subject (`""`: whatever the subject)."""

    subjects: tuple[str, ...]
    fields: Mapping[str, tuple[str, ...]]

    def fields_of(self, subject: str | None = None) -> tuple[str, ...]:
        """The fields of a message with `subject`; of any message if None or not a subject of the topic."""
        if subject is not None and subject in self.fields:
            return self.fields[subject]
        return tuple(dict.fromkeys(name for names in self.fields.values() for name in names))

    def subjects_with(self, field: str) -> list[str]:
        return [subject for subject, names in self.fields.items() if subject and field in names]


# The topics whose messages the pipeline's code (or CloudWatch) writes. The dead-letter topics are left out:
# their bodies are the failed invocations' events, whatever those were.
TOPIC_MESSAGES: dict[str, MessageVocabulary] = {
    "notifications": MessageVocabulary(NOTIFICATION_SUBJECTS, dict(_messages.FIELDS)),
    "alarms": MessageVocabulary((), {"": ALARM_NOTIFICATION_FIELDS}),
}


def is_valid_alarm_period(seconds: int) -> bool:
    """LocalStack's CloudWatch accepts only 10, 30 or a multiple of 60 seconds (as AWS does)."""
    return seconds in (10, 30) or (seconds > 0 and seconds % 60 == 0)
