"""What SQS refuses in a queue's attributes."""

from __future__ import annotations

import json
from typing import Any, Final

from fanout.aws_rules.exceptions import AwsRuleError

DEAD_LETTER_DOC: Final = (
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/"
    "sqs-configure-dead-letter-queue.html"
)


def is_fifo_queue(name_arn_or_url: str) -> bool:
    """A FIFO queue's name, hence its ARN and URL, ends in ``.fifo`` (SQS requires it).

    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/FIFO-queues.html
    """
    return name_arn_or_url.endswith(".fifo")


def check_dead_letter_queue_type(
    *, source_fifo: bool, dead_letter_fifo: bool, redrive_policy: Any, resource: str
) -> None:
    """A FIFO queue's DLQ is a FIFO queue, a standard queue's DLQ a standard queue.

    DEAD_LETTER_DOC: "the queue type must match the source queue type". SQS answers
    ``InvalidParameterValue`` with "Value {...} for parameter RedrivePolicy is invalid.
    Reason: Dead-letter queue must be same type of queue as the source." (quoted in
    awslabs/aws-solutions-constructs#342).
    """
    if source_fifo == dead_letter_fifo:
        return
    policy = redrive_policy if isinstance(redrive_policy, str) else json.dumps(redrive_policy)
    raise AwsRuleError(
        "InvalidParameterValue",
        f"Value {policy} for parameter RedrivePolicy is invalid. Reason: Dead-letter queue"
        " must be same type of queue as the source.",
        resource,
        DEAD_LETTER_DOC,
    )
